import { gossipsub, StrictSign } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { InvalidMultiaddrError, InvalidPeerIdError } from './errors.js'
import { allowlistGater, composeGaters, logRefusals, scopeGater, type NetworkScope } from './gater.js'
import { libp2pMetrics } from './libp2p-metrics.js'
import { natTraversal, type NatTraversalInit } from './nat.js'
import { parseSwarmKey } from './swarm-key.js'
import type { Logger } from '../logger.js'
import { gossipStreamKeeper, type GossipStreamKeeper } from './gossip-streams.js'
import { identifyRetry, type IdentifyRetry, type IdentifyRetryInit } from './identify-retry.js'
import { MESH_OPTIONS, type PubSub } from './pubsub.js'
import type { GossipSubComponents } from '@libp2p/gossipsub'
import type { Identify, IdentifyPush } from '@libp2p/identify'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { MulticastDNSInit } from '@libp2p/mdns'
import type { Ping } from '@libp2p/ping'
import type { Libp2pOptions } from 'libp2p'
import type { Registry } from 'prom-client'

export type SwarmServices = {
  identify: Identify, identifyRetry: IdentifyRetry, identifyPush: IdentifyPush, ping: Ping, dht: KadDHT
  pubsub: PubSub, gossipStreams: GossipStreamKeeper
}

/** Live connections repaired since start: identify run again (identify-retry.ts), gossipsub streams reopened. */
export interface RepairCounters { identify: number, gossipStreams: number }

type RepairServices = Pick<SwarmServices, 'identifyRetry' | 'gossipStreams'>

export function repairCounters (libp2p: { services: RepairServices }): RepairCounters {
  const { identifyRetry, gossipStreams } = libp2p.services
  return { identify: identifyRetry.retried, gossipStreams: gossipStreams.reopened }
}

/** Our DHT speaks its own protocol id, so it never merges with the public IPFS DHT. */
export const DHT_PROTOCOL = '/hddm/kad/1.0.0'

/** Tests and local simulations listen on an ephemeral loopback port unless told otherwise. */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0']

/**
 * RPC frame bound for gossip: well above any protocol message cap, so oversized messages reach
 * the validator and are scored.
 */
export const MAX_GOSSIP_RPC_BYTES = 1 << 20

/** Per-stream buffer of unread inbound data; storage bounds bitswap's in-flight blocks under it. */
export const MAX_STREAM_READ_BUFFER_BYTES = 16 * 1024 * 1024

export interface SwarmNetworkInit extends NatTraversalInit {
  /** Multiaddrs to listen on. @default DEFAULT_LISTEN */
  listen?: string[]
  /** Multiaddrs to advertise instead of the listen addresses (a public IP, a DNS name behind NAT). */
  announce?: string[]
  /** Multicast DNS discovery for a LAN. @default false */
  mdns?: boolean | MulticastDNSInit
  /** Which remote addresses may be dialled or accepted. @default 'any' */
  scope?: NetworkScope
  /** Gossipsub heartbeat; tests and benchmarks shorten it. @default 1000 */
  heartbeatIntervalMs?: number
  /** When a connection identify failed on is identified again (identify-retry.ts); tests shorten it. */
  identifyRetry?: IdentifyRetryInit
  /**
   * A private swarm's pre-shared key: the bytes of a `/key/swarm/psk/1.0.0/` file (`hddm-node
   * keygen`). Every connection is then also encrypted with it, so a peer without the same key
   * cannot connect at all. It is one secret for the whole swarm, not per-peer authentication.
   */
  swarmKey?: Uint8Array
  /**
   * Peer ids that may connect, either way: every other peer is refused once the handshake has
   * proved its id. Bootstrap peers are not exempt, so they must be listed too; an empty list
   * refuses everyone. @default any peer
   */
  allowPeers?: string[]
  /**
   * A prom-client registry for libp2p's own metrics (@libp2p/prometheus-metrics): connections,
   * dials, streams and bytes per protocol, the DHT, TCP. One registry per node, never prom-client's
   * global one (see libp2p-metrics.ts). @default no metrics
   */
  metrics?: Registry
}

export interface SwarmLibp2pComponents {
  privateKey: PrivateKey
  datastore?: Libp2pOptions['datastore']
  /** The disk whose usage libp2p's metrics report (the data directory). */
  statfsLocation?: string
  /** Where refused connections are reported. */
  logger?: Logger
}

/**
 * The full libp2p configuration of an hddm peer: TCP + Noise + Yamux, identify (gossipsub and
 * bitswap topologies wait for it), ping, gossipsub with StrictSign and run-topic scoring, a
 * private Kademlia DHT (peer and content routing inside the swarm: a peer that learns a CID and
 * its publisher's id from gossip can find the publisher's addresses and other providers) and
 * optional mDNS, and NAT traversal (nat.ts: relayed dials, DCUtR, the dial-back check; a relay
 * service, a relay reservation and UPnP when asked). Bootstrap peers are dialled by connectSwarm
 * (src/node/connect.ts) once storage runs, not by libp2p's bootstrap module. Nothing reaches
 * public infrastructure: no default bootstrappers, public DHT or relays, delegated routing,
 * autoTLS or WebRTC; UPnP only when asked for.
 */
export function swarmLibp2pOptions (
  init: SwarmNetworkInit, components: SwarmLibp2pComponents
): Libp2pOptions<SwarmServices> {
  const listen = (init.listen ?? DEFAULT_LISTEN).map(a => parseMultiaddr(a, 'listen'))
  const announce = (init.announce ?? []).map(a => parseMultiaddr(a, 'announce'))

  const allowPeers = init.allowPeers?.map(parsePeerId)
  const psk = init.swarmKey !== undefined ? parseSwarmKey(init.swarmKey) : undefined

  const scope = init.scope ?? 'any'
  const onRefusal = components.logger !== undefined ? logRefusals(components.logger) : undefined
  const gater = scopeGater(scope, onRefusal)
  const nat = natTraversal(init, scope)
  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = []
  if (init.mdns != null && init.mdns !== false) peerDiscovery.push(mdns(init.mdns === true ? {} : init.mdns))

  return {
    privateKey: components.privateKey,
    datastore: components.datastore,
    addresses: { listen: [...listen.map(String), ...nat.listen], announce: announce.map(String) },
    transports: [tcp(), ...nat.transports],
    connectionEncrypters: [noise()],
    // A bitswap reply carries several 1 MiB blocks on one stream and can arrive before the
    // handler reads it; yamux's 4 MiB default buffer then aborts the stream and the fetch hangs.
    streamMuxers: [yamux({ streamOptions: { maxReadBufferLength: MAX_STREAM_READ_BUFFER_BYTES } })],
    connectionGater: allowPeers !== undefined ? composeGaters(gater, allowlistGater(allowPeers, onRefusal)) : gater,
    // Wraps the raw socket before Noise: a peer without the key sends a handshake that decrypts to garbage.
    ...(psk !== undefined ? { connectionProtector: preSharedKey({ psk }) } : {}),
    // The connection monitor and the DHT both ping over /ipfs/ping/1.0.0, whose default limit is
    // one outbound stream per connection: the second ping fails and, by default, the monitor then
    // aborts a healthy connection (js-libp2p #3463, #3464). Dead TCP connections still surface as
    // socket errors and yamux keep-alive failures.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    // Loopback peers are processes on this machine (simulations, tests): exempt from the
    // per-host inbound rate limit (5/s), which otherwise refuses a burst of local peers joining.
    connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'] },
    peerDiscovery,
    ...(init.metrics !== undefined ? { metrics: libp2pMetrics(init.metrics, components.statfsLocation) } : {}),
    services: {
      ...nat.services,
      identify: identify(),
      // After identify, whose instance it reads: identify fails silently once and is never rerun.
      identifyRetry: identifyRetry(init.identifyRetry, components.logger?.child('identify-retry')),
      // Bitswap, the sample and coverage protocols register after libp2p has started, which may
      // already have redialled known peers (a restarted node does). Without a push those peers
      // keep the protocol list they saw first: no bitswap, so they never send us a want.
      identifyPush: identifyPush(),
      ping: ping({ maxOutboundStreams: 4, maxInboundStreams: 4 }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        // Every hddm peer answers DHT queries: swarms are small and peers are long-lived.
        clientMode: false,
        // On the open internet private addresses are noise; in a lab or on loopback they are all there is.
        peerInfoMapper: scope === 'any' ? removePrivateAddressesMapper : passthroughMapper
      }),
      pubsub: gossipsub({
        globalSignaturePolicy: StrictSign,
        allowPublishToZeroTopicPeers: true,
        heartbeatInterval: init.heartbeatIntervalMs ?? 1000,
        // Peer exchange on PRUNE, so that no subscriber is left without mesh peers (pubsub.ts).
        ...MESH_OPTIONS,
        maxInboundDataLength: MAX_GOSSIP_RPC_BYTES,
        scoreParams: {
          // Topic parameters are added per run on join (see pubsub.ts). Loopback peers share one IP
          // by construction (tests, simulations), so colocation must not penalise them.
          IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1'])
        }
      }) as (components: GossipSubComponents) => PubSub,
      // After pubsub, whose instance it reads: reopens the gossip streams gossipsub gives up on.
      gossipStreams: gossipStreamKeeper({}, components.logger?.child('gossip-streams'))
    }
  }
}

function parseMultiaddr (text: string, role: string): Multiaddr {
  try {
    return multiaddr(text)
  } catch (err) {
    throw new InvalidMultiaddrError(`invalid ${role} multiaddr ${JSON.stringify(text)}: ${(err as Error).message}`)
  }
}

function parsePeerId (text: string): PeerId {
  try {
    return peerIdFromString(text)
  } catch (err) {
    throw new InvalidPeerIdError(`allowlist entry ${JSON.stringify(text)} is not a peer id: ${(err as Error).message}`)
  }
}
