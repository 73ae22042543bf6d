/**
 * Announcements heard before the claim that places them. A node that joins after a holder's last
 * claim beacon, or hears a claim late, gets a checkpoint announcement whose announcer did not
 * hold the task as far as it knows. That answer is provisional: neither the final verifier nor
 * lease evidence may drop the announcement for good on it.
 * - A final: gossip alone would leave it unjudged for good, so the node might train its task
 *   again. Checkpoint sync fetches it from its announcer's coverage map, and the verifier judges
 *   it by content, as it does any final learned from a map.
 * - Lease evidence: the announcement is kept and placed again once the claim arrives.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { handleCoverage } from '../../src/node/coverage-protocol.js'
import { createHddmNode, type HddmNode } from '../../src/node/hddm-node.js'
import { RunState } from '../../src/node/run-state.js'
import { createEnsembleRun, trainedExpert, type EnsembleRun } from '../ensemble/fixtures.js'
import { useTrainingBackend } from '../utils/backend.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { captureLog } from '../utils/log-capture.js'
import { waitForWith } from '../utils/wait.js'
import type { FinalVerdict } from '../../src/node/final-verifier.js'
import type { EvidenceVerdict } from '../../src/node/lease-evidence.js'
import type { TaskCoverage } from '../../src/network/claim-types.js'

const log = captureLog()
const waitFor = waitForWith({ timeoutMs: 60_000, explain: () => `the node logged:\n${log.tail()}` })

describe('announcements heard before their holder\'s claim', () => {
  const dirs: string[] = []
  let announcer: TestNode
  let announced: RunState
  let run: EnsembleRun
  let late: HddmNode
  /** How far the announcer's clock is set back (its claims can then predate its checkpoints). */
  let setBack = 0
  const verdicts: FinalVerdict[] = []
  const evidence: EvidenceVerdict[] = []

  beforeAll(async () => {
    await useTrainingBackend()
    announcer = await createTestNode()
    // 40 steps: enough for the DDPM expert's evidence at step 32 to pass the run's loss bound.
    run = await createEnsembleRun(announcer.storage, 'before-claim', { steps: 40 })
    const announcerId = announcer.swarm.peerId.toString()
    const clock = (): number => Date.now() - setBack
    announced = new RunState({ runId: run.runId, manifest: run.manifest, self: announcerId, clock },
      { gossip: announcer.gossip })
    announced.start()
    // Its map also lists finals nobody announced on gossip: a map can list 64 per task, and a node
    // fetches only the finals it heard of (or a row's best, when it is news).
    const junk = await announcer.storage.addBytes(new TextEncoder().encode('not a checkpoint'))
    const unheard = { peer: announcerId, cid: junk.toString(), step: 40, final: true, heldOutLoss: 0.1, ts: Date.now() }
    const map = (): TaskCoverage[] => announced.coverage().map((row) => row.task === 'router'
      ? { ...row, finals: [unheard] }
      : row)
    await handleCoverage(announcer.swarm.libp2p, (id) => id === run.runId ? map() : undefined)

    // The late node trains nothing: it only listens, checks evidence, judges finals, counts tasks done.
    const dir = await mkdtemp(join(tmpdir(), 'hddm-late-'))
    dirs.push(dir)
    late = createHddmNode({
      dataDir: dir, source: { run: run.runId }, bootstrap: [announcer.addr], listen: ['/ip4/127.0.0.1/tcp/0'],
      scope: 'loopback', heartbeatIntervalMs: 200, checkpointSync: { pollMs: 500 }, logger: log.logger('L')
    })
    await late.start()
    late.finalVerifier.addEventListener('verdict', (e) => { verdicts.push(e.detail) })
    late.leaseEvidence.addEventListener('verdict', (e) => { evidence.push(e.detail) })
    await waitFor(() => late.peers().run > 0 && announced.peers().length > 0, 'both nodes on the run topic')
  }, 120_000)

  afterAll(async () => {
    announced?.stop()
    await late?.stop()
    await announcer?.stop()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  }, 60_000)

  it('a final is judged by its content, and its task counts as done', { timeout: 120_000 }, async () => {
    const checkpoint = await announcer.storage.addBytes(await trainedExpert(run, announcer.storage, 'expert-1', 40))
    const announcerId = announcer.swarm.peerId.toString()
    // The holder's claim went out before the late node listened; only its final reaches it.
    const cid = checkpoint.toString()
    await announced.checkpoint({ task: 'expert-1', cid, step: 40, final: true, heldOutLoss: 0.5 })
    await waitFor(() => verdicts.some((v) => v.reason === 'not-holder'), 'the final to be found unplaced')
    expect(late.doneTasks()).toEqual([])

    await waitFor(() => verdicts.some((v) => v.cid === cid && v.reason !== 'not-holder'), 'a verdict by content')
    expect(verdicts.map((v) => [v.cid, v.peer, v.accepted, v.reason])).toEqual([
      [cid, announcerId, false, 'not-holder'],
      [cid, announcerId, true, undefined]
    ])
    expect(late.doneTasks()).toEqual(['expert-1'])
    expect(log.tail(5000)).not.toContain('refused a checkpoint')
  })

  it('a checkpoint is checked as lease evidence once its claim arrives', { timeout: 120_000 }, async () => {
    const checkpoint = await announcer.storage.addBytes(await trainedExpert(run, announcer.storage, 'expert-0', 32))
    const cid = checkpoint.toString()
    // The checkpoint first, then the claim that places it, stamped 2 s before it.
    await announced.checkpoint({ task: 'expert-0', cid, step: 32, final: false, heldOutLoss: 0.5 })
    await waitFor(() => late.coverage().find((r) => r.task === 'expert-0')?.checkpoint?.cid === cid,
      'the checkpoint to reach the late node')
    setBack = 2_000
    await announced.claim('expert-0')
    setBack = 0
    await waitFor(() => evidence.some((v) => v.cid === cid), 'a verdict on the checkpoint as lease evidence')
    expect(evidence.map((v) => [v.task, v.cid, v.step, v.accepted, v.reason])).toEqual([
      ['expert-0', cid, 32, true, undefined]
    ])
  })
})
