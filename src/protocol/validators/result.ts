import type { GossipMessage } from '../messages.js'
import type { SeenCache } from '../seen-cache.js'

/**
 * Why a message was refused. Bounded, so it can label a metric. REJECT codes mean the sender
 * misbehaved (gossipsub penalises it); IGNORE codes mean the message is merely not useful now.
 */
export type RejectCode =
  | 'too-large' | 'malformed' | 'non-canonical' | 'schema'
  | 'forged' | 'wrong-run' | 'unknown-task' | 'bad-lease' | 'bad-cid'
export type IgnoreCode = 'future' | 'stale' | 'lease-expired' | 'duplicate'
export type ValidationCode = RejectCode | IgnoreCode

export type ValidationResult =
  | { action: 'accept', message: GossipMessage }
  | { action: 'reject', code: RejectCode, reason: string }
  | { action: 'ignore', code: IgnoreCode, reason: string }

export type ValidationFailure = Exclude<ValidationResult, { action: 'accept' }>

/** What a validator needs to know about the receiver; everything else comes from the bytes. */
export interface ValidationContext {
  /** Canonical CID string of the run whose topic the message arrived on. */
  run: string
  /** The gossipsub `from` whose signature StrictSign verified. */
  from: string
  /** Receiver's clock, ms since the epoch. */
  now: number
  /** Task ids of the run manifest. */
  tasks: ReadonlySet<string>
  /** The run's lease duration: the longest lease a claim may ask for. */
  leaseMs: number
  /** Defaults: MAX_CLOCK_SKEW_MS and MAX_MESSAGE_AGE_MS. */
  maxSkewMs: number
  maxAgeMs: number
  /** Duplicate filter; validators only read it, the dispatcher records accepted messages. */
  seen?: SeenCache
}

/** One message type's rules: `validate` returns undefined when every rule passes. */
export interface MessageValidator<M extends GossipMessage> {
  validate: (msg: M, ctx: ValidationContext) => ValidationFailure | undefined
  /** Identity of the message for the duplicate filter. */
  dedupKey: (msg: M) => string
}

export function reject (code: RejectCode, reason: string): ValidationFailure {
  return { action: 'reject', code, reason }
}

export function ignore (code: IgnoreCode, reason: string): ValidationFailure {
  return { action: 'ignore', code, reason }
}
