import { peerIdFromCID } from '@libp2p/peer-id'
import type { Peer, Provider, Router, RoutingOptions } from 'helia'
import type { Libp2p, PeerInfo } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * Lets Helia ask the swarm's own libp2p routing (the private DHT) who provides a CID and where
 * a peer listens. It only answers from our swarm: no delegated routing, no public DHT.
 */
export class SwarmRouter implements Router {
  readonly name = 'hddm-swarm'
  private readonly libp2p: Libp2p

  constructor (libp2p: Libp2p) {
    this.libp2p = libp2p
  }

  async provide (cid: CID, options?: RoutingOptions): Promise<void> {
    await this.libp2p.contentRouting.provide(cid, options)
  }

  async * findProviders (cid: CID, options?: RoutingOptions): AsyncIterable<Provider> {
    for await (const info of this.libp2p.contentRouting.findProviders(cid, options)) {
      yield { ...toPeer(info), fallback: false }
    }
  }

  async findPeer (peer: CID, options?: RoutingOptions): Promise<Peer> {
    return toPeer(await this.libp2p.peerRouting.findPeer(peerIdFromCID(peer), options))
  }

  toString (): string { return 'SwarmRouter()' }
}

function toPeer (info: PeerInfo): Peer & { router: string } {
  return { id: info.id.toCID(), multiaddrs: info.multiaddrs, router: 'hddm-swarm' }
}
