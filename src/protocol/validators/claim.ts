import type { ClaimMessage } from '../messages.js'
import { checkDuplicate, checkFreshness, checkOrigin } from './envelope.js'
import { ignore, reject, type MessageValidator } from './result.js'

const dedupKey = (msg: ClaimMessage): string => `${msg.peer}/nonce/${msg.nonce}`

export const claimValidator: MessageValidator<ClaimMessage> = {
  validate (msg, ctx) {
    // [REJECT] forged, wrong run, unknown task (envelope.ts).
    const origin = checkOrigin(msg, ctx)
    if (origin !== undefined) return origin
    // [REJECT] The lease ends after the claim is made: `leaseUntil > ts`.
    if (msg.leaseUntil <= msg.ts) return reject('bad-lease', 'leaseUntil is not after ts')
    // [REJECT] The lease is no longer than the run's lease duration: `leaseUntil - ts <= leaseMs`.
    const leaseMs = msg.leaseUntil - msg.ts
    if (leaseMs > ctx.leaseMs) return reject('bad-lease', `lease of ${leaseMs} ms exceeds the run's ${ctx.leaseMs} ms`)
    // [IGNORE] future or stale ts (envelope.ts).
    const fresh = checkFreshness(msg, ctx)
    if (fresh !== undefined) return fresh
    // [IGNORE] The lease has not already expired: `leaseUntil > now`.
    if (msg.leaseUntil <= ctx.now) return ignore('lease-expired', 'lease already expired')
    // [IGNORE] The (peer, nonce) pair has not been seen before.
    return checkDuplicate(dedupKey(msg), ctx)
  },
  dedupKey
}
