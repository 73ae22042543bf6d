/**
 * hddm's own Prometheus metrics for one node (docs/OPERATIONS.md "Metrics" lists them), in the
 * registry that also holds the node's libp2p metrics (`HddmNodeInit.metrics`), served by
 * metrics-server.ts. Nothing here reaches into the node: what happens once (a training step, a
 * claim won, a checkpoint announced, a verdict) is counted from the node's events and its
 * verifiers' `verdict` events; what the node's services already count (gossip validation
 * outcomes, sample requests, mirror fetches) and its state (tasks, peers) are read at scrape
 * time. Labels come only from bounded sets (metric-labels.ts).
 *
 * The counters read at scrape time restart from zero with the node's services (a stopped node
 * reports none); Prometheus reads a drop as a counter reset.
 *
 * @example
 * ```ts
 * const registry = new Registry()
 * const node = createHddmNode({ ...init, metrics: registry })
 * const metrics = createNodeMetrics({ registry }, { node })
 * const server = createMetricsServer({ port: 9464 }, { registry })
 * metrics.start()
 * await server.start()
 * await node.start()
 * ```
 */
import { collectDefaultMetrics, Counter, Gauge, type Registry } from 'prom-client'
import type { FinalVerdict } from './final-verifier.js'
import type { HddmNode } from './hddm-node.js'
import type { EvidenceVerdict } from './lease-evidence.js'
import {
  evidenceRefusalLabel, finalRefusalLabel, gossipLabels, sampleLabels, TASK_PHASES, TASK_STATES
} from './metric-labels.js'
import type { TaskLoopEvents } from './task-loop.js'

export interface NodeMetricsInit {
  /** Where the metrics go: one registry per node, the one its libp2p writes to. */
  registry: Registry
  /** Node.js process metrics (CPU, memory, event loop lag, GC) from prom-client. @default true */
  processMetrics?: boolean
}

/** What the metrics read of a node: its events, and accessors that answer while it runs. */
export type MetricsSource = Pick<HddmNode,
  'addEventListener' | 'removeEventListener' | 'status' | 'peerId' | 'coverage' | 'doneTasks' | 'peers' |
  'counters' | 'finalVerifier' | 'leaseEvidence'>

export interface NodeMetricsComponents {
  node: MetricsSource
}

type Verifiers = Pick<MetricsSource, 'finalVerifier' | 'leaseEvidence'>
type Rows = Array<[labels: Record<string, string>, value: number]>

/** libp2p's bytes per protocol stream, by `<protocol> sent|received` (@libp2p/prometheus-metrics). */
const TRANSFER_METRIC = 'libp2p_data_transfer_bytes_total'
const BITSWAP_TRANSFER = /^\/ipfs\/bitswap\/\S+ (sent|received)$/

export class NodeMetrics {
  readonly registry: Registry
  private readonly node: MetricsSource
  private readonly step: Gauge
  private readonly loss: Gauge
  private readonly imagesPerSecond: Gauge
  private readonly steps: Counter
  private readonly phases: Counter
  private readonly claims: Counter
  private readonly announced: Counter
  private readonly verified: Counter
  private readonly refused: Counter
  private readonly revoked: Counter
  /** The last step counted per task, so that `steps` adds what each step event moved on. */
  private readonly lastStep = new Map<string, number>()
  private verifiers?: Verifiers
  private started = false

  constructor (init: NodeMetricsInit, components: NodeMetricsComponents) {
    this.registry = init.registry
    this.node = components.node
    const registers = [this.registry]
    const counter = (name: string, help: string, labelNames: string[] = []): Counter =>
      new Counter({ name, help, labelNames, registers })
    const gauge = (name: string, help: string, labelNames: string[] = []): Gauge =>
      new Gauge({ name, help, labelNames, registers })
    this.step = gauge('hddm_training_step', 'Latest step trained here, per task', ['task'])
    this.loss = gauge('hddm_training_loss', 'Training loss at the latest step, per task', ['task'])
    this.imagesPerSecond = gauge('hddm_training_images_per_second', 'Training throughput, per task', ['task'])
    this.steps = counter('hddm_training_steps_total', 'Training steps done here, per task', ['task'])
    this.phases = counter('hddm_task_phases_total', 'Task loop transitions of this node, by phase', ['phase'])
    this.claims = counter('hddm_claims_total', 'Claims this node made, won or lost', ['result'])
    this.announced = counter('hddm_checkpoints_announced_total', 'Checkpoints this node announced', ['final'])
    this.verified = counter('hddm_checkpoints_verified_total',
      'Peers\' checkpoints that passed a check: final verification or lease evidence', ['check'])
    this.refused = counter('hddm_checkpoints_refused_total',
      'Peers\' checkpoints refused, by check and reason', ['check', 'reason'])
    this.revoked = counter('hddm_leases_revoked_total', 'Leases revoked here for want of lease evidence')
    for (const phase of TASK_PHASES) this.phases.inc({ phase }, 0)
    for (const result of ['won', 'lost']) this.claims.inc({ result }, 0)
    for (const final of ['true', 'false']) this.announced.inc({ final }, 0)
    for (const check of ['final', 'evidence']) this.verified.inc({ check }, 0)
    this.revoked.inc(0)
    this.defineScraped(registers)
    if (init.processMetrics !== false) collectDefaultMetrics({ register: this.registry })
    this.onTask = this.onTask.bind(this)
    this.onStep = this.onStep.bind(this)
    this.onCheckpoint = this.onCheckpoint.bind(this)
    this.onStatus = this.onStatus.bind(this)
    this.onFinalVerdict = this.onFinalVerdict.bind(this)
    this.onEvidenceVerdict = this.onEvidenceVerdict.bind(this)
    this.onRevoked = this.onRevoked.bind(this)
  }

  /** Listens to the node; call before `node.start()` to count from its first event. */
  start (): void {
    if (this.started) return
    this.started = true
    this.node.addEventListener('task', this.onTask)
    this.node.addEventListener('step', this.onStep)
    this.node.addEventListener('checkpoint', this.onCheckpoint)
    this.node.addEventListener('status', this.onStatus)
    if (this.node.status === 'started') this.attach()
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    this.node.removeEventListener('task', this.onTask)
    this.node.removeEventListener('step', this.onStep)
    this.node.removeEventListener('checkpoint', this.onCheckpoint)
    this.node.removeEventListener('status', this.onStatus)
    this.detach()
  }

  /** Metrics read from the node when Prometheus scrapes, rather than counted as things happen. */
  private defineScraped (registers: Registry[]): void {
    const scraped = (kind: 'counter' | 'gauge', name: string, help: string, labelNames: string[],
      rows: () => Rows | Promise<Rows>): void => {
      // A node that is not running has no services to read: its series go until it runs again.
      const collect = async (): Promise<void> => { refill(metric, this.node.status === 'started' ? await rows() : []) }
      const metric: Counter | Gauge = kind === 'counter'
        ? new Counter({ name, help, labelNames, registers, collect })
        : new Gauge({ name, help, labelNames, registers, collect })
    }
    scraped('gauge', 'hddm_tasks', 'The run\'s tasks by state as this node sees them', ['state'], () => this.tasks())
    scraped('gauge', 'hddm_peers', 'Peers connected, and peers subscribed to the run topic', ['scope'], () => {
      const { connected, run } = this.node.peers()
      return [[{ scope: 'connected' }, connected], [{ scope: 'run' }, run]]
    })
    scraped('counter', 'hddm_gossip_messages_total', 'Run topic messages received, by validation result and code',
      ['result', 'code'], () => Object.entries(this.node.counters().gossip).map(([key, n]) => [gossipLabels(key), n]))
    scraped('counter', 'hddm_sample_requests_total', '/hddm/sample/1.0.0 requests served or refused (by code)',
      ['result', 'code'], () => Object.entries(this.node.counters().samples).map(([key, n]) => [sampleLabels(key), n]))
    scraped('counter', 'hddm_checkpoints_fetched_total', 'Announced checkpoints the mirror fetched, or gave up on',
      ['result'], () => {
        const { fetched, failed } = this.node.counters().mirror
        return [[{ result: 'ok' }, fetched], [{ result: 'failed' }, failed]]
      })
    scraped('counter', 'hddm_bitswap_bytes_total', 'Bitswap bytes received (in) and sent (out)', ['direction'],
      async () => await this.bitswapBytes())
    scraped('counter', 'hddm_connection_repairs_total', 'Live connections repaired: identify run again after it ' +
      'failed, gossipsub streams reopened', ['repair'], () => {
      const { identify, gossipStreams } = this.node.counters().repairs
      return [[{ repair: 'identify' }, identify], [{ repair: 'gossip-stream' }, gossipStreams]]
    })
  }

  private tasks (): Rows {
    const done = new Set(this.node.doneTasks())
    const self = this.node.peerId
    const counts: Record<(typeof TASK_STATES)[number], number> = { free: 0, held: 0, training: 0, done: 0 }
    for (const row of this.node.coverage()) {
      const state = done.has(row.task) ? 'done'
        : row.holders.some((h) => h.peer === self) ? 'training'
          : row.holders.length > 0 ? 'held' : 'free'
      counts[state]++
    }
    return TASK_STATES.map((state) => [{ state }, counts[state]])
  }

  /** Bitswap's share of libp2p's per-protocol byte counts, when libp2p writes to the same registry. */
  private async bitswapBytes (): Promise<Rows> {
    const transfer = this.registry.getSingleMetric(TRANSFER_METRIC)
    if (transfer === undefined) return []
    const bytes = { in: 0, out: 0 }
    for (const { labels, value } of (await transfer.get()).values) {
      const match = BITSWAP_TRANSFER.exec(String(labels.protocol))
      if (match !== null) bytes[match[1] === 'sent' ? 'out' : 'in'] += value
    }
    return [[{ direction: 'in' }, bytes.in], [{ direction: 'out' }, bytes.out]]
  }

  private onTask (evt: TaskLoopEvents['task']): void {
    const { task, phase, resumedFromStep } = evt.detail
    this.phases.inc({ phase })
    // A claim is settled when the loop either starts on the task or backs off from it.
    if (phase === 'fetching') this.claims.inc({ result: 'won' })
    if (phase === 'lost-claim') this.claims.inc({ result: 'lost' })
    if (phase === 'training') this.lastStep.set(task, resumedFromStep ?? 0)
  }

  private onStep (evt: TaskLoopEvents['step']): void {
    const { task, step, loss, imagesPerSecond } = evt.detail
    this.step.set({ task }, step)
    this.loss.set({ task }, loss)
    this.imagesPerSecond.set({ task }, imagesPerSecond)
    const last = this.lastStep.get(task) ?? step
    this.steps.inc({ task }, Math.max(0, step - last))
    this.lastStep.set(task, step)
  }

  private onCheckpoint (evt: TaskLoopEvents['checkpoint']): void {
    this.announced.inc({ final: String(evt.detail.final) })
  }

  /**
   * The verifiers exist from the node's start to its stop. Verdicts reached while the node is
   * still starting (a final adopted by checkpoint sync) are not counted: they are rare and few.
   */
  private onStatus (evt: CustomEvent<string>): void {
    if (evt.detail === 'started') this.attach()
    if (evt.detail === 'stopping') this.detach()
  }

  private attach (): void {
    this.detach()
    const verifiers = { finalVerifier: this.node.finalVerifier, leaseEvidence: this.node.leaseEvidence }
    verifiers.finalVerifier.addEventListener('verdict', this.onFinalVerdict)
    verifiers.leaseEvidence.addEventListener('verdict', this.onEvidenceVerdict)
    verifiers.leaseEvidence.addEventListener('revoked', this.onRevoked)
    this.verifiers = verifiers
  }

  private detach (): void {
    this.verifiers?.finalVerifier.removeEventListener('verdict', this.onFinalVerdict)
    this.verifiers?.leaseEvidence.removeEventListener('verdict', this.onEvidenceVerdict)
    this.verifiers?.leaseEvidence.removeEventListener('revoked', this.onRevoked)
    this.verifiers = undefined
  }

  private onFinalVerdict (evt: CustomEvent<FinalVerdict>): void {
    if (evt.detail.accepted) this.verified.inc({ check: 'final' })
    else this.refused.inc({ check: 'final', reason: finalRefusalLabel(evt.detail.reason) })
  }

  private onEvidenceVerdict (evt: CustomEvent<EvidenceVerdict>): void {
    if (evt.detail.accepted) this.verified.inc({ check: 'evidence' })
    else this.refused.inc({ check: 'evidence', reason: evidenceRefusalLabel(evt.detail.reason) })
  }

  private onRevoked (): void {
    this.revoked.inc()
  }
}

/** Sets a scraped metric to `rows`, dropping series that are gone. */
function refill (metric: Counter | Gauge, rows: Rows): void {
  metric.reset()
  for (const [labels, value] of rows) {
    if (metric instanceof Counter) metric.inc(labels, value)
    else metric.set(labels, value)
  }
}

/** Builds the metrics of one node; `start()` listens to it. */
export function createNodeMetrics (init: NodeMetricsInit, components: NodeMetricsComponents): NodeMetrics {
  return new NodeMetrics(init, components)
}
