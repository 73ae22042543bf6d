import { CID } from 'multiformats/cid'
import type { CheckpointMessage } from '../messages.js'
import { UNIXFS_CODECS } from '../schema-helpers.js'
import { checkDuplicate, checkFreshness, checkOrigin } from './envelope.js'
import { reject, type MessageValidator } from './result.js'

const dedupKey = (msg: CheckpointMessage): string => `${msg.peer}/checkpoint/${msg.task}/${msg.cid}`

export const checkpointValidator: MessageValidator<CheckpointMessage> = {
  validate (msg, ctx) {
    // [REJECT] forged, wrong run, unknown task (envelope.ts).
    // [REJECT] `cid` is a canonical CID string, `step` a non-negative integer, `heldOutLoss`
    //          a finite non-negative number (schema).
    const origin = checkOrigin(msg, ctx)
    if (origin !== undefined) return origin
    // [REJECT] `cid` addresses a UnixFS file (codec dag-pb or raw): checkpoints are files.
    if (!UNIXFS_CODECS.has(CID.parse(msg.cid).code)) {
      return reject('bad-cid', 'checkpoint CID is not a UnixFS file (dag-pb or raw)')
    }
    // [IGNORE] future or stale ts (envelope.ts).
    const fresh = checkFreshness(msg, ctx)
    if (fresh !== undefined) return fresh
    // [IGNORE] The same (peer, task, cid) announcement has not been seen before.
    return checkDuplicate(dedupKey(msg), ctx)
  },
  dedupKey
}
