/**
 * Lease evidence of one peer on one task (docs/PROTOCOL.md section 5.8): when its claims began,
 * which of its checkpoints this node verified as evidence, and the penalties it earned. Pure
 * data, like ClaimLog; the claim table asks it which of the peer's claims still count.
 *
 * A *chain* opens with the peer's first claim outside a penalty. Its deadline is `evidenceMs`
 * after that claim, then after the latest evidence in time (each evidence must be stamped before
 * the deadline the previous ones gave). Once the deadline has passed and no check of a
 * checkpoint announced before it is still running here, the chain ends:
 * - if the peer was active on the task within a lease of the deadline (a claim or a renewal
 *   stamped in `(deadline - leaseMs, deadline]`), it is penalised: from the deadline on, none of
 *   its claims stamped before `deadline + penaltyMs` count. A release just before the deadline
 *   does not dodge this: the renewal a moment before it is within a lease.
 * - otherwise it had left the task (a lost claim race, a finished task) and the chain closes.
 * Its next claim after that opens a new chain. Claims and renewals enter by their stamps, so the
 * chains depend on the messages, not on their order; evidence enters when this node's check of it
 * ends, and penalties are decided once this node's clock has passed a deadline (ClaimTable.tick).
 */

/** A checkpoint this node verified as lease evidence. */
export interface Evidence {
  /** `ts` of its announcement. */
  ts: number
  step: number
  /** Held-out score recomputed here (lower is better), for the next evidence to compare with. */
  score: number
}

export interface Penalty {
  from: number
  /** Claims stamped before this do not count from `from` on. */
  until: number
}

export interface EvidencePolicy {
  evidenceMs: number
  penaltyMs: number
  leaseMs: number
}

/** A peer's verified evidence on a task: the first sets the bar for learning, the latest the next step. */
export interface EvidenceHistory {
  first?: Evidence
  latest?: Evidence
}

/** Whether evidence was stamped within the current chain, before its deadline. */
export type EvidenceOutcome = 'counted' | 'late'

interface Chain {
  start: number
  /** Where the deadline walk starts: the chain's start, or evidence folded out of the list. */
  anchor: number
}

// Evidence kept per chain for the deadline walk; older evidence is folded into the anchor.
const MAX_EVIDENCE = 16
// Penalties remembered; the newest has the latest `until`, which is what later times need.
const MAX_PENALTIES = 4

export class EvidenceLog {
  /** The peer's earliest and most recent verified evidence on the task, in any chain. */
  readonly history: EvidenceHistory = {}
  private chain?: Chain
  /** Claims stamped before this cannot open a chain (the end of the last chain or penalty). */
  private blockedUntil = -Infinity
  private claims: number[] = []
  private activity: number[] = []
  private evidence: Evidence[] = []
  private penalties: Penalty[] = []
  private readonly pending = new Set<number>()

  constructor (private readonly policy: EvidencePolicy, private readonly maxEvents: number) {}

  /** Nothing left that could change an answer about claims stamped at or after `horizon`. */
  isIdle (horizon: number): boolean {
    return this.chain === undefined && this.pending.size === 0 && this.blockedUntil <= horizon
  }

  addClaim (ts: number): void {
    insertSorted(this.claims, ts, this.maxEvents)
    insertSorted(this.activity, ts, this.maxEvents)
    if (ts < this.blockedUntil) return
    if (this.chain === undefined) this.chain = { start: ts, anchor: ts }
    else if (ts < this.chain.start) this.chain = { start: ts, anchor: Math.min(this.chain.anchor, ts) }
  }

  addProgress (ts: number): void {
    insertSorted(this.activity, ts, this.maxEvents)
  }

  /** A checkpoint announced at `ts` is being checked here: its holder keeps counting meanwhile. */
  markPending (ts: number): void { this.pending.add(ts) }

  clearPending (ts: number): void { this.pending.delete(ts) }

  addEvidence (evidence: Evidence): EvidenceOutcome {
    const { first, latest } = this.history
    if (first === undefined || evidence.ts < first.ts) this.history.first = evidence
    if (latest === undefined || evidence.ts > latest.ts) this.history.latest = evidence
    const deadline = this.deadline()
    const chain = this.chain
    if (chain === undefined || deadline === undefined) return 'late'
    if (evidence.ts < chain.start || evidence.ts > deadline) return 'late'
    this.evidence.push(evidence)
    this.evidence.sort((a, b) => a.ts - b.ts)
    while (this.evidence.length > MAX_EVIDENCE) {
      const oldest = this.evidence.shift() as Evidence
      // The deadline walk would have stepped onto it: start the walk there instead.
      if (oldest.ts >= chain.anchor && oldest.ts <= chain.anchor + this.policy.evidenceMs) chain.anchor = oldest.ts
    }
    return 'counted'
  }

  /** The current chain's deadline, if one is open. */
  deadline (): number | undefined {
    if (this.chain === undefined) return undefined
    let last = this.chain.anchor
    for (const e of this.evidence) {
      if (e.ts < last) continue
      if (e.ts > last + this.policy.evidenceMs) break
      last = e.ts
    }
    return last + this.policy.evidenceMs
  }

  /**
   * Ends every chain whose deadline is at or before `now` (see the file comment); returns the
   * penalties this imposed. A later call with an earlier `now` changes nothing.
   */
  settle (now: number): Penalty[] {
    const imposed: Penalty[] = []
    for (let deadline = this.deadline(); deadline !== undefined && deadline <= now; deadline = this.deadline()) {
      const start = (this.chain as Chain).start
      // A checkpoint announced in time whose check has not ended yet: wait for its verdict.
      if ([...this.pending].some((ts) => ts >= start && ts <= deadline)) break
      const active = this.activity.some((ts) => ts > deadline - this.policy.leaseMs && ts <= deadline)
      if (active) {
        const penalty = { from: deadline, until: deadline + this.policy.penaltyMs }
        this.penalties.push(penalty)
        if (this.penalties.length > MAX_PENALTIES) this.penalties.shift()
        imposed.push(penalty)
        this.blockedUntil = penalty.until
      } else {
        this.blockedUntil = deadline + 1
      }
      this.chain = undefined
      this.evidence = []
      const next = this.claims.find((ts) => ts >= this.blockedUntil)
      if (next !== undefined) this.chain = { start: next, anchor: next }
      // What no later decision reads: claims before the next chain can open, activity more than
      // a lease before the next deadline (deadlines only move forward).
      this.claims = this.claims.filter((ts) => ts >= this.blockedUntil)
      const horizon = (this.deadline() ?? this.blockedUntil) - this.policy.leaseMs
      this.activity = this.activity.filter((ts) => ts > Math.min(horizon, deadline))
    }
    return imposed
  }

  /** Claims stamped before the returned time do not count at `now` (-Infinity: all count). */
  countsFrom (now: number): number {
    let from = -Infinity
    for (const p of this.penalties) if (p.from <= now) from = Math.max(from, p.until)
    return from
  }

  /** The penalty in force at `now`, if any. */
  penaltyAt (now: number): Penalty | undefined {
    return this.penalties.findLast((p) => p.from <= now && now < p.until)
  }
}

function insertSorted (list: number[], value: number, max: number): void {
  let i = list.length
  while (i > 0 && list[i - 1] > value) i--
  if (list[i - 1] === value) return
  list.splice(i, 0, value)
  if (list.length > max) list.shift()
}
