/**
 * The hddm wire protocol: what peers say to each other and how a receiver judges it.
 *
 * - Gossip: one topic per run, `/hddm/1/run/<runCID>` ({@link runTopic}). Four message types
 *   ({@link GossipMessage}: `claim`, `progress`, `checkpoint`, `release`), each canonical
 *   dag-json ({@link encodeGossipMessage}), signed by gossipsub StrictSign, at most
 *   {@link MAX_GOSSIP_MESSAGE_BYTES} bytes.
 * - Validation: {@link createGossipValidator} returns `accept`, `reject` (the sender misbehaved:
 *   malformed, forged, wrong run, unknown task, impossible values) or `ignore` (stale, future,
 *   duplicate). The rules live one file per type in `validators/` and in docs/PROTOCOL.md.
 * - Manifests: a run manifest ({@link RunManifestSchema}, manifests/*.json) is resolved with its
 *   data shards and stored as dag-json; its CID ({@link runIdOf}) is the run id. An ensemble
 *   manifest ({@link ensembleIdOf}) names a model: router + experts by CID.
 *
 * @example
 * ```ts
 * const validate = createGossipValidator({ run: runCid, manifest })
 * const bytes = encodeGossipMessage({ v: 1, type: 'claim', run: runCid.toString(), peer, ts: now,
 *   task: 'expert-0', leaseUntil: now + manifest.leaseMs, nonce: newNonce() })
 * validate(bytes, peer) // { action: 'accept', message }
 * ```
 */
export * from './limits.js'
export * from './topics.js'
export * from './messages.js'
export * from './codec.js'
export * from './validate.js'
export { SeenCache } from './seen-cache.js'
export * from './canonical.js'
export * from './run-manifest.js'
export * from './task-plan.js'
export * from './ensemble-manifest.js'
export * from './sample-messages.js'
