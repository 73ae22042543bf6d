/**
 * Attack 1 of docs/SECURITY.md: a peer with a valid identity announces, correctly signed, a
 * final checkpoint for every task (pointing at junk, and at a real checkpoint with the wrong
 * step), plus a non-final one far past the budget. Before the fix this stopped every honest
 * contributor; now nothing is done until a final verifies, and the run finishes on honest work.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { createHddmNode, type HddmNode } from '../../src/node/hddm-node.js'
import { RunState } from '../../src/node/run-state.js'
import { createWorkerTaskTrainer } from '../../src/node/worker-trainer.js'
import { budgetOf } from '../../src/protocol/run-manifest.js'
import { captureLog } from '../utils/log-capture.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { waitForWith } from '../utils/wait.js'
import { FAST_LOOP, tinyRun } from '../node/fixtures.js'
import type { FinalVerdict } from '../../src/node/final-verifier.js'

const log = captureLog()

/** Each wait says, when it times out, what the node was doing. */
const waitFor = waitForWith({ timeoutMs: 240_000, explain: () => `the node logged:\n${log.tail()}` })

describe('a peer that announces fake finals', () => {
  const dirs: string[] = []
  let honest: HddmNode | undefined
  let attacker: TestNode | undefined
  afterAll(async () => {
    await honest?.stop()
    await attacker?.stop()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  }, 60_000)

  it('stops nobody: finals count only once verified, and the run ends on honest checkpoints',
    { timeout: 300_000 }, async () => {
    const manifest = await tinyRun({ name: 'fake-finals', steps: 40, checkpointEvery: 10, leaseMs: 20_000 })
    const dir = await mkdtemp(join(tmpdir(), 'hddm-honest-'))
    dirs.push(dir)
    honest = createHddmNode({
      dataDir: dir, source: { manifest },
      listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback',
      trainer: createWorkerTaskTrainer({ backend: 'auto' }), loop: FAST_LOOP, logger: log.logger('H')
    })
    const verdicts: FinalVerdict[] = []
    await honest.start()
    honest.finalVerifier.addEventListener('verdict', (e) => { verdicts.push(e.detail) })
    const node = honest

    // The attacker joins the run topic and signs its announcements with its own valid key.
    attacker = await createTestNode()
    await attacker.swarm.libp2p.dial(multiaddr(node.multiaddrs()[0]))
    const state = new RunState(
      { runId: node.runId, manifest: node.manifest, self: attacker.swarm.peerId.toString(), clock: Date.now },
      { gossip: attacker.gossip }
    )
    state.start()
    await waitFor(() => node.peers().run > 0 && state.peers().length > 0, 'the attacker to join the run topic', 30_000)
    await waitFor(() => node.coverage().some((r) => r.holders.length > 0), 'the honest node to claim a task', 60_000)
    const junk = (await attacker.storage.addBytes(new TextEncoder().encode('not a checkpoint'))).toString()
    const far = (await attacker.storage.addBytes(new TextEncoder().encode('not one either'))).toString()
    for (const task of manifest.tasks) {
      const steps = budgetOf(manifest, task).steps
      await state.checkpoint({ task: task.id, cid: junk, step: steps, final: true, heldOutLoss: 0 })
      await state.checkpoint({ task: task.id, cid: far, step: 1_000_000, final: false, heldOutLoss: 0 })
    }
    const attackerId = attacker.swarm.peerId.toString()
    const judged = (): number => verdicts.filter((v) => v.peer === attackerId).length
    await waitFor(() => judged() >= manifest.tasks.length, 'a verdict on each fake final', 60_000)
    // Not one task counts as done on the attacker's word.
    expect(verdicts.filter((v) => v.accepted && v.peer !== node.peerId)).toEqual([])
    expect(new Set(verdicts.filter((v) => !v.accepted).map((v) => v.reason))).toEqual(new Set(['not-holder']))

    // The honest node keeps training (it is the only contributor) and finishes every task,
    // resuming none of them from the attacker's step 1 000 000.
    const allDone = (): boolean => node.doneTasks().length === manifest.tasks.length
    await waitFor(allDone, 'every task to be done on honest checkpoints')
    for (const task of manifest.tasks) {
      const row = node.coverage().find((r) => r.task === task.id)!
      expect(row.finals?.some((f) => f.peer === node.peerId && f.step === budgetOf(manifest, task).steps)).toBe(true)
    }
    state.stop()
  })
})
