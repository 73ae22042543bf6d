import { peerIdFromString } from '@libp2p/peer-id'
import type { SwarmLibp2p } from '../network/swarm-node.js'

/**
 * Round-trip time to a peer over /ipfs/ping (dials it if needed), in ms. The connection
 * monitors of every connected peer ping over the same protocol with few streams allowed, so a
 * stream can be reset under us; that says nothing about the peer, and the ping is tried again.
 * Retries go over a fresh connection: the existing one may be closing without our knowing yet
 * (seen once in the chaos test: three pings in a row on a stream closed at once).
 */
export async function pingPeer (
  libp2p: Pick<SwarmLibp2p, 'services'>, peer: string, options: { signal?: AbortSignal } = {}
): Promise<number> {
  const { ping } = libp2p.services
  for (let attempt = 1; ; attempt++) {
    try {
      return await ping.ping(peerIdFromString(peer), { ...options, force: attempt > 1 })
    } catch (err) {
      if (attempt === 3 || options.signal?.aborted === true) throw err
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt))
    }
  }
}
