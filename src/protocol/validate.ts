import type { CID } from 'multiformats/cid'
import { decodeGossipMessage } from './codec.js'
import { InvalidMessageError } from './errors.js'
import { MAX_CLOCK_SKEW_MS, MAX_MESSAGE_AGE_MS } from './limits.js'
import type { GossipMessage } from './messages.js'
import { SeenCache } from './seen-cache.js'
import { checkpointValidator } from './validators/checkpoint.js'
import { claimValidator } from './validators/claim.js'
import { progressValidator } from './validators/progress.js'
import { releaseValidator } from './validators/release.js'
import { reject, type MessageValidator, type ValidationContext, type ValidationResult } from './validators/result.js'

export type {
  IgnoreCode, RejectCode, ValidationCode, ValidationContext, ValidationResult
} from './validators/result.js'

/** Context for a single validation; the clock bounds default to the protocol limits. */
type ClockBounds = 'maxSkewMs' | 'maxAgeMs'
export type GossipValidationContext =
  Omit<ValidationContext, ClockBounds> & Partial<Pick<ValidationContext, ClockBounds>>

const VALIDATORS: { [T in GossipMessage['type']]: MessageValidator<Extract<GossipMessage, { type: T }>> } = {
  claim: claimValidator,
  progress: progressValidator,
  checkpoint: checkpointValidator,
  release: releaseValidator
}

/**
 * Validates raw gossip bytes: size cap, canonical dag-json, schema, then the rules of the
 * message's type (src/protocol/validators/<type>.ts). REJECT rules run before IGNORE rules, so
 * misbehaviour is always penalised. An accepted message is recorded in `ctx.seen`.
 */
export function validateGossipMessage (bytes: Uint8Array, context: GossipValidationContext): ValidationResult {
  const ctx: ValidationContext = {
    ...context,
    maxSkewMs: context.maxSkewMs ?? MAX_CLOCK_SKEW_MS,
    maxAgeMs: context.maxAgeMs ?? MAX_MESSAGE_AGE_MS
  }
  let msg: GossipMessage
  try {
    // [REJECT] The bytes are at most MAX_GOSSIP_MESSAGE_BYTES long.
    // [REJECT] The bytes are dag-json, in canonical form, and match one message schema.
    msg = decodeGossipMessage(bytes)
  } catch (err) {
    if (err instanceof InvalidMessageError) return reject(err.code, err.message)
    throw err
  }
  const validator = VALIDATORS[msg.type] as MessageValidator<GossipMessage>
  const failure = validator.validate(msg, ctx)
  if (failure !== undefined) return failure
  ctx.seen?.add(validator.dedupKey(msg), msg.ts + ctx.maxAgeMs, ctx.now)
  return { action: 'accept', message: msg }
}

export interface GossipValidatorInit {
  /** The run this validator guards (one validator per run topic). */
  run: string | CID
  /** The run manifest, or just its task ids and lease duration. */
  manifest: { tasks: ReadonlyArray<{ id: string }>, leaseMs: number }
  /** Receiver's clock; default `Date.now`. */
  clock?: () => number
  maxSkewMs?: number
  maxAgeMs?: number
  /** Capacity of the duplicate filter; default SEEN_CACHE_SIZE. */
  seenCacheSize?: number
}

/** `(bytes, from) => result`: what a gossipsub topic validator calls for each message. */
export interface GossipValidator {
  (bytes: Uint8Array, from: string): ValidationResult
  /** Forgets accepted `bytes` (a publication that failed), so that they can be sent again. */
  forget: (bytes: Uint8Array) => void
}

/**
 * Builds the validator of one run topic. It owns its duplicate filter, so keep one instance per
 * topic for the life of the subscription.
 *
 * @example
 * ```ts
 * const validate = createGossipValidator({ run: runCid, manifest })
 * pubsub.topicValidators.set(runTopic(runCid), (from, msg) => {
 *   const result = validate(msg.data, from.toString())
 *   return result.action === 'accept' ? TopicValidatorResult.Accept
 *     : result.action === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
 * })
 * ```
 */
export function createGossipValidator (init: GossipValidatorInit): GossipValidator {
  const run = init.run.toString()
  const tasks = new Set(init.manifest.tasks.map((task) => task.id))
  const clock = init.clock ?? Date.now
  const seen = new SeenCache(init.seenCacheSize)
  const validate = (bytes: Uint8Array, from: string): ValidationResult => validateGossipMessage(bytes, {
    run,
    from,
    now: clock(),
    tasks,
    leaseMs: init.manifest.leaseMs,
    maxSkewMs: init.maxSkewMs,
    maxAgeMs: init.maxAgeMs,
    seen
  })
  const forget = (bytes: Uint8Array): void => {
    try {
      const msg = decodeGossipMessage(bytes)
      seen.delete((VALIDATORS[msg.type] as MessageValidator<GossipMessage>).dedupKey(msg))
    } catch {}
  }
  return Object.assign(validate, { forget })
}
