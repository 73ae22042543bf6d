import { afterAll, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { CheckpointSync } from '../../src/node/checkpoint-sync.js'
import { handleCoverage } from '../../src/node/coverage-protocol.js'
import { createRun } from '../../src/node/run-creation.js'
import { RunState } from '../../src/node/run-state.js'
import { CHECKPOINT_FORMAT, encodeCheckpoint, type CheckpointMetadata } from '../../src/checkpoint/format.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { tinyRun } from './fixtures.js'
import type { CheckpointInfo, TaskCoverage } from '../../src/network/claim-types.js'
import { decodeShard } from '../../src/data/shard.js'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { expertConfig } from '../../src/checkpoint/expert.js'
import { routerConfig } from '../../src/checkpoint/router.js'
import type { RunTask } from '../../src/protocol/run-manifest.js'
import { captureLog } from '../utils/log-capture.js'
import { waitFor } from '../utils/wait.js'

/** The run's tokenizer: a checkpoint of the run carries it, and its config is sized to it. */
let tokenizer: Tokenizer

/** A checkpoint whose metadata says what the sync checks (the preset's config); the weights do not matter here. */
function checkpointBytes (task: RunTask, meta: Partial<CheckpointMetadata>, value = 0.5): Uint8Array {
  const metadata: CheckpointMetadata = {
    format: CHECKPOINT_FORMAT,
    network: task.kind,
    config: task.kind === 'expert'
      ? { ...expertConfig('tiny', tokenizer) }
      : { ...routerConfig('router-tiny', 4, task.conditioning, tokenizer) },
    ...(task.kind === 'expert' ? { objective: task.objective, cluster: task.cluster } : {}),
    step: 0,
    extra: { tokenizer: tokenizer.toJSON() },
    ...meta
  }
  const tensors = new Map([['w', { shape: [4], data: new Float32Array(4).fill(value) }]])
  return encodeCheckpoint({ metadata, tensors })
}

describe('checkpoint sync: a node that joins late learns the checkpoints it missed on gossip', () => {
  const nodes: TestNode[] = []
  const stops: Array<() => Promise<void> | void> = []
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop()
    for (const n of nodes) await n.stop()
  })

  it('adopts an announced final checkpoint from a peer\'s map, and refuses rows its checkpoint contradicts',
    { timeout: 90_000 }, async () => {
    const [announcer, liar, late] = [await createTestNode(), await createTestNode(), await createTestNode()]
    nodes.push(announcer, liar, late)
    const { runId: id, manifest } = await createRun(await tinyRun({ name: 'sync', images: 200 }), announcer.storage)
    const runId = id.toString()
    const task = (name: string): RunTask => manifest.tasks.find((t) => t.id === name)!
    const heldOutShard = decodeShard(await announcer.storage.getBytes(manifest.resolved.shards[0].heldOut))
    tokenizer = Tokenizer.fromJSON(heldOutShard.header.tokenizer)
    const budget = manifest.training.expert.steps

    // The announcer finishes expert-0 and says so on gossip, while nobody else listens.
    const announcerId = announcer.swarm.peerId.toString()
    const state = new RunState({ runId, manifest, self: announcerId, clock: Date.now }, { gossip: announcer.gossip })
    state.start()
    stops.push(() => { state.stop() })
    await handleCoverage(announcer.swarm.libp2p, (run) => run === runId ? state.coverage() : undefined)
    const good = await announcer.storage.addBytes(checkpointBytes(task('expert-0'), { step: budget, run: runId }))
    await state.checkpoint({ task: 'expert-0', cid: good.toString(), step: budget, final: true, heldOutLoss: 0.4 })
    expect(state.lastCheckpoint('expert-0')?.final).toBe(true)

    // The liar's map claims finished tasks whose checkpoints say otherwise.
    const liarId = liar.swarm.peerId.toString()
    const short = await liar.storage.addBytes(checkpointBytes(task('expert-1'), { step: 3, run: runId }))
    const anotherRunId = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
    const otherRun = await liar.storage.addBytes(checkpointBytes(task('expert-2'), { step: budget, run: anotherRunId }))
    const wrongClusterBytes = checkpointBytes(task('expert-3'), { step: budget, run: runId, cluster: 0 })
    const wrongCluster = await liar.storage.addBytes(wrongClusterBytes)
    /** The liar's claim that `cid` is the task's final checkpoint. */
    const claimedFinal = (cid: string): CheckpointInfo =>
      ({ peer: liarId, cid, step: budget, final: true, heldOutLoss: 0.1, ts: Date.now() })
    const lies: TaskCoverage[] = [
      { task: 'expert-1', replicas: 1, holders: [], free: true, checkpoint: claimedFinal(short.toString()) },
      { task: 'expert-2', replicas: 1, holders: [], free: true, checkpoint: claimedFinal(otherRun.toString()) },
      { task: 'expert-3', replicas: 1, holders: [], free: true, checkpoint: claimedFinal(wrongCluster.toString()) }
    ]
    await handleCoverage(liar.swarm.libp2p, (run) => run === runId ? lies : undefined)
    // On the run's topic, so that the late node's resyncs ask it again.
    const liarState = new RunState({ runId, manifest, self: liarId, clock: Date.now }, { gossip: liar.gossip })
    liarState.start()
    stops.push(() => { liarState.stop() })

    // The late node joins the run and asks the peers it is connected to.
    await late.swarm.libp2p.dial(multiaddr(announcer.addr))
    await late.swarm.libp2p.dial(multiaddr(liar.addr))
    const lateId = late.swarm.peerId.toString()
    const lateState = new RunState({ runId, manifest, self: lateId, clock: Date.now }, { gossip: late.gossip })
    lateState.start()
    stops.push(() => { lateState.stop() })
    const adopted: string[] = []
    lateState.addEventListener('message', (e) => {
      if (e.detail.message.type === 'checkpoint') adopted.push(e.detail.message.task)
    })
    expect(lateState.lastCheckpoint('expert-0')).toBeUndefined()
    const log = captureLog()
    const sync = new CheckpointSync({ fetchTimeoutMs: 10_000, resyncMs: 200, pollMs: 100, logger: log.logger('late') },
      { libp2p: late.swarm.libp2p, state: lateState, storage: late.storage })
    stops.push(async () => { await sync.stop() })
    await sync.start()

    const adoptedFinal = lateState.lastCheckpoint('expert-0')
    expect(adoptedFinal).toMatchObject({ cid: good.toString(), step: budget, final: true, peer: announcerId })
    expect(adopted).toEqual(['expert-0'])
    for (const lied of ['expert-1', 'expert-2', 'expert-3']) expect(lateState.lastCheckpoint(lied)).toBeUndefined()
    // What it adopted it now holds, so it can serve it on if the announcer leaves.
    expect(await late.storage.has(good)).toBe(true)
    // Each lie is fetched once: later resyncs of the same maps remember what its content said.
    await waitFor(() => lateState.peers().includes(liarId), 'the liar on the run topic')
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    const refusals = log.tail(5000).split('\n').filter((line) => line.includes('refused a checkpoint'))
    expect(refusals).toHaveLength(3)
    expect(adopted).toEqual(['expert-0'])

    // CIDs nobody serves cost a fetch timeout each: fetched at once, they hold up the round for
    // one timeout, not four; and each is tried again after five resyncs, not at each.
    const nowhere = await Promise.all(['expert-1', 'expert-2', 'expert-3', 'router'].map(async (task) => {
      const cid = CID.create(1, raw.code, await sha256.digest(new TextEncoder().encode(`${task} held by nobody`)))
      return { task, replicas: 1, holders: [], free: true, checkpoint: claimedFinal(cid.toString()) }
    }))
    lies.splice(0, lies.length, ...nowhere)
    const impatientLog = captureLog()
    const timeoutMs = 1_500
    const impatient = new CheckpointSync(
      { fetchTimeoutMs: timeoutMs, resyncMs: timeoutMs, pollMs: 100, logger: impatientLog.logger('late') },
      { libp2p: late.swarm.libp2p, state: lateState, storage: late.storage }
    )
    stops.push(async () => { await impatient.stop() })
    const timeouts = (): string[] =>
      impatientLog.tail(5000).split('\n').filter((line) => line.includes('refused a checkpoint'))
    const t0 = performance.now()
    await impatient.start()
    expect(timeouts()).toHaveLength(4)
    expect(performance.now() - t0).toBeLessThan(3 * timeoutMs)   // one after another: 4 x timeoutMs
    // The next resync comes one timeout later and would end in another.
    await new Promise((resolve) => setTimeout(resolve, 2.5 * timeoutMs))
    expect(timeouts()).toHaveLength(4)
  })
})
