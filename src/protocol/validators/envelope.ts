import type { GossipMessage } from '../messages.js'
import { ignore, reject, type ValidationContext, type ValidationFailure } from './result.js'

/**
 * REJECT rules shared by every message type. Checked before any IGNORE rule, so a forged or
 * misdirected message is always penalised, however stale it is.
 */
export function checkOrigin (msg: GossipMessage, ctx: ValidationContext): ValidationFailure | undefined {
  // [REJECT] The `peer` field equals the gossipsub `from` that signed the message (no forgery).
  if (msg.peer !== ctx.from) return reject('forged', `peer ${msg.peer} did not sign this message (from ${ctx.from})`)
  // [REJECT] The `run` field is the run of the topic the message arrived on.
  if (msg.run !== ctx.run) return reject('wrong-run', `message is for run ${msg.run}, topic is run ${ctx.run}`)
  // [REJECT] The `task` is one of the run manifest's tasks.
  if (!ctx.tasks.has(msg.task)) return reject('unknown-task', `task ${msg.task} is not in the run manifest`)
  return undefined
}

/** IGNORE rules on the sender's timestamp, shared by every message type. */
export function checkFreshness (msg: GossipMessage, ctx: ValidationContext): ValidationFailure | undefined {
  // [IGNORE] `ts` is at most MAX_CLOCK_SKEW_MS ahead of the receiver's clock.
  if (msg.ts > ctx.now + ctx.maxSkewMs) return ignore('future', `ts is ${msg.ts - ctx.now} ms in the future`)
  // [IGNORE] `ts` is at most MAX_MESSAGE_AGE_MS behind the receiver's clock.
  if (msg.ts < ctx.now - ctx.maxAgeMs) return ignore('stale', `ts is ${ctx.now - msg.ts} ms old`)
  return undefined
}

/** The IGNORE rule for replays, shared by every message type. */
export function checkDuplicate (key: string, ctx: ValidationContext): ValidationFailure | undefined {
  // [IGNORE] The message's identity (its validator's `dedupKey`) has not been accepted before.
  if (ctx.seen?.has(key, ctx.now) === true) return ignore('duplicate', 'already seen')
  return undefined
}
