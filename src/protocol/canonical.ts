import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

/** Multicodec code of dag-json (0x0129): the codec of run and ensemble manifest CIDs. */
export const DAG_JSON_CODE = dagJson.code

/**
 * Canonical dag-json bytes of a value: map keys sorted by dag-json's rule, no whitespace, and
 * object keys whose value is `undefined` dropped (an absent optional field and an explicit
 * `undefined` must hash the same; dag-json itself refuses `undefined`).
 */
export function encodeCanonical (value: unknown): Uint8Array {
  return dagJson.encode(dropUndefined(value))
}

/** CIDv1 (dag-json, sha2-256) of canonical bytes: the same value gives the same CID everywhere. */
export async function cidOfCanonical (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(DAG_JSON_CODE, await sha256.digest(bytes))
}

function dropUndefined (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropUndefined)
  const leaf = value === null || typeof value !== 'object' || value instanceof Uint8Array || CID.asCID(value) != null
  if (leaf) return value
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) {
    if (field !== undefined) out[key] = dropUndefined(field)
  }
  return out
}
