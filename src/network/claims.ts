import {
  DEFAULT_LEASE_MS, MAX_CLAIMS_PER_PEER_TASK, MAX_CLOCK_SKEW_MS, MAX_MESSAGE_AGE_MS
} from '../protocol/limits.js'
import { assignHolders, liveCandidates } from './claim-assignment.js'
import { CheckpointBook } from './checkpoint-book.js'
import { ClaimLog } from './claim-log.js'
import type {
  ApplyOutcome, CheckpointInfo, ClaimRefusal, ClaimTableInit, Holder, LeasePenalty, TaskCoverage
} from './claim-types.js'
import { EvidenceLedger } from './evidence-ledger.js'
import { innerMap } from './nested-map.js'
import type { Evidence, EvidenceHistory, EvidenceOutcome } from './evidence-log.js'
import type { GossipMessage } from '../protocol/messages.js'

interface ProgressInfo { ts: number, nonce: string, step: number, loss: number }

// Progress every few seconds for MAX_MESSAGE_AGE_MS stays far below this; it only stops a
// spamming peer from growing its own log without bound between folds.
const MAX_EVENTS_PER_PEER_TASK = 4096

/**
 * The claim table every peer of a run keeps (DESIGN section 6). Pure and deterministic: it
 * reads no clock (callers pass `receivedAt` and `now`) and does no I/O, and its answers depend
 * only on the set of messages applied, never on their order, so peers that saw the same
 * messages agree on every task's holders.
 *
 * Holders: the live claims of all tasks are taken in (ts, peer id) order; a claim wins if its
 * task still has fewer than R holders and its peer holds fewer than maxTasksPerPeer tasks (and
 * its address range fewer than maxTasksPerAddressRange, when set). A peer that did not win a
 * task it claimed should release it and pick another.
 *
 * With `evidenceMs` set, a peer's claims also need lease evidence (docs/PROTOCOL.md 5.8): the
 * node records the checkpoints it verified (`recordEvidence`), and claims of a holder that
 * showed none in time stop counting. Those verdicts and the address ranges (`rangeOf`) are this
 * node's inputs besides the messages; without them the answers depend on the messages alone.
 *
 * @example
 * ```ts
 * const table = new ClaimTable(manifest)
 * gossip.addEventListener('message', (e) => table.apply(e.detail.message, Date.now()))
 * const task = pickTask(myPeerId, table.freeTasks(Date.now()))
 * ```
 */
export class ClaimTable {
  private readonly replicas = new Map<string, number>()
  private readonly maxTasksPerPeer: number
  private readonly leaseMs: number
  private readonly maxSkewMs: number
  private readonly maxAgeMs: number
  private readonly logs = new Map<string, Map<string, ClaimLog>>()
  private readonly progress = new Map<string, Map<string, ProgressInfo>>()
  private readonly checkpoints = new CheckpointBook()
  /** Absent when leases need no evidence (`evidenceMs` unset). */
  private readonly evidence?: EvidenceLedger
  private readonly self?: string
  private readonly maxTasksPerRange?: number
  private readonly rangeOf?: (peer: string) => string | undefined
  /** Why each live claim lost in the latest assignment, by `task \0 peer`. */
  private refusals = new Map<string, ClaimRefusal>()
  /** The latest time this node's clock is known to have reached (receipts, `tick`). */
  private clock = -Infinity
  private latestReceipt = -Infinity
  private horizon = -Infinity

  constructor (init: ClaimTableInit) {
    for (const task of init.tasks) this.replicas.set(task.id, task.replicas ?? init.replicas ?? 1)
    this.maxTasksPerPeer = init.maxTasksPerPeer ?? 1
    this.leaseMs = init.leaseMs ?? DEFAULT_LEASE_MS
    this.maxSkewMs = init.maxSkewMs ?? MAX_CLOCK_SKEW_MS
    this.maxAgeMs = init.maxAgeMs ?? MAX_MESSAGE_AGE_MS
    if (init.evidenceMs !== undefined) {
      const penaltyMs = init.evidencePenaltyMs ?? init.evidenceMs
      const policy = { evidenceMs: init.evidenceMs, penaltyMs, leaseMs: this.leaseMs }
      const applies = (task: string, peer: string): boolean => peer !== this.self && this.replicas.has(task)
      this.evidence = new EvidenceLedger(policy, applies, MAX_EVENTS_PER_PEER_TASK)
    }
    this.self = init.self
    this.maxTasksPerRange = init.maxTasksPerAddressRange
    this.rangeOf = init.rangeOf
  }

  /** Task ids in manifest order. */
  get tasks (): string[] {
    return [...this.replicas.keys()]
  }

  /** Records a validated message received at `receivedAt` (the receiver's clock). */
  apply (msg: GossipMessage, receivedAt: number): ApplyOutcome {
    if (!this.replicas.has(msg.task)) return 'unknown-task'
    if (msg.ts > receivedAt + this.maxSkewMs) return 'future'
    if (msg.ts < receivedAt - this.maxAgeMs || msg.ts < this.horizon) return 'stale'
    this.clock = Math.max(this.clock, receivedAt)
    const outcome = this.record(msg)
    this.advanceHorizon(receivedAt)
    return outcome
  }

  /** Peer ids holding `task` at `now`, earliest claim first (at most R). */
  holders (task: string, now: number): string[] {
    return (this.assign(now).get(task) ?? []).map((h) => h.peer)
  }

  holderOf (task: string, now: number): string | undefined {
    return this.holders(task, now)[0]
  }

  isHeldBy (task: string, peer: string, now: number): boolean {
    return this.holders(task, now).includes(peer)
  }

  /** Tasks `peer` holds at `now`, in manifest order. */
  tasksHeldBy (peer: string, now: number): string[] {
    const assigned = this.assign(now)
    return this.tasks.filter((task) => assigned.get(task)?.some((h) => h.peer === peer) === true)
  }

  /** Tasks with fewer holders than replicas at `now`, in manifest order. */
  freeTasks (now: number): string[] {
    return this.snapshot(now).filter((row) => row.free).map((row) => row.task)
  }

  /** The coverage map: every task with its holders, their progress and the last checkpoint. */
  snapshot (now: number): TaskCoverage[] {
    const assigned = this.assign(now)
    return this.tasks.map((task) => {
      const replicas = this.replicas.get(task) ?? 1
      const holders = (assigned.get(task) ?? []).map((h) => {
        const p = this.progress.get(task)?.get(h.peer)
        return p === undefined ? h : { ...h, step: p.step, loss: p.loss, progressAt: p.ts }
      })
      const checkpoint = this.lastCheckpoint(task)
      const finals = this.checkpointsOf(task).filter((c) => c.final)
      const known = { ...(checkpoint === undefined ? {} : { checkpoint }), ...(finals.length === 0 ? {} : { finals }) }
      return { task, replicas, holders, free: holders.length < replicas, ...known }
    })
  }

  /** The most advanced checkpoint announced for `task` (highest step, then final, then latest). */
  lastCheckpoint (task: string): CheckpointInfo | undefined {
    return this.checkpoints.best(task)
  }

  /** Every checkpoint remembered for `task` (each peer's most advanced), best first. */
  checkpointsOf (task: string): CheckpointInfo[] {
    return this.checkpoints.ranked(task)
  }

  /**
   * Records a checkpoint of `task` announced by `peer` that this node fetched and checked as lease
   * evidence (node/lease-evidence.ts). `late` when it was stamped outside the peer's current chain.
   */
  recordEvidence (task: string, peer: string, evidence: Evidence): EvidenceOutcome | 'unknown-task' {
    const log = this.evidence?.logOf(task, peer)
    return log === undefined ? 'unknown-task' : log.addEvidence(evidence)
  }

  /** A check of `peer`'s announcement stamped `ts` has begun: it keeps counting meanwhile. */
  markEvidencePending (task: string, peer: string, ts: number): void {
    this.evidence?.logOf(task, peer)?.markPending(ts)
  }

  clearEvidencePending (task: string, peer: string, ts: number): void {
    this.evidence?.existing(task, peer)?.clearPending(ts)
  }

  /** The first and the most recent evidence this node verified for `peer` on `task`. */
  evidenceOf (task: string, peer: string): EvidenceHistory {
    return this.evidence?.history(task, peer) ?? {}
  }

  /** When `peer` must next show evidence for `task`, if it has an open chain. */
  evidenceDeadline (task: string, peer: string, now: number): number | undefined {
    this.settle(now)
    return this.evidence?.existing(task, peer)?.deadline()
  }

  /** Penalties in force at `now`. */
  penalties (now: number): LeasePenalty[] {
    this.settle(now)
    return this.evidence?.penaltiesAt(now) ?? []
  }

  /**
   * This node's clock has reached `now`: evidence deadlines up to it are settled (evidence-log.ts).
   * Queries never settle past the latest tick or receipt, because their times may come from a
   * peer (a post-dated `ts` asked about by `holders(task, msg.ts)` must not end a chain early).
   */
  tick (now: number): void {
    this.clock = Math.max(this.clock, now)
    this.settle(now)
  }

  /** Penalties imposed since the last call, oldest first (for logs). */
  takeImposedPenalties (): LeasePenalty[] {
    return this.evidence?.takeImposed() ?? []
  }

  /** Why `peer`'s live claim on `task` is not a holder at `now`; undefined if it holds or has none. */
  refusalOf (task: string, peer: string, now: number): ClaimRefusal | undefined {
    this.assign(now)
    return this.refusals.get(`${task}\u0000${peer}`)
  }

  /**
   * Records a checkpoint learned outside gossip (a peer's coverage map, after the checkpoint's
   * content was checked). Unlike a claim, a checkpoint does not expire, so it has no freshness
   * window: the same ordering as for announcements decides whether it supersedes what is known.
   */
  adoptCheckpoint (task: string, info: CheckpointInfo): ApplyOutcome {
    if (!this.replicas.has(task)) return 'unknown-task'
    return this.checkpoints.put(task, info)
  }

  private record (msg: GossipMessage): ApplyOutcome {
    switch (msg.type) {
      case 'claim': {
        if (msg.leaseUntil <= msg.ts || msg.leaseUntil - msg.ts > this.leaseMs) return 'bad-lease'
        const added = this.log(msg.task, msg.peer).addClaim(msg)
        if (added) this.evidence?.logOf(msg.task, msg.peer)?.addClaim(msg.ts)
        return added ? 'applied' : 'duplicate'
      }
      case 'progress': {
        const latest = this.progress.get(msg.task)?.get(msg.peer)
        if (latest === undefined || msg.ts > latest.ts || (msg.ts === latest.ts && msg.nonce > latest.nonce)) {
          const { ts, nonce, step, loss } = msg
          innerMap(this.progress, msg.task).set(msg.peer, { ts, nonce, step, loss })
        }
        const added = this.log(msg.task, msg.peer).addProgress(msg.ts)
        if (added) this.evidence?.logOf(msg.task, msg.peer)?.addProgress(msg.ts)
        return added ? 'applied' : 'duplicate'
      }
      case 'release':
        return this.log(msg.task, msg.peer).addRelease(msg.ts) ? 'applied' : 'duplicate'
      case 'checkpoint': {
        const { peer, cid, step, final, heldOutLoss, ts } = msg
        return this.checkpoints.put(msg.task, { peer, cid, step, final, heldOutLoss, ts })
      }
    }
  }

  private log (task: string, peer: string): ClaimLog {
    const peers = innerMap(this.logs, task)
    let log = peers.get(peer)
    if (log === undefined) {
      log = new ClaimLog(this.leaseMs, MAX_CLAIMS_PER_PEER_TASK, MAX_EVENTS_PER_PEER_TASK)
      peers.set(peer, log)
    }
    return log
  }

  /** Ends the evidence chains whose deadline has passed by `now`, as far as the clock has come. */
  private settle (now: number): void {
    this.evidence?.settle(Math.min(now, this.clock))
  }

  /**
   * Nothing older than `latest receipt - maxAgeMs` is accepted any more, so history before that
   * can be folded into each claim's state; folding once per second of receipt time is plenty.
   */
  private advanceHorizon (receivedAt: number): void {
    if (receivedAt <= this.latestReceipt) return
    this.latestReceipt = receivedAt
    const horizon = receivedAt - this.maxAgeMs
    if (horizon - this.horizon < 1000) return
    this.horizon = horizon
    for (const [task, peers] of this.logs) {
      for (const [peer, log] of peers) {
        log.fold(horizon)
        if (log.isEmpty) peers.delete(peer)
      }
      this.evidence?.forgetIdle(task, (peer) => peers.has(peer), horizon)
    }
  }

  /**
   * Greedy assignment of live claims in (ts, peer id, task) order; see the class comment. Claims
   * silenced by a missed evidence deadline are not candidates; a claim whose peer's address range
   * already holds `maxTasksPerAddressRange` tasks loses like one whose peer is full.
   */
  private assign (now: number): Map<string, Holder[]> {
    this.settle(now)
    const refusals = new Map<string, ClaimRefusal>()
    const countsFrom = (task: string, peer: string): number =>
      this.evidence?.existing(task, peer)?.countsFrom(now) ?? -Infinity
    const candidates = liveCandidates(this.logs, countsFrom, now, refusals)
    const assigned = assignHolders(candidates, refusals, {
      replicas: (task) => this.replicas.get(task) ?? 1,
      maxTasksPerPeer: this.maxTasksPerPeer,
      maxTasksPerRange: this.maxTasksPerRange,
      rangeOf: this.rangeOf
    })
    this.refusals = refusals
    return assigned
  }
}
