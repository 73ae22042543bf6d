import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { MAX_NONCE_HEX_LENGTH, MAX_TASK_ID_LENGTH, MIN_NONCE_HEX_LENGTH } from './limits.js'

/**
 * A CID in its canonical string form (what `CID.toString()` prints). Requiring the canonical
 * form means two peers never disagree about whether two CID strings are equal.
 */
export const cidString = z.string().max(128).refine(isCanonicalCidString, { message: 'not a canonical CID string' })

/** A libp2p peer id as printed by `peerId.toString()` (base58btc or base32, no separators). */
export const peerIdString = z.string().regex(/^[A-Za-z0-9]{1,128}$/, 'not a peer id string')

/** A task id: a lowercase slug, e.g. `expert-3` or `router`. */
export const taskId = z.string().max(MAX_TASK_ID_LENGTH).regex(/^[a-z0-9][a-z0-9-]*$/, 'not a task id (lowercase slug)')

/** Milliseconds since the Unix epoch, as a sender's clock reads it. */
export const timestampMs = z.int().min(0)

/** Lowercase hex nonce of 8 to 32 bytes. */
export const nonceHex = z.string()
  .min(MIN_NONCE_HEX_LENGTH)
  .max(MAX_NONCE_HEX_LENGTH)
  .regex(/^(?:[0-9a-f]{2})+$/, 'not lowercase hex')

/** A real CID object, as dag-json decodes a `{"/": "..."}` link. */
export const cidLink = z.custom<CID>((value) => CID.asCID(value) != null, { message: 'not a CID link' })

/** Codecs a UnixFS file root can have: dag-pb (chunked file) or raw (single block). */
export const UNIXFS_CODECS: ReadonlySet<number> = new Set([0x70, 0x55])

export function isCanonicalCidString (value: string): boolean {
  try {
    return CID.parse(value).toString() === value
  } catch {
    return false
  }
}

/** Zod issues as `path: message` lines, for typed errors the CLI can print one per line. */
export function formatIssues (error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.')
    return path === '' ? issue.message : `${path}: ${issue.message}`
  })
}
