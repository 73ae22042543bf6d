/**
 * The lease-evidence state of a whole claim table: one EvidenceLog per (task, peer) the rule
 * applies to, the penalties they impose as this node's clock passes their deadlines, and when a
 * peer's state may be forgotten. Pure data; ClaimTable (claims.ts) asks it whose claims count.
 */
import type { LeasePenalty } from './claim-types.js'
import { EvidenceLog, type EvidenceHistory, type EvidencePolicy } from './evidence-log.js'
import { innerMap } from './nested-map.js'

export class EvidenceLedger {
  private readonly logs = new Map<string, Map<string, EvidenceLog>>()
  private readonly imposed: LeasePenalty[] = []

  /**
   * @param applies whether the evidence rule covers (task, peer): not this node, known tasks only
   * @param maxEvents bound on each log's events and on the penalties kept for `takeImposed`
   */
  constructor (
    private readonly policy: EvidencePolicy,
    private readonly applies: (task: string, peer: string) => boolean,
    private readonly maxEvents: number
  ) {}

  /** The log of (task, peer), created on first use; undefined where the rule does not apply. */
  logOf (task: string, peer: string): EvidenceLog | undefined {
    if (!this.applies(task, peer)) return undefined
    const peers = innerMap(this.logs, task)
    let log = peers.get(peer)
    if (log === undefined) {
      log = new EvidenceLog(this.policy, this.maxEvents)
      peers.set(peer, log)
    }
    return log
  }

  /** The log of (task, peer) if it exists; never creates one. */
  existing (task: string, peer: string): EvidenceLog | undefined {
    return this.logs.get(task)?.get(peer)
  }

  history (task: string, peer: string): EvidenceHistory {
    return { ...this.existing(task, peer)?.history }
  }

  /** Ends the chains whose deadline has passed by `until`; their penalties wait in `takeImposed`. */
  settle (until: number): void {
    for (const [task, peers] of this.logs) {
      for (const [peer, log] of peers) {
        for (const p of log.settle(until)) this.imposed.push({ task, peer, ...p })
      }
    }
    // Only a reader that never takes them lets these pile up; keep the newest.
    const excess = this.imposed.length - this.maxEvents
    if (excess > 0) this.imposed.splice(0, excess)
  }

  /** Penalties in force at `now` (call `settle` first). */
  penaltiesAt (now: number): LeasePenalty[] {
    const out: LeasePenalty[] = []
    for (const [task, peers] of this.logs) {
      for (const [peer, log] of peers) {
        const p = log.penaltyAt(now)
        if (p !== undefined) out.push({ task, peer, ...p })
      }
    }
    return out
  }

  /** Penalties imposed since the last call, oldest first. */
  takeImposed (): LeasePenalty[] {
    return this.imposed.splice(0, this.imposed.length)
  }

  /**
   * A penalty must outlive every claim it silences: a peer's state on `task` is forgotten only
   * once it has no claim left there (`claims`) and its log is idle at `horizon`.
   */
  forgetIdle (task: string, claims: (peer: string) => boolean, horizon: number): void {
    const peers = this.logs.get(task)
    for (const [peer, log] of peers ?? []) {
      if (!claims(peer) && log.isIdle(horizon)) peers?.delete(peer)
    }
  }
}
