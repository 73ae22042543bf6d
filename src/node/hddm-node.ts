/**
 * HddmNode: one contributor, composed from the swarm node (libp2p + identity + data-dir lock),
 * storage (Helia over the same libp2p), the gossip service, this node's view of one run (claim
 * table) and the task loop that trains claimed tasks in a worker thread.
 *
 * Start order: swarm -> storage (node/connect.ts) -> sample service (/hddm/sample/1.0.0) ->
 * gossip -> bootstrap dials -> run (resolve by CID, or create from a manifest) -> join the run
 * topic (claim table with lease evidence and address ranges) -> checkpoint mirror, lease
 * evidence, final verifier, catch-up -> task loop. Stop runs in reverse: abort the trainer (it
 * writes a last checkpoint, which is published and announced) -> release the claim -> leave the
 * topic -> stop gossip, the sample service, storage, swarm; a failed start stops what started.
 *
 * @example
 * ```ts
 * const node = createHddmNode({ dataDir: '.hddm', source: { run: 'bagu...' }, bootstrap: ['/ip4/.../p2p/...'] })
 * node.addEventListener('checkpoint', (e) => console.log(e.detail.task, e.detail.cid))
 * await node.start()
 * // ... later, e.g. on SIGINT
 * await node.stop()
 * ```
 */
import { CheckpointMirror, type MirrorCounters } from './checkpoint-mirror.js'
import { FinalVerifier } from './final-verifier.js'
import { createRunShards } from '../ensemble/run-shards.js'
import { CheckpointSync, type CheckpointSyncInit } from './checkpoint-sync.js'
import { LeaseEvidence, type LeaseEvidenceInit } from './lease-evidence.js'
import { AddressRanges } from '../network/address-range.js'
import { join } from 'node:path'
import { TypedEventEmitter, type PeerId } from '@libp2p/interface'
import { pingPeer } from './ping-peer.js'
import { stopInOrder } from '../lifecycle.js'
import { silentLogger, type Logger } from '../logger.js'
import { createGossip, type Gossip, type GossipCounters } from '../network/gossip.js'
import type { ServiceStatus, SwarmLibp2p, SwarmNodeInit } from '../network/swarm-node.js'
import { repairCounters, type RepairCounters } from '../network/libp2p.js'
import type { Storage } from '../storage/helia.js'
import {
  createSampleService, type SampleCounters, type SampleService, type SampleServiceInit
} from '../network/sample-service.js'
import { ensembleSampleHandler, type EnsembleSampleHandler } from '../ensemble/serve.js'
import { connectSwarm, type SwarmConnection } from './connect.js'
import { handleCoverage, queryCoverage } from './coverage-protocol.js'
import { NodeNotStartedError } from './errors.js'
import {
  createRun, parseRunId, readManifestFile, resolveRun, type RunCreationProgressEvents
} from './run-creation.js'
import { RunState } from './run-state.js'
import { TaskLoop, type TaskLoopEvents, type TaskLoopInit } from './task-loop.js'
import type { TaskTrainer } from './task-trainer.js'
import type { TaskCoverage } from '../network/claim-types.js'
import type { ResolvedRunManifest, RunManifest } from '../protocol/run-manifest.js'
import type { ProgressOptions } from '../progress.js'

export type HddmNodeStatus = ServiceStatus

interface OpenedRun { runId: string, manifest: ResolvedRunManifest, created: boolean }

export interface HddmNodeEvents extends TaskLoopEvents {
  status: CustomEvent<HddmNodeStatus>
  /** The run is known: its id, and whether this node created it from a manifest. */
  run: CustomEvent<{ runId: string, created: boolean }>
}

/** Which run to join: an existing run id, or a manifest (file path or parsed) to create it from. */
export type RunSource =
  | { run: string }
  | { manifestFile: string }
  | { manifest: RunManifest, baseDir?: string }

export interface HddmNodeInit
  extends Omit<SwarmNodeInit, 'dataDir' | 'logger'>, ProgressOptions<RunCreationProgressEvents> {
  /** Identity, lock, peer store, blocks and task checkpoints all live here. */
  dataDir: string
  /** Peers to join through, each `/ip4/.../tcp/.../p2p/<peerId>` (connectSwarm dials them). */
  bootstrap?: string[]
  source: RunSource
  /** Trains claimed tasks; without one the node only serves (gossip and storage). */
  trainer?: TaskTrainer
  /** Tasks to train before only serving; default unlimited (0 = serve only). */
  tasks?: number
  /** Deadline for fetching the run manifest by id. @default 30_000 */
  resolveTimeoutMs?: number
  /** Task loop timings (tests shorten them). */
  loop?: Omit<TaskLoopInit, 'runDir' | 'maxTasks' | 'logger'>
  /** Catching up on checkpoints announced before this node listened (tests shorten it). */
  checkpointSync?: Omit<CheckpointSyncInit, 'logger'>
  /** Checking holders' checkpoints as lease evidence (docs/PROTOCOL.md 5.8). */
  leaseEvidence?: Omit<LeaseEvidenceInit, 'logger'>
  /**
   * Sample for ensembles this node does not hold: fetch them from the swarm on request. Off by
   * default, because fetching and loading a stranger's model on request is free amplification.
   */
  serveAny?: boolean
  /** Limits of the /hddm/sample/1.0.0 server (defaults: docs/PROTOCOL.md section 8). */
  sampleService?: Omit<SampleServiceInit, 'logger'> & { fetchTimeoutMs?: number }
  logger?: Logger
  clock?: () => number
}

export class HddmNode extends TypedEventEmitter<HddmNodeEvents> {
  status: HddmNodeStatus = 'stopped'
  private readonly init: HddmNodeInit
  private readonly log: Logger
  private readonly clock: () => number
  /** Swarm node and storage. */
  private connection?: SwarmConnection
  private gossip?: Gossip
  private state?: RunState
  private loop?: TaskLoop
  private mirror?: CheckpointMirror
  private finals?: FinalVerifier
  private sync?: CheckpointSync
  private evidence?: LeaseEvidence
  private ranges?: AddressRanges
  private sampleHandler?: EnsembleSampleHandler
  private samples?: SampleService

  constructor (init: HddmNodeInit) {
    super()
    this.init = init
    this.log = (init.logger ?? silentLogger).child('node')
    this.clock = init.clock ?? Date.now
  }

  async start (): Promise<void> {
    if (this.status !== 'stopped') return
    this.setStatus('starting')
    try {
      const { dataDir, logger } = this.init
      const bootstrap = this.init.bootstrap ?? []
      // The bootstrap dial waits for the sample protocol and gossip, not only bitswap.
      // A contributor may start before its bootstrap peer: alone, it keeps redialling them.
      this.connection = await connectSwarm({ ...this.init, dataDir, logger, deferDial: true, redialWhileAlone: true })
      const { storage, swarm } = this.connection
      const { fetchTimeoutMs, ...limits } = this.init.sampleService ?? {}
      this.sampleHandler = ensembleSampleHandler({ storage, serveAny: this.init.serveAny === true, fetchTimeoutMs })
      const { handler } = this.sampleHandler
      this.samples = createSampleService({ ...limits, logger }, { libp2p: swarm.libp2p, handler })
      await this.samples.start()
      this.gossip = createGossip({ logger }, { pubsub: swarm.pubsub, peerId: swarm.peerId })
      await this.gossip.start()
      if (bootstrap.length > 0 && await this.connection.dialBootstrap() === 0) {
        this.log.warn('no bootstrap peer reachable; waiting for peers to dial in', { bootstrap })
      }
      const { runId, manifest, created } = await this.openRun(storage)
      this.safeDispatchEvent('run', { detail: { runId, created } })
      const self = swarm.peerId.toString()
      this.ranges = new AddressRanges({ libp2p: swarm.libp2p })
      this.ranges.start()
      const rangeOf = this.ranges.rangeOf
      this.state = new RunState({ runId, manifest, self, clock: this.clock, rangeOf, logger }, { gossip: this.gossip })
      this.state.start()
      const state = this.state
      this.mirror = new CheckpointMirror({ logger }, { state, storage })
      this.mirror.start()
      // Lease evidence and the final verifier score checkpoints on the same held-out shards: fetched once.
      const shards = createRunShards({ manifest, storage, timeoutMs: this.init.leaseEvidence?.timeoutMs })
      this.evidence = new LeaseEvidence({ ...this.init.leaseEvidence, logger }, { state, storage, shards, self })
      this.evidence.start()
      // Before checkpoint sync: finals it adopts are verified like announced ones.
      this.finals = new FinalVerifier({ logger }, { state, storage, shards, self })
      this.finals.start()
      await handleCoverage(swarm.libp2p, (run) => run === runId ? state.coverage() : undefined)
      // Before the first claim: a task finished while this node was away must not be trained again.
      const syncWith = { libp2p: swarm.libp2p, state, storage, finals: this.finals }
      this.sync = new CheckpointSync({ ...this.init.checkpointSync, logger }, syncWith)
      await this.sync.start()
      if (this.init.trainer !== undefined) {
        this.loop = new TaskLoop(
          { ...this.init.loop, runDir: join(dataDir, 'runs', runId), maxTasks: this.init.tasks, logger },
          { state: this.state, storage, trainer: this.init.trainer, finals: this.finals, self }
        )
        for (const type of ['task', 'step', 'checkpoint', 'idle'] as const) {
          this.loop.addEventListener(type, (evt) => { this.safeDispatchEvent(type, { detail: evt.detail }) })
        }
        this.loop.start()
      }
      this.setStatus('started')
      this.log.info('node started', { peerId: self, runId, addrs: this.multiaddrs() })
    } catch (err) {
      await this.teardown()
      throw err
    }
  }

  async stop (): Promise<void> {
    if (this.status !== 'started') return
    this.setStatus('stopping')
    await this.teardown()
    this.log.info('node stopped')
  }

  get peerId (): string { return this.started(this.connection).swarm.peerId.toString() }
  get runId (): string { return this.started(this.state).runId }
  get manifest (): ResolvedRunManifest { return this.started(this.state).manifest }

  /** Listen addresses with `/p2p/<id>`: what other nodes bootstrap from. */
  multiaddrs (): string[] { return this.started(this.connection).swarm.getMultiaddrs().map(String) }

  /** Peers connected to this node, and peers subscribed to the run topic. */
  peers (): { connected: number, run: number } {
    return { connected: this.libp2p.getPeers().length, run: this.started(this.state).peers().length }
  }

  /** The coverage map: every task with holder, step, loss, lease and last checkpoint. */
  coverage (): TaskCoverage[] { return this.started(this.state).coverage() }

  /**
   * Tasks done as far as this node knows: a final checkpoint of theirs was verified here (an
   * announced final alone proves nothing), in manifest order.
   */
  doneTasks (): string[] {
    const finals = this.started(this.finals)
    return this.manifest.tasks.filter((t) => finals.isDone(t.id)).map((t) => t.id)
  }

  /** Every verdict on a final checkpoint, as it is reached (for logs and dashboards). */
  get finalVerifier (): FinalVerifier { return this.started(this.finals) }

  /** Lease evidence: verdicts on holders' checkpoints and the leases revoked for want of them. */
  get leaseEvidence (): LeaseEvidence { return this.started(this.evidence) }

  /**
   * Coverage maps of this run as the connected peers see them (peers that do not answer are
   * skipped): what a node that just joined, or `hddm-node status`, knows beyond its own view.
   */
  async peerCoverage (timeoutMs = 5000): Promise<TaskCoverage[][]> {
    const libp2p = this.started(this.connection).swarm.libp2p
    const runId = this.runId
    const ask = async (peer: PeerId): Promise<TaskCoverage[]> => await queryCoverage(libp2p, peer, runId, timeoutMs)
    const answers = await Promise.allSettled(libp2p.getPeers().map(ask))
    return answers.flatMap((a) => a.status === 'fulfilled' ? [a.value] : [])
  }

  /** Round-trip time to a peer over /ipfs/ping (dials it if needed), in ms, retried (ping-peer.ts). */
  async ping (peer: string, options: { signal?: AbortSignal } = {}): Promise<number> {
    return await pingPeer(this.started(this.connection).swarm.libp2p, peer, options)
  }

  /** Outcome counters since start (for node-metrics.ts): gossip validation, sample requests, mirror, repairs. */
  counters (): { gossip: GossipCounters, samples: SampleCounters, mirror: MirrorCounters, repairs: RepairCounters } {
    const gossip = this.started(this.gossip).counters(this.runId)
    const [samples, mirror] = [this.started(this.samples).counters(), this.started(this.mirror).counters()]
    return { gossip, samples, mirror, repairs: repairCounters(this.libp2p) }
  }

  /** The storage service, to fetch checkpoints by CID (ensembles, verification). */
  get blocks (): Storage { return this.started(this.connection).storage }
  /** The libp2p node: connections, and gossipsub's mesh and peer scores (dashboards, metrics). */
  get libp2p (): SwarmLibp2p { return this.started(this.connection).swarm.libp2p }

  private async openRun (storage: Storage): Promise<OpenedRun> {
    const { source } = this.init
    if ('run' in source) {
      const manifest = await resolveRun(parseRunId(source.run), storage, { timeoutMs: this.init.resolveTimeoutMs })
      return { runId: parseRunId(source.run).toString(), manifest, created: false }
    }
    const { manifest, baseDir } = 'manifestFile' in source ? await readManifestFile(source.manifestFile) : source
    const created = await createRun(manifest, storage, { baseDir, onProgress: this.init.onProgress })
    return { runId: created.runId.toString(), manifest: created.manifest, created: true }
  }

  /** Reverse start order; each step runs even if an earlier one failed, so nothing is left open. */
  private async teardown (): Promise<void> {
    await stopInOrder([
      ['task loop', async () => { await this.loop?.stop() }],
      ['trainer', async () => { await this.init.trainer?.stop?.() }],
      ['checkpoint sync', async () => { await this.sync?.stop() }],
      ['final verifier', async () => { await this.finals?.stop() }],
      ['lease evidence', async () => { await this.evidence?.stop() }],
      ['checkpoint mirror', async () => { await this.mirror?.stop() }],
      ['run topic', () => { this.state?.stop() }],
      ['address ranges', () => { this.ranges?.stop() }],
      ['gossip', async () => { await this.gossip?.stop() }],
      ['sample service', async () => { await this.samples?.stop(); this.sampleHandler?.dispose() }],
      ['storage and swarm', async () => { await this.connection?.stop() }]
    ], this.log)
    this.evidence = this.ranges = this.connection = this.samples = this.sampleHandler = undefined
    this.loop = this.sync = this.finals = this.mirror = this.state = this.gossip = undefined
    this.setStatus('stopped')
  }

  private setStatus (status: HddmNodeStatus): void {
    this.status = status
    this.safeDispatchEvent('status', { detail: status })
  }

  private started<T> (value: T | undefined): T {
    if (value === undefined || this.status === 'stopped') throw new NodeNotStartedError()
    return value
  }
}

/** Builds an unstarted node; `await node.start()` joins the swarm and the run. */
export function createHddmNode (init: HddmNodeInit): HddmNode {
  return new HddmNode(init)
}
