import type { ReleaseMessage } from '../messages.js'
import { checkDuplicate, checkFreshness, checkOrigin } from './envelope.js'
import type { MessageValidator } from './result.js'

const dedupKey = (msg: ReleaseMessage): string => `${msg.peer}/release/${msg.task}/${msg.ts}`

export const releaseValidator: MessageValidator<ReleaseMessage> = {
  validate (msg, ctx) {
    // [REJECT] forged, wrong run, unknown task (envelope.ts).
    const origin = checkOrigin(msg, ctx)
    if (origin !== undefined) return origin
    // [IGNORE] future or stale ts (envelope.ts).
    const fresh = checkFreshness(msg, ctx)
    if (fresh !== undefined) return fresh
    // [IGNORE] The same (peer, task, ts) release has not been seen before.
    return checkDuplicate(dedupKey(msg), ctx)
  },
  dedupKey
}
