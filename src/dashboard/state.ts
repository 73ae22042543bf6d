/**
 * What the dashboard shows, collected from a node as it runs: the coverage map (the rows
 * `hddm-node status` prints: this node's view merged with its peers' by `mergeCoverage`), each
 * checkpoint's verification here, training curves, peers and a log of what happened. Every
 * history is bounded (BoundedSeries, rings), so a node that runs for weeks keeps a few hundred
 * KB. Steps can also come from elsewhere (`recordStep`): `simulate` feeds its contributors'.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { mergeCoverage } from '../node/coverage.js'
import { BoundedSeries } from './series.js'
import { peersView, type PeersView } from './peers.js'
import type { HddmNode } from '../node/hddm-node.js'
import type { TaskCoverage } from '../network/claim-types.js'
import type { TaskStepDetail } from '../node/task-trainer.js'

/** What the collector reads from a node. */
export type DashboardNode = Pick<HddmNode,
  'peerId' | 'runId' | 'manifest' | 'coverage' | 'peerCoverage' | 'libp2p' | 'blocks' | 'finalVerifier' |
  'leaseEvidence' | 'multiaddrs' | 'addEventListener' | 'removeEventListener'>

export interface StepPoint {
  t: number
  task: string
  /** Who trained it: a peer id, or a name (`node-2` in simulate). */
  who: string
  step: number
  loss: number
  imagesPerSecond: number
}

export interface HeldOutPoint {
  t: number
  task: string
  who: string
  step: number
  heldOutLoss: number
  final: boolean
}

/** What this node found when it checked a checkpoint: a final's verdict, lease evidence, or its own. */
export interface CheckpointVerification {
  by: 'final' | 'evidence' | 'own'
  accepted: boolean
  /** The held-out loss recomputed here. */
  heldOutLoss?: number
  reason?: string
}

export type CoverageRow = TaskCoverage & { verified?: CheckpointVerification }

export interface LogLine { t: number, text: string }

/** A checkpoint announcement with its announcer. */
export interface AnnouncedCheckpoint {
  task: string
  cid: string
  step: number
  final: boolean
  heldOutLoss: number
  peer: string
}

export type DashboardUpdate =
  | { kind: 'coverage', data: { now: number, rows: CoverageRow[] } }
  | { kind: 'peers', data: PeersView }
  | { kind: 'step', data: StepPoint }
  | { kind: 'heldOut', data: HeldOutPoint }
  | { kind: 'log', data: LogLine }

export interface DashboardStateEvents {
  update: CustomEvent<DashboardUpdate>
  /** A checkpoint newer than the last one seen for its task (the gallery draws from these). */
  checkpoint: CustomEvent<{ task: string, cid: string, step: number, peer: string }>
}

export interface DashboardStateInit {
  /** Points kept per task and curve. @default 512 */
  historyPoints?: number
  /** Log lines kept. @default 200 */
  logLines?: number
  /** Verifications remembered (by CID). @default 1024 */
  verifications?: number
  clock?: () => number
}

/** Curves kept at most, per kind: more tasks than a run of MAX_CLUSTERS experts, each with a few objectives. */
const MAX_SERIES = 1024

export class DashboardState extends TypedEventEmitter<DashboardStateEvents> {
  private readonly historyPoints: number
  private readonly logLines: number
  private readonly maxVerifications: number
  private readonly clock: () => number
  private readonly steps = new Map<string, BoundedSeries<StepPoint>>()
  private readonly heldOut = new Map<string, BoundedSeries<HeldOutPoint>>()
  private readonly lines: LogLine[] = []
  private readonly verifications = new Map<string, CheckpointVerification>()
  /** Newest checkpoint CID per task already recorded. */
  private readonly latest = new Map<string, { cid: string, step: number }>()
  private peerViews: TaskCoverage[][] = []
  private node?: DashboardNode
  private detachNode?: () => void
  private lastCoverage = ''

  constructor (init: DashboardStateInit = {}) {
    super()
    this.historyPoints = init.historyPoints ?? 512
    this.logLines = init.logLines ?? 200
    this.maxVerifications = init.verifications ?? 1024
    this.clock = init.clock ?? Date.now
  }

  get attached (): DashboardNode | undefined { return this.node }

  /** Starts listening to a started node's events. */
  attach (node: DashboardNode): void {
    this.detach()
    this.node = node
    const self = node.peerId
    const on = <T>(target: EventTarget, type: string, listener: (detail: T) => void): () => void => {
      const wrapped = (evt: Event): void => { listener((evt as CustomEvent<T>).detail) }
      target.addEventListener(type, wrapped)
      return () => { target.removeEventListener(type, wrapped) }
    }
    type Phase = { task: string, phase: string, resumedFromStep?: number }
    type Step = TaskStepDetail & { task: string }
    type Announced = { task: string, cid: string, step: number, final: boolean, heldOutLoss: number }
    type Final = { task: string, cid: string, peer: string, accepted: boolean, reason?: string, heldOutLoss?: number }
    type Evidence = Final & { score?: { score: number } }
    const offs = [
      on<Phase>(node as unknown as EventTarget, 'task', (d) => {
        const from = d.resumedFromStep ?? 0
        const resumed = from > 0 ? ` from step ${from}` : ''
        this.log(`${d.task}: ${d.phase}${resumed}`)
      }),
      on<Step>(node as unknown as EventTarget, 'step', (d) => { this.recordStep(self, d) }),
      on<Announced>(node as unknown as EventTarget, 'checkpoint', (d) => {
        this.verify(d.cid, { by: 'own', accepted: true, heldOutLoss: d.heldOutLoss })
        this.recordCheckpoint({ ...d, peer: self })
      }),
      on<Final>(node.finalVerifier as unknown as EventTarget, 'verdict', (d) => {
        this.verify(d.cid, { by: 'final', accepted: d.accepted, heldOutLoss: d.heldOutLoss, reason: d.reason })
        const what = d.accepted ? `verified, held-out ${d.heldOutLoss?.toFixed(4) ?? '-'}` : `refused (${d.reason})`
        this.log(`${d.task}: final ${short(d.cid)} of ${short(d.peer)} ${what}`)
      }),
      on<Evidence>(node.leaseEvidence as unknown as EventTarget, 'verdict', (d) => {
        this.verify(d.cid, { by: 'evidence', accepted: d.accepted, heldOutLoss: d.score?.score, reason: d.reason })
        if (!d.accepted) this.log(`${d.task}: checkpoint ${short(d.cid)} of ${short(d.peer)} refused (${d.reason})`)
      }),
      on<{ task: string, peer: string }>(node.leaseEvidence as unknown as EventTarget, 'revoked', (d) => {
        this.log(`${d.task}: lease of ${short(d.peer)} revoked (no lease evidence in time)`)
      })
    ]
    this.detachNode = () => { for (const off of offs) off() }
  }

  detach (): void {
    this.detachNode?.()
    this.detachNode = this.node = undefined
  }

  recordStep (who: string, d: TaskStepDetail & { task: string }): void {
    const point = { t: this.clock(), task: d.task, who, step: d.step, loss: d.loss, imagesPerSecond: d.imagesPerSecond }
    if (this.series(this.steps, d.task)?.push(point) === true) this.emit({ kind: 'step', data: point })
  }

  /** A checkpoint announced by `peer`; one already recorded, or older than the task's newest, is skipped. */
  recordCheckpoint (d: AnnouncedCheckpoint): void {
    const seen = this.latest.get(d.task)
    if (seen !== undefined && (seen.cid === d.cid || seen.step > d.step)) return
    this.latest.set(d.task, { cid: d.cid, step: d.step })
    const { task, step, heldOutLoss, final } = d
    const point = { t: this.clock(), task, who: d.peer, step, heldOutLoss, final }
    if (this.series(this.heldOut, d.task)?.push(point) === true) this.emit({ kind: 'heldOut', data: point })
    this.safeDispatchEvent('checkpoint', { detail: { task: d.task, cid: d.cid, step: d.step, peer: d.peer } })
  }

  log (text: string): void {
    const line = { t: this.clock(), text }
    this.lines.push(line)
    if (this.lines.length > this.logLines) this.lines.splice(0, this.lines.length - this.logLines)
    this.emit({ kind: 'log', data: line })
  }

  /**
   * The coverage map as `hddm-node status` computes it (this node's view merged with the last
   * answers of its peers), each row's checkpoint with this node's verification of it.
   */
  coverage (): TaskCoverage[] {
    if (this.node === undefined) return []
    return mergeCoverage([this.node.coverage(), ...this.peerViews])
  }

  coverageRows (): CoverageRow[] {
    return this.coverage().map((row) => {
      const verified = row.checkpoint === undefined ? undefined : this.verifications.get(row.checkpoint.cid)
      return verified === undefined ? row : { ...row, verified }
    })
  }

  peers (): PeersView {
    if (this.node === undefined) return { connections: 0, peers: 0, mesh: 0, run: 0, rows: [] }
    return peersView(this.node.libp2p, this.node.runId)
  }

  /** Asks the connected peers for their coverage maps (what `status` adds to its own view). */
  async refreshPeerCoverage (timeoutMs = 3000): Promise<void> {
    if (this.node !== undefined) this.peerViews = await this.node.peerCoverage(timeoutMs)
  }

  /**
   * Records the checkpoints this node's claim table shows for the first time (peers' ones, for a
   * node that does not train them: only signed gossip counts, never a peer's coverage map, which
   * could name any step) and, when `publish`, sends the merged map and the peers if changed.
   */
  poll (publish: boolean): void {
    if (this.node === undefined) return
    for (const row of this.node.coverage()) {
      const c = row.checkpoint
      if (c !== undefined) this.recordCheckpoint({ ...c, task: row.task })
    }
    if (!publish) return
    const rows = this.coverageRows()
    const json = JSON.stringify(rows)
    if (json !== this.lastCoverage) {
      this.lastCoverage = json
      this.emit({ kind: 'coverage', data: { now: this.clock(), rows } })
    }
    this.emit({ kind: 'peers', data: this.peers() })
  }

  /** Curves, oldest first. */
  history (): { steps: StepPoint[], heldOut: HeldOutPoint[] } {
    const all = <T extends { t: number }>(m: Map<string, BoundedSeries<T>>): T[] =>
      [...m.values()].flatMap((s) => s.values()).sort((a, b) => a.t - b.t)
    return { steps: all(this.steps), heldOut: all(this.heldOut) }
  }

  logTail (): LogLine[] { return [...this.lines] }

  /** Points held in all (for tests and the page's footer): bounded by tasks x historyPoints. */
  size (): { points: number, lines: number, verifications: number } {
    const count = (m: Map<string, BoundedSeries<unknown>>): number => [...m.values()].reduce((n, s) => n + s.length, 0)
    const points = count(this.steps) + count(this.heldOut)
    return { points, lines: this.lines.length, verifications: this.verifications.size }
  }

  private verify (cid: string, v: CheckpointVerification): void {
    this.verifications.delete(cid)
    this.verifications.set(cid, v)
    for (const oldest of this.verifications.keys()) {
      if (this.verifications.size <= this.maxVerifications) break
      this.verifications.delete(oldest)
    }
  }

  /** The task's curve; none for a task beyond MAX_SERIES (steps fed from outside name tasks freely). */
  private series<T> (m: Map<string, BoundedSeries<T>>, task: string): BoundedSeries<T> | undefined {
    let s = m.get(task)
    if (s === undefined && m.size < MAX_SERIES) {
      s = new BoundedSeries<T>(this.historyPoints)
      m.set(task, s)
    }
    return s
  }

  private emit (update: DashboardUpdate): void {
    this.safeDispatchEvent('update', { detail: update })
  }
}

function short (id: string): string {
  return id.length <= 16 ? id : `${id.slice(0, 6)}…${id.slice(-6)}`
}
