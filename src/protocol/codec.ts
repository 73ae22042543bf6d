import * as dagJson from '@ipld/dag-json'
import { equals } from 'uint8arrays/equals'
import { InvalidMessageError } from './errors.js'
import { MAX_GOSSIP_MESSAGE_BYTES } from './limits.js'
import { GossipMessageSchema, type GossipMessage } from './messages.js'
import { formatIssues } from './schema-helpers.js'

/**
 * Encodes a gossip message as canonical dag-json (map keys sorted, no whitespace), so equal
 * messages give equal bytes on every peer. Refuses to produce what a receiver would reject.
 *
 * @throws InvalidMessageError `schema` when the message is invalid, `too-large` over the cap
 */
export function encodeGossipMessage (msg: GossipMessage): Uint8Array {
  const parsed = GossipMessageSchema.safeParse(msg)
  if (!parsed.success) {
    throw new InvalidMessageError('schema', formatIssues(parsed.error).join('; '))
  }
  const bytes = dagJson.encode(parsed.data)
  checkSize(bytes)
  return bytes
}

/**
 * Decodes and schema-checks gossip bytes. The size cap is checked before parsing; bytes that are
 * valid dag-json but not in canonical form are refused, so that one message has one encoding
 * (and one content hash) only.
 *
 * @throws InvalidMessageError with code `too-large`, `malformed`, `schema` or `non-canonical`
 */
export function decodeGossipMessage (bytes: Uint8Array): GossipMessage {
  checkSize(bytes)
  let value: unknown
  try {
    value = dagJson.decode(bytes)
  } catch (err) {
    throw new InvalidMessageError('malformed', `not dag-json: ${(err as Error).message}`)
  }
  const parsed = GossipMessageSchema.safeParse(value)
  if (!parsed.success) {
    throw new InvalidMessageError('schema', formatIssues(parsed.error).join('; '))
  }
  if (!equals(dagJson.encode(parsed.data), bytes)) {
    throw new InvalidMessageError('non-canonical', 'bytes are not the canonical dag-json encoding')
  }
  return parsed.data
}

function checkSize (bytes: Uint8Array): void {
  if (bytes.byteLength <= MAX_GOSSIP_MESSAGE_BYTES) return
  throw new InvalidMessageError('too-large', `message is ${bytes.byteLength} bytes, cap is ${MAX_GOSSIP_MESSAGE_BYTES}`)
}
