/**
 * What one peer said about one task: its claims, the progress timestamps that renew them, and
 * its releases. Pure data; the claim table asks it which of the peer's claims are live.
 *
 * A claim lives from its `ts` until its lease end. Progress from the same peer at time `p`
 * renews it to `p + leaseMs`, but only while it is still live (`p` before the current end): a
 * lapsed claim stays dead, so a peer that went silent cannot take a task back from whoever
 * re-claimed it. A release at `r` ends the peer's claims made at or before `r`.
 *
 * Every answer is a function of the set of events, not of their arrival order. `fold(horizon)`
 * compacts events older than the horizon into each claim's running state; it is exact because
 * the table never accepts an event older than the horizon afterwards.
 */
export interface ClaimEvent {
  ts: number
  leaseUntil: number
  nonce: string
}

interface ClaimState extends ClaimEvent {
  /** Lease end after the events folded so far. */
  end: number
  /** True once a folded release or a gap in renewals ended the claim for good. */
  closed: boolean
}

type Renewal = { kind: 'progress', ts: number } | { kind: 'release', ts: number }

export interface LiveClaim {
  ts: number
  nonce: string
  /** Lease end as of now (renewals included). */
  end: number
}

export class ClaimLog {
  private claims: ClaimState[] = []
  private events: Renewal[] = []

  constructor (
    private readonly leaseMs: number, private readonly maxClaims: number, private readonly maxEvents: number
  ) {}

  get isEmpty (): boolean {
    return this.claims.length === 0 && this.events.length === 0
  }

  /**
   * Adds a claim; false when it is already known. Keeps the earliest claim and the newest
   * `maxClaims - 1`: the earliest is where a holder's priority comes from (its renewals keep it
   * live), so a holder that re-claims on every beacon keeps the priority of its first claim and
   * a claim back-dated by at most the freshness window cannot sort before it once it is older
   * than that window. Both choices depend only on the set of claims, never on arrival order.
   */
  addClaim (claim: ClaimEvent): boolean {
    if (this.claims.some((c) => c.nonce === claim.nonce)) return false
    this.claims.push({ ...claim, end: claim.leaseUntil, closed: false })
    this.claims.sort(byTsThenNonce)
    if (this.claims.length > this.maxClaims) this.claims.splice(1, this.claims.length - this.maxClaims)
    return true
  }

  addProgress (ts: number): boolean {
    return this.addEvent({ kind: 'progress', ts })
  }

  addRelease (ts: number): boolean {
    return this.addEvent({ kind: 'release', ts })
  }

  /** The peer's claims that are live at `now`, earliest first. */
  live (now: number): LiveClaim[] {
    const out: LiveClaim[] = []
    for (const claim of this.claims) {
      const { end } = this.advance(claim, this.events)
      if (end > now) out.push({ ts: claim.ts, nonce: claim.nonce, end })
    }
    return out
  }

  /**
   * Folds events older than `horizon` into the claims and forgets them, and drops claims that
   * ended before it (nothing accepted later can revive them: a renewal must come before the end).
   */
  fold (horizon: number): void {
    const settled = this.events.filter((e) => e.ts < horizon)
    if (settled.length > 0) {
      for (const claim of this.claims) Object.assign(claim, this.advance(claim, settled))
      this.events = this.events.filter((e) => e.ts >= horizon)
    }
    this.claims = this.claims.filter((c) => c.end > horizon || c.ts >= horizon)
  }

  /** Runs a claim's lease forward through `events` (sorted by ts). */
  private advance (claim: ClaimState, events: Renewal[]): { end: number, closed: boolean } {
    let { end, closed } = claim
    for (const event of events) {
      if (closed) break
      if (event.ts < claim.ts) continue
      if (event.kind === 'release') {
        end = Math.min(end, event.ts)
        closed = true
      } else if (event.ts < end) {
        end = Math.max(end, event.ts + this.leaseMs)
      } else {
        closed = true
      }
    }
    return { end, closed }
  }

  private addEvent (event: Renewal): boolean {
    if (this.events.some((e) => e.kind === event.kind && e.ts === event.ts)) return false
    this.events.push(event)
    // Releases sort before progress at the same ms so that every peer replays ties alike.
    this.events.sort((a, b) => a.ts - b.ts || (a.kind === b.kind ? 0 : a.kind === 'release' ? -1 : 1))
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents)
    return true
  }
}

function byTsThenNonce (a: ClaimEvent, b: ClaimEvent): number {
  return a.ts - b.ts || (a.nonce < b.nonce ? -1 : a.nonce > b.nonce ? 1 : 0)
}
