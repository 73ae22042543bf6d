/**
 * The contributor's task loop alone (src/node/task-loop.ts): one node's loop over its run state,
 * storage and worker-thread trainer, with a second peer on 127.0.0.1 that watches its gossip and
 * claims against it. Tiny experts on real MNIST shards, a few steps each.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRunShards } from '../../src/ensemble/run-shards.js'
import { checkAnnouncedCheckpoint } from '../../src/node/announced-checkpoint.js'
import { FinalVerifier } from '../../src/node/final-verifier.js'
import { RunState } from '../../src/node/run-state.js'
import { TaskLoop, type TaskLoopEvents, type TaskLoopInit } from '../../src/node/task-loop.js'
import { createWorkerTaskTrainer, type WorkerTaskTrainer } from '../../src/node/worker-trainer.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { captureLog } from '../utils/log-capture.js'
import { waitForWith } from '../utils/wait.js'
import { createEnsembleRun, type EnsembleRun } from '../ensemble/fixtures.js'
import { type TaskCoverage } from '../../src/network/claim-types.js'

const log = captureLog('debug')
/** Each wait says, when it times out, what the loop logged. */
const waitFor = waitForWith({ timeoutMs: 60_000, explain: () => `the nodes logged:\n${log.tail(60)}` })

/**
 * Fast protocol timings; the lease is long, so that only the test takes a task away. The settle
 * window stays the default 2 s: a peer's competing claim must arrive within it on a loaded machine.
 */
const TIMINGS: Omit<TaskLoopInit, 'runDir'> = { settleMs: 2000, beaconMs: 300, syncMs: 300 }

type Phase = TaskLoopEvents['task']['detail']
type Announced = TaskLoopEvents['checkpoint']['detail']

let node: TestNode
let peer: TestNode
let trainer: WorkerTaskTrainer
/** Experts of 8 steps (a checkpoint at 4) and a 4-step router: a task ends in seconds. */
let short: EnsembleRun
/** Experts of 5000 steps: a task is still training whenever the test acts on it. */
let long: EnsembleRun
const cleanups: Array<() => Promise<void>> = []

beforeAll(async () => {
  node = await createTestNode()
  peer = await createTestNode({ bootstrap: [node.addr] })
  trainer = createWorkerTaskTrainer({ backend: 'auto', logger: log.logger('trainer') })
  const lease = { routerSteps: 4, leaseMs: 60_000 }
  short = await createEnsembleRun(node.storage, 'task-loop-short', { steps: 8, checkpointEvery: 4, ...lease })
  long = await createEnsembleRun(node.storage, 'task-loop-long', { steps: 5000, checkpointEvery: 1000, ...lease })
}, 120_000)

// Each test's loop stops with it: a loop left running would hold a task under this node's peer id
// and make the next test's claims lose (one task per peer).
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
}, 60_000)

afterAll(async () => {
  await trainer?.stop()
  await peer?.stop()
  await node?.stop()
}, 60_000)

/**
 * The loop under test on `node`, and a peer's view of the same run on `peer` (its clock set back
 * by `peerLagMs`, so that a claim it makes sorts before the loop's), both joined and meshed.
 */
async function setUp (run: EnsembleRun, init: Partial<TaskLoopInit> = {}, peerLagMs = 0): Promise<{
  loop: TaskLoop, state: RunState, finals: FinalVerifier, other: RunState, phases: Phase[], announced: Announced[]
}> {
  const self = node.swarm.peerId.toString()
  const { runId, manifest } = run
  const state = new RunState({ runId, manifest, self, clock: Date.now }, { gossip: node.gossip })
  const clock = (): number => Date.now() - peerLagMs
  const other = new RunState({ runId, manifest, self: peer.swarm.peerId.toString(), clock }, { gossip: peer.gossip })
  const shards = createRunShards({ manifest: run.manifest, storage: node.storage })
  const finals = new FinalVerifier({}, { state, storage: node.storage, shards, self })
  const runDir = await mkdtemp(join(tmpdir(), 'hddm-task-loop-'))
  const loop = new TaskLoop({ ...TIMINGS, ...init, runDir, logger: log.logger('loop') },
    { state, storage: node.storage, trainer, finals, self })
  cleanups.push(async () => {
    await loop.stop()
    await finals.stop()
    state.stop()
    other.stop()
    await rm(runDir, { recursive: true, force: true })
  })
  const phases: Phase[] = []
  const announced: Announced[] = []
  loop.addEventListener('task', (e) => { phases.push(e.detail) })
  loop.addEventListener('checkpoint', (e) => { announced.push(e.detail) })
  state.start()
  other.start()
  finals.start()
  const peerId = peer.swarm.peerId.toString()
  await waitFor(() => state.peers().includes(peerId) && other.peers().includes(self), 'both peers on the run topic')
  return { loop, state, finals, other, phases, announced }
}

const phasesOf = (phases: Phase[], task: string): string[] => phases.filter((p) => p.task === task).map((p) => p.phase)

describe('the task loop', { timeout: 120_000 }, () => {
  it('trains a free task to its final, announces each checkpoint by CID, releases it and goes idle', async () => {
    const { loop, finals, other, phases, announced } = await setUp(short, { maxTasks: 1 })
    let idle: number | undefined
    loop.addEventListener('idle', (e) => { idle = e.detail.completed })
    loop.start()
    await waitFor(() => idle !== undefined, 'the loop to finish its one task and go idle')

    const task = phases[0].task
    // The router has the fewest steps left: an expert comes first.
    expect(task.startsWith('expert-')).toBe(true)
    expect(phasesOf(phases, task)).toEqual(['claiming', 'fetching', 'training', 'done'])
    expect(idle).toBe(1)
    expect(announced.map((c) => [c.task, c.step, c.final])).toEqual([[task, 4, false], [task, 8, true]])
    expect(finals.isDone(task)).toBe(true)
    // The peer heard the final and the release: the task is free and its final names this node.
    const heard = (): TaskCoverage | undefined =>
      other.coverage().find((r) => r.task === task && r.holders.length === 0 && r.finals !== undefined)
    const row = await waitFor(heard, 'the peer to hear the final and the release')
    expect(row.finals?.map((f) => [f.cid, f.peer])).toEqual([[announced[1].cid, node.swarm.peerId.toString()]])
  })

  it('gives a task up when a peer\'s earlier claim wins the settle window, and trains another', async () => {
    // The peer's clock is 10 s behind: its claim sorts before one this node made a moment earlier.
    const { loop, other, phases } = await setUp(short, { maxTasks: 1 }, 10_000)
    let contested: string | undefined
    loop.addEventListener('task', (e) => {
      if (contested === undefined && e.detail.phase === 'claiming') {
        contested = e.detail.task
        other.claim(contested).catch(() => {})
      }
    })
    loop.start()
    await waitFor(() => phases.some((p) => p.phase === 'done'), 'the loop to train a task to its end')

    expect(phasesOf(phases, contested!)).toEqual(['claiming', 'lost-claim'])
    const trained = phases.find((p) => p.phase === 'done')!.task
    expect(trained).not.toBe(contested)
    expect(phasesOf(phases, trained)).toEqual(['claiming', 'fetching', 'training', 'done'])
    expect(other.table.holders(contested!, Date.now())).toEqual([peer.swarm.peerId.toString()])
  })

  it('stops training when its lease is lost to an earlier claim', async () => {
    const { loop, state, phases, other } = await setUp(long, {}, 20_000)
    const steps: string[] = []
    loop.addEventListener('step', (e) => { steps.push(e.detail.task) })
    loop.start()
    const training = await waitFor(() => phases.find((p) => p.phase === 'training'), 'the loop to train a task')
    await waitFor(() => steps.includes(training.task), 'a training step')
    // A claim stamped before this node's (the peer's clock is 20 s behind) takes the task over.
    await other.claim(training.task)
    await waitFor(() => phasesOf(phases, training.task).includes('lost-lease'), 'the loop to notice it lost the lease')

    expect(phasesOf(phases, training.task)).toEqual(['claiming', 'fetching', 'training', 'lost-lease'])
    expect(state.isHeld(training.task)).toBe(false)
    expect(other.table.holders(training.task, Date.now())).toEqual([peer.swarm.peerId.toString()])
    // Its trainer stopped: no step of that task after a few beacons more.
    const stepsThen = steps.filter((t) => t === training.task).length
    await new Promise((resolve) => setTimeout(resolve, 4 * TIMINGS.beaconMs!))
    expect(steps.filter((t) => t === training.task)).toHaveLength(stepsThen)
  })

  it('announces a last checkpoint and releases its task when stopped mid-training', async () => {
    const { loop, phases, announced, other } = await setUp(long)
    let steps = 0
    loop.addEventListener('step', () => { steps++ })
    loop.start()
    const training = await waitFor(() => phases.find((p) => p.phase === 'training'), 'the loop to train a task')
    await waitFor(() => steps >= 3, 'a few training steps')
    await loop.stop()

    expect(phasesOf(phases, training.task)).toEqual(['claiming', 'fetching', 'training', 'stopped'])
    expect(announced).toHaveLength(1)
    const last = announced[0]
    expect(last).toMatchObject({ task: training.task, final: false })
    expect(last.step).toBeGreaterThanOrEqual(3)
    // The peer sees the task free, with the last checkpoint to resume from, and can fetch and use it.
    const released = (): TaskCoverage | undefined =>
      other.coverage().find((r) => r.task === training.task && r.holders.length === 0 && r.checkpoint?.cid === last.cid)
    const row = await waitFor(released, 'the peer to hear the last checkpoint and the release')
    expect(row.checkpoint?.step).toBe(last.step)
    const providers = [node.swarm.peerId.toString()]
    const bytes = await peer.storage.getBytes(CID.parse(last.cid), { timeoutMs: 30_000, providers })
    const task = long.manifest.tasks.find((t) => t.id === training.task)!
    const checked = checkAnnouncedCheckpoint(long, task, { cid: last.cid, step: last.step, final: false }, bytes)
    expect(checked.metadata.step).toBe(last.step)
  })
})
