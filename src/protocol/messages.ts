import { z } from 'zod'
import { cidString, nonceHex, peerIdString, taskId, timestampMs } from './schema-helpers.js'

/**
 * Fields every gossip message carries. `peer` must equal the gossipsub `from` that signed the
 * message (StrictSign), which binds the message to a key; `run` pins it to one run so that a
 * message replayed into another run's topic is rejected.
 */
const envelope = {
  v: z.literal(1),
  run: cidString,
  peer: peerIdString,
  ts: timestampMs
}

/** "I am taking `task` until `leaseUntil` unless someone claimed it earlier." */
export const ClaimMessageSchema = z.strictObject({
  ...envelope,
  type: z.literal('claim'),
  task: taskId,
  leaseUntil: timestampMs,
  nonce: nonceHex
})

/** "I am still training `task`": renews the sender's lease and reports the training loss. */
export const ProgressMessageSchema = z.strictObject({
  ...envelope,
  type: z.literal('progress'),
  task: taskId,
  step: z.int().min(0),
  loss: z.number().min(0),
  nonce: nonceHex
})

/** "The checkpoint of `task` at `step` is `cid`": lets anyone resume, evaluate or assemble it. */
export const CheckpointMessageSchema = z.strictObject({
  ...envelope,
  type: z.literal('checkpoint'),
  task: taskId,
  cid: cidString,
  step: z.int().min(0),
  final: z.boolean(),
  heldOutLoss: z.number().min(0)
})

/** "I stopped working on `task`": frees the sender's claim at once instead of at lease end. */
export const ReleaseMessageSchema = z.strictObject({
  ...envelope,
  type: z.literal('release'),
  task: taskId
})

export const GossipMessageSchema = z.discriminatedUnion('type', [
  ClaimMessageSchema,
  ProgressMessageSchema,
  CheckpointMessageSchema,
  ReleaseMessageSchema
])

export type ClaimMessage = z.infer<typeof ClaimMessageSchema>
export type ProgressMessage = z.infer<typeof ProgressMessageSchema>
export type CheckpointMessage = z.infer<typeof CheckpointMessageSchema>
export type ReleaseMessage = z.infer<typeof ReleaseMessageSchema>
export type GossipMessage = z.infer<typeof GossipMessageSchema>

/** A fresh 16-byte nonce, lowercase hex, from the platform CSPRNG. */
export function newNonce (): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
