/**
 * Content-addressed storage over the swarm ({@link createStorage}): Helia built light on the
 * swarm's libp2p node, FsBlockstore/FsDatastore under the data directory, bitswap for transfer
 * and the swarm DHT for routing. Large files (checkpoints, shards) are UnixFS, manifests
 * dag-json; whatever a node adds is pinned. Every fetch has a deadline: a CID nobody holds
 * fails with {@link FetchTimeoutError}, an offline miss with {@link BlockNotFoundError}.
 *
 * @example
 * ```ts
 * const storage = createStorage({ dataDir }, { libp2p: swarm.libp2p })
 * await storage.start()
 * const cid = await storage.addBytes(checkpointBytes)
 * await storage.provide(cid)                     // then announce the CID on gossip
 * const bytes = await other.getBytes(cid, { providers: [publisherPeerId], timeoutMs: 60_000 })
 * ```
 */
export * from './errors.js'
export { createStorage, Storage, type StorageInit, type StorageComponents } from './helia.js'
export type { StorageOptions, StorageGetOptions, StorageProgressEvents } from './options.js'
export { DEFAULT_FETCH_TIMEOUT_MS } from './fetch-signal.js'
