import type { ProgressMessage } from '../messages.js'
import { checkDuplicate, checkFreshness, checkOrigin } from './envelope.js'
import type { MessageValidator } from './result.js'

const dedupKey = (msg: ProgressMessage): string => `${msg.peer}/nonce/${msg.nonce}`

export const progressValidator: MessageValidator<ProgressMessage> = {
  validate (msg, ctx) {
    // [REJECT] forged, wrong run, unknown task (envelope.ts).
    // [REJECT] `step` is a non-negative integer and `loss` a finite non-negative number (schema).
    const origin = checkOrigin(msg, ctx)
    if (origin !== undefined) return origin
    // [IGNORE] future or stale ts (envelope.ts).
    const fresh = checkFreshness(msg, ctx)
    if (fresh !== undefined) return fresh
    // [IGNORE] The (peer, nonce) pair has not been seen before (claims and progress share nonces).
    return checkDuplicate(dedupKey(msg), ctx)
  },
  dedupKey
}
