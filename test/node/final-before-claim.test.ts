/**
 * A node that joins after a holder's last claim beacon hears its final announcement with no
 * claim to place it by: the final verifier ignores it (not the holder, as far as it knows), and
 * gossip alone would leave the task unjudged for good, so the node might train it again. Checkpoint
 * sync fetches such a final from its announcer's coverage map and the verifier judges it by
 * content, as it does any final learned from a map.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { handleCoverage } from '../../src/node/coverage-protocol.js'
import { createHddmNode, type HddmNode } from '../../src/node/hddm-node.js'
import { RunState } from '../../src/node/run-state.js'
import { createEnsembleRun, trainedExpert } from '../ensemble/fixtures.js'
import { useTrainingBackend } from '../utils/backend.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { captureLog } from '../utils/log-capture.js'
import { waitForWith } from '../utils/wait.js'
import type { FinalVerdict } from '../../src/node/final-verifier.js'
import type { TaskCoverage } from '../../src/network/claim-types.js'

const log = captureLog()
const waitFor = waitForWith({ timeoutMs: 60_000, explain: () => `the node logged:\n${log.tail()}` })

describe('a final heard before its holder\'s claim', () => {
  const dirs: string[] = []
  let announcer: TestNode | undefined
  let late: HddmNode | undefined
  let state: RunState | undefined
  afterAll(async () => {
    state?.stop()
    await late?.stop()
    await announcer?.stop()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  }, 60_000)

  it('is judged by its content, and its task counts as done', { timeout: 180_000 }, async () => {
    await useTrainingBackend()
    announcer = await createTestNode()
    const run = await createEnsembleRun(announcer.storage, 'final-before-claim', { steps: 12 })
    const checkpoint = await announcer.storage.addBytes(await trainedExpert(run, announcer.storage, 'expert-1', 12))
    const announcerId = announcer.swarm.peerId.toString()
    state = new RunState({ runId: run.runId, manifest: run.manifest, self: announcerId, clock: Date.now },
      { gossip: announcer.gossip })
    state.start()
    const announced = state
    // Its map also lists finals nobody announced on gossip: a map can list 64 per task, and a node
    // fetches only the finals it heard of (or a row's best, when it is news).
    const junk = await announcer.storage.addBytes(new TextEncoder().encode('not a checkpoint'))
    const unheard = { peer: announcerId, cid: junk.toString(), step: 12, final: true, heldOutLoss: 0.1, ts: Date.now() }
    const map = (): TaskCoverage[] => announced.coverage().map((row) => row.task === 'router'
      ? { ...row, finals: [unheard] }
      : row)
    await handleCoverage(announcer.swarm.libp2p, (id) => id === run.runId ? map() : undefined)

    // The late node trains nothing: it only listens, judges finals and counts tasks done.
    const dir = await mkdtemp(join(tmpdir(), 'hddm-late-'))
    dirs.push(dir)
    late = createHddmNode({
      dataDir: dir, source: { run: run.runId }, bootstrap: [announcer.addr], listen: ['/ip4/127.0.0.1/tcp/0'],
      scope: 'loopback', heartbeatIntervalMs: 200, checkpointSync: { pollMs: 500 }, logger: log.logger('L')
    })
    await late.start()
    const node = late
    const verdicts: FinalVerdict[] = []
    node.finalVerifier.addEventListener('verdict', (e) => { verdicts.push(e.detail) })
    await waitFor(() => node.peers().run > 0 && announced.peers().length > 0, 'both nodes on the run topic')

    // The holder's claim went out before the late node listened; only its final reaches it.
    const cid = checkpoint.toString()
    await announced.checkpoint({ task: 'expert-1', cid, step: 12, final: true, heldOutLoss: 0.5 })
    await waitFor(() => verdicts.some((v) => v.reason === 'not-holder'), 'the final to be found unplaced')
    expect(node.doneTasks()).toEqual([])

    await waitFor(() => verdicts.some((v) => v.cid === cid && v.reason !== 'not-holder'), 'a verdict by content')
    expect(verdicts.map((v) => [v.cid, v.peer, v.accepted, v.reason])).toEqual([
      [cid, announcerId, false, 'not-holder'],
      [cid, announcerId, true, undefined]
    ])
    expect(node.doneTasks()).toEqual(['expert-1'])
    expect(log.tail(5000)).not.toContain('refused a checkpoint')
  })
})
