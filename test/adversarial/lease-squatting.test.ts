/**
 * Attack 4 of docs/SECURITY.md, "Lease squatting and Sybil identities", on real libp2p nodes
 * over TCP on 127.0.0.1. A squatter signs its own claims and renewals with a valid key and holds
 * every task; before lease evidence it held them forever and an honest contributor never trained
 * anything. Now a holder must show, within the manifest's evidenceMs, a checkpoint that this node
 * fetched and checked; the squatter loses every task and its claims are ignored for the penalty,
 * while an honest holder that trains keeps its task. The per-address-range cap keeps a second
 * identity of an over-full range from getting a task at all.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createHddmNode, type HddmNode } from '../../src/node/hddm-node.js'
import { createRun } from '../../src/node/run-creation.js'
import { RunState } from '../../src/node/run-state.js'
import { createWorkerTaskTrainer } from '../../src/node/worker-trainer.js'
import { parseRunManifest, type RunManifest } from '../../src/protocol/run-manifest.js'
import { useTrainingBackend } from '../utils/backend.js'
import { captureLog } from '../utils/log-capture.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { waitForWith } from '../utils/wait.js'
import { trainedExpert } from '../ensemble/fixtures.js'
import { FAST_LOOP, tinyRun } from '../node/fixtures.js'
import type { EvidenceVerdict } from '../../src/node/lease-evidence.js'
import type { LeasePenalty } from '../../src/network/claim-types.js'

const log = captureLog()
const NET = { listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback' as const, heartbeatIntervalMs: 200 }

/** Each wait says, when it times out, what the nodes were doing. */
const waitFor = waitForWith({ timeoutMs: 120_000, explain: () => `the nodes logged:\n${log.tail()}` })

async function manifestWith (name: string, fields: Record<string, unknown>,
  run: Parameters<typeof tinyRun>[0] = {}): Promise<RunManifest> {
  return parseRunManifest({ ...await tinyRun({ name, ...run }), ...fields })
}

/** A peer that signs what it sends with its own key: a RunState on a bare swarm node. */
async function peerOf (node: TestNode, runId: string, manifest: HddmNode['manifest']): Promise<RunState> {
  const self = node.swarm.peerId.toString()
  const state = new RunState({ runId, manifest, self, clock: Date.now }, { gossip: node.gossip })
  state.start()
  return state
}

const stoppers: Array<() => Promise<void>> = []
const dirs: string[] = []
afterEach(async () => {
  for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => {})
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
}, 60_000)

// The squatter's untrained checkpoints are made in this process, and the nodes score evidence here.
beforeAll(async () => { await useTrainingBackend() })

describe('lease squatting', () => {
  it('a squatter that renews without evidence loses every task after evidenceMs, and its claims are ignored ' +
    'while an honest node trains one', { timeout: 240_000 }, async () => {
    // One identity may hold all five tasks: the squatter needs no Sybils to stop the run.
    const lease = { maxTasksPerPeer: 5, evidenceMs: 8000, evidencePenaltyMs: 300_000 }
    const manifest = await manifestWith('squat', lease, { steps: 8, checkpointEvery: 4 })
    const squatter = await createTestNode()
    stoppers.push(squatter.stop)
    const created = await createRun(manifest, squatter.storage)
    const runId = created.runId.toString()
    const run = { runId, manifest: created.manifest }
    const state = await peerOf(squatter, runId, created.manifest)
    stoppers.push(async () => { state.stop() })
    const tasks = created.manifest.tasks.map((t) => t.id)
    // What the squatter announces instead of training: nothing (expert-0, router), junk (expert-1), an
    // untrained expert at its own step (expert-2), an untrained expert under a step it does not hold (expert-3).
    const add = async (bytes: Uint8Array): Promise<string> => (await squatter.storage.addBytes(bytes)).toString()
    const junk = await add(new TextEncoder().encode('not a checkpoint'))
    const untrained2 = await add(await trainedExpert(run, squatter.storage, 'expert-2', 1))
    const untrained3 = await add(await trainedExpert(run, squatter.storage, 'expert-3', 1))
    for (const task of tasks) await state.claim(task)
    const beacon = setInterval(() => {
      for (const task of tasks) {
        Promise.all([state.progress({ task, step: 4, loss: 0.1 }), state.claim(task)]).catch(() => {})
      }
    }, 1000)
    stoppers.push(async () => { clearInterval(beacon) })

    const dir = await mkdtemp(join(tmpdir(), 'hddm-honest-'))
    dirs.push(dir)
    const honest = createHddmNode({
      ...NET,
      dataDir: dir,
      bootstrap: [squatter.addr],
      source: { run: runId },
      tasks: 1,
      trainer: createWorkerTaskTrainer({ backend: 'auto' }),
      // It listens for a few of the squatter's beacons before it claims: a node that joins late
      // knows holders only from their re-claims (docs/PROTOCOL.md section 10).
      loop: { ...FAST_LOOP, syncMs: 3000 },
      leaseEvidence: { sweepMs: 200 },
      logger: log.logger('H')
    })
    stoppers.push(async () => { await honest.stop() })
    await honest.start()
    const verdicts: EvidenceVerdict[] = []
    const revoked: LeasePenalty[] = []
    honest.leaseEvidence.addEventListener('verdict', (e) => { verdicts.push(e.detail) })
    honest.leaseEvidence.addEventListener('revoked', (e) => { revoked.push(e.detail) })
    const phases: Array<{ task: string, phase: string, at: number }> = []
    honest.addEventListener('task', (e) => { phases.push({ ...e.detail, at: Date.now() }) })
    const squatterId = squatter.swarm.peerId.toString()
    const heldBySquatter = (): string[] => {
      return honest.coverage().filter((r) => r.holders.some((h) => h.peer === squatterId)).map((r) => r.task)
    }

    await waitFor(() => heldBySquatter().length === tasks.length, 'the squatter to hold every task', 30_000)
    await state.checkpoint({ task: 'expert-1', cid: junk, step: 4, final: false, heldOutLoss: 0.01 })
    await state.checkpoint({ task: 'expert-2', cid: untrained2, step: 1, final: false, heldOutLoss: 0.01 })
    await state.checkpoint({ task: 'expert-3', cid: untrained3, step: 4, final: false, heldOutLoss: 0.01 })
    // Meanwhile the honest node has nothing to train: every task is held.
    expect(phases).toEqual([])

    const lost = (): number => revoked.filter((p) => p.peer === squatterId).length
    await waitFor(() => lost() === tasks.length, 'the squatter to lose every task for want of evidence', 60_000)
    const revokedAt = Date.now()
    const reasons = Object.fromEntries(verdicts.filter((v) => v.peer === squatterId).map((v) => [v.task, v.reason]))
    expect(reasons).toEqual({ 'expert-1': 'wrong-content', 'expert-2': 'above-bound', 'expert-3': 'wrong-content' })
    expect(verdicts.some((v) => v.accepted)).toBe(false)

    // The honest node claims a freed task and trains it to a verified end, while the squatter
    // keeps claiming every task: during the penalty none of its claims counts.
    await waitFor(() => phases.some((p) => p.phase === 'done'), 'the honest node to train a freed task', 120_000)
    const trained = phases.find((p) => p.phase === 'training')!
    expect(trained.at).toBeGreaterThanOrEqual(revokedAt - 1000)
    expect(honest.doneTasks()).toEqual([trained.task])
    expect(heldBySquatter()).toEqual([])
    expect(honest.coverage().filter((r) => r.task !== trained.task).every((r) => r.free)).toBe(true)
  })

  it('an honest holder whose checkpoints check out keeps its lease through two evidence windows',
    { timeout: 240_000 }, async () => {
      const evidenceMs = 20_000
      // The observer watches for two windows and a bit, whatever the machine's speed: the budget is
      // far more than that on any machine, and a checkpoint comes every 25 steps (about 5 s on
      // the shared 2-core machine under other tests' load, the slowest seen). The router is
      // short, so the trainer takes an expert first (most steps left). The first evidence's
      // bound is the final's, loosened for a few dozen steps of a tiny expert as tinyRun
      // loosens the others.
      const base = await tinyRun({ name: 'honest-evidence', steps: 20_000, checkpointEvery: 25 })
      const manifest = parseRunManifest({
        ...base,
        evidenceMs,
        evidencePenaltyMs: 300_000,
        training: { router: { ...base.training.router, steps: 8 }, expert: { ...base.training.expert, emaDecay: 0.9 } },
        eval: { ...base.eval, heldOutLossMax: { ddpm: 2, fm: 3 } }
      })
      const dirO = await mkdtemp(join(tmpdir(), 'hddm-observer-'))
      const dirH = await mkdtemp(join(tmpdir(), 'hddm-holder-'))
      dirs.push(dirO, dirH)
      const observer = createHddmNode({
        ...NET, dataDir: dirO, source: { manifest }, leaseEvidence: { sweepMs: 200 }, logger: log.logger('O')
      })
      stoppers.push(async () => { await observer.stop() })
      await observer.start()
      const verdicts: EvidenceVerdict[] = []
      const revoked: LeasePenalty[] = []
      observer.leaseEvidence.addEventListener('verdict', (e) => { verdicts.push(e.detail) })
      observer.leaseEvidence.addEventListener('revoked', (e) => { revoked.push(e.detail) })
      const holder = createHddmNode({
        ...NET,
        dataDir: dirH,
        bootstrap: [observer.multiaddrs()[0]],
        source: { run: observer.runId },
        tasks: 1,
        trainer: createWorkerTaskTrainer({ backend: 'auto' }),
        loop: FAST_LOOP,
        logger: log.logger('H')
      })
      stoppers.push(async () => { await holder.stop() })
      let claimed: { task: string, at: number } | undefined
      const phases: string[] = []
      holder.addEventListener('task', (e) => {
        if (e.detail.phase === 'claiming') claimed = { task: e.detail.task, at: Date.now() }
        phases.push(e.detail.phase)
      })
      await holder.start()
      const holderId = holder.peerId

      // Sample the observer's view from the claim on: the holder never stops holding its task.
      await waitFor(() => claimed !== undefined, 'the holder to claim a task', 60_000)
      const { task, at } = claimed!
      await waitFor(() => observer.coverage().find((r) => r.task === task)!.holders.some((h) => h.peer === holderId),
        'the observer to see the claim', 10_000)
      const lapses: number[] = []
      while (Date.now() - at < 2 * evidenceMs + 5000) {
        const row = observer.coverage().find((r) => r.task === task)!
        if (!row.holders.some((h) => h.peer === holderId)) lapses.push(Date.now() - at)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      // Still training: it neither lost its claim nor its lease, nor ran out of steps.
      expect(phases).toEqual(['claiming', 'fetching', 'training'])
      expect(task.startsWith('expert-')).toBe(true)
      expect(lapses).toEqual([])
      expect(revoked).toEqual([])
      // Held past two windows from its claim, which only evidence allows.
      const counted = verdicts.filter((v) => v.peer === holderId && v.task === task && v.outcome === 'counted')
      expect(counted.length).toBeGreaterThanOrEqual(2)
      expect(verdicts.filter((v) => !v.accepted)).toEqual([])
    })
})

describe('per-address-range cap', () => {
  let observer: HddmNode
  let peers: TestNode[] = []
  let dir: string

  beforeAll(async () => {
    const manifest = await manifestWith('range-cap', { maxTasksPerAddressRange: 1 }, { leaseMs: 5000 })
    dir = await mkdtemp(join(tmpdir(), 'hddm-observer-'))
    observer = createHddmNode({ ...NET, dataDir: dir, source: { manifest }, logger: log.logger('O') })
    await observer.start()
    peers = [await createTestNode(), await createTestNode()]
    for (const p of peers) await p.swarm.libp2p.dial(multiaddr(observer.multiaddrs()[0]))
  }, 60_000)
  afterAll(async () => {
    for (const p of peers) await p.stop()
    await observer.stop()
    await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  }, 60_000)

  it('with the cap at 1, a second identity of the same /24 gets no free task until the first lets go',
    { timeout: 60_000 }, async () => {
    const [a, b] = await Promise.all(peers.map(async (p) => await peerOf(p, observer.runId, observer.manifest)))
    stoppers.push(async () => { a.stop(); b.stop() })
    await waitFor(() => observer.peers().run >= 2, 'both peers to join the run topic', 30_000)
    const [idA, idB] = peers.map((p) => p.swarm.peerId.toString())
    const holderOf = (task: string): string | undefined => {
      return observer.coverage().find((r) => r.task === task)!.holders[0]?.peer
    }
    await a.claim('expert-1')
    await waitFor(() => holderOf('expert-1') === idA, 'the first identity to hold expert-1')
    await b.claim('expert-2')
    // Both are on 127.0.0.1: the range holds one task already, so b's claim does not count here.
    const refusal = (l: string): boolean => {
      return l.includes('claim does not count here') && l.includes('range-full') && l.includes(idB)
    }
    await waitFor(() => log.tail(5000).split('\n').some(refusal), 'the refusal to be logged', 10_000)
    expect(holderOf('expert-2')).toBeUndefined()
    expect(observer.coverage().find((r) => r.task === 'expert-2')!.free).toBe(true)
    // The first identity lets go: the range has room, and b's live claim counts.
    await a.release('expert-1')
    await waitFor(() => holderOf('expert-2') === idB, 'the second identity to hold expert-2 once there is room', 10_000)
  })
})
