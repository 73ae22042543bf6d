/**
 * What a storage call takes: a signal and progress events, and for reads a deadline, known
 * providers, a size cap and offline mode; {@link toProviders} turns the providers into Helia's.
 */
import { isPeerId, type PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { AbortOptions, ProgressEvent, ProgressOptions } from '../progress.js'
import type { CID } from 'multiformats/cid'

export type StorageProgressEvents =
  | ProgressEvent<'hddm:storage:add:done', { cid: CID, bytes: number }>
  | ProgressEvent<'hddm:storage:pin:done', { cid: CID }>
  | ProgressEvent<'hddm:storage:provide:done', { cid: CID }>
  | ProgressEvent<'hddm:storage:get:size', { cid: CID, bytes: number }>
  | ProgressEvent<'hddm:storage:get:chunk', { cid: CID, received: number, total: number }>
  | ProgressEvent<'hddm:storage:get:done', { cid: CID, bytes: number }>
  | ProgressEvent<'hddm:storage:transfer:block', { cid: CID, received: number }>
  | ProgressEvent<'hddm:storage:transfer:refused', { cid: CID, peer: string, error: string }>

export interface StorageOptions extends AbortOptions, ProgressOptions<StorageProgressEvents> {}

export interface StorageGetOptions extends StorageOptions {
  /** Deadline of the whole fetch: a CID nobody holds fails with FetchTimeoutError. @default DEFAULT_FETCH_TIMEOUT_MS */
  timeoutMs?: number
  /**
   * Peers known to hold the content: multiaddrs, or peer ids (e.g. the `peer` of a checkpoint
   * message), whose addresses are then looked up in the swarm DHT.
   */
  providers?: Array<Multiaddr | PeerId | string>
  /** Refuse content larger than this many bytes (ContentTooLargeError), checked before downloading. */
  maxBytes?: number
  /** Only read the local blockstore; a missing block is BlockNotFoundError. */
  offline?: boolean
}

/** Helia takes multiaddrs or CIDs: a peer id (object or string) becomes its CID, a string multiaddr a Multiaddr. */
export function toProviders (providers?: StorageGetOptions['providers']): Array<Multiaddr | CID> | undefined {
  return providers?.map(p => {
    if (typeof p !== 'string') return isPeerId(p) ? p.toCID() : p
    return p.startsWith('/') ? multiaddr(p) : peerIdFromString(p).toCID()
  })
}

/** The providers the file transfer protocol can dial: peer ids and multiaddrs that name a peer. */
export function toPeers (providers?: StorageGetOptions['providers']): Array<PeerId | Multiaddr> {
  const out: Array<PeerId | Multiaddr> = []
  for (const p of providers ?? []) {
    if (typeof p !== 'string') out.push(p)
    else out.push(p.startsWith('/') ? multiaddr(p) : peerIdFromString(p))
  }
  return out.filter((p) => isPeerId(p) || p.getComponents().some((c) => c.name === 'p2p'))
}
