/** The claim table's inputs and answers (claims.ts), and the order of announced checkpoints. */
import type { Penalty } from './evidence-log.js'

/** A run manifest satisfies this; tests may pass just the fields. */
export interface ClaimTableInit {
  tasks: ReadonlyArray<{ id: string, replicas?: number }>
  /** Holders per task unless the task overrides it; default 1. */
  replicas?: number
  /** Tasks one peer may hold at once; its later claims beyond that do not count. Default 1. */
  maxTasksPerPeer?: number
  /** How far one progress message renews a lease; default DEFAULT_LEASE_MS. */
  leaseMs?: number
  maxSkewMs?: number
  maxAgeMs?: number
  /**
   * Lease evidence (docs/PROTOCOL.md 5.8): a holder's claims stop counting unless it shows
   * evidence (`recordEvidence`) within this long of its claim, then of its last evidence.
   * Absent: leases need no evidence (a table fed by messages alone, as in the unit tests).
   */
  evidenceMs?: number
  /** How long a holder that missed its deadline has its claims ignored; default evidenceMs. */
  evidencePenaltyMs?: number
  /** This node's peer id: its own claims always count (it knows whether it trains). */
  self?: string
  /** Tasks the peers of one address range may hold (docs/PROTOCOL.md 5.9); absent: no cap. */
  maxTasksPerAddressRange?: number
  /** The address range of a peer as this node observes it; undefined when it does not know. */
  rangeOf?: (peer: string) => string | undefined
}

/** Why a live claim is not among the holders at some time. */
export type ClaimRefusal = 'no-evidence' | 'task-full' | 'peer-full' | 'range-full'

/** A penalty for a missed evidence deadline, with its task and peer. */
export interface LeasePenalty extends Penalty {
  task: string
  peer: string
}

/** Why `apply` did or did not change the table. */
export type ApplyOutcome = 'applied' | 'duplicate' | 'superseded' | 'unknown-task' | 'future' | 'stale' | 'bad-lease'

export interface Holder {
  peer: string
  /** `ts` of the claim that gives this peer its place. */
  since: number
  /** Lease end, renewals included. */
  leaseUntil: number
  /** Latest reported progress of this peer on this task, if any. */
  step?: number
  loss?: number
  progressAt?: number
}

export interface CheckpointInfo {
  peer: string
  cid: string
  step: number
  final: boolean
  heldOutLoss: number
  ts: number
}

/** One row of the coverage map. */
export interface TaskCoverage {
  task: string
  replicas: number
  holders: Holder[]
  /** True while the task has fewer holders than replicas. */
  free: boolean
  checkpoint?: CheckpointInfo
  /**
   * Every final checkpoint announced for the task, best first (compareCheckpoints): with
   * replicas there may be several, and assembly verifies each and keeps the best by held-out
   * loss. Absent while the task has none.
   */
  finals?: CheckpointInfo[]
}

/** Checkpoints by progress: higher step, then final, then later, then CID and peer as tie-breaks. */
export function compareCheckpoints (a: CheckpointInfo, b: CheckpointInfo): number {
  return a.step - b.step || Number(a.final) - Number(b.final) || a.ts - b.ts ||
    compareIds(a.cid, b.cid) || compareIds(a.peer, b.peer)
}

/** Plain string order (not locale order): every peer must sort ids alike. */
export function compareIds (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
