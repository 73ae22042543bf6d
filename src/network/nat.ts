import { autoNAT } from '@libp2p/autonat'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { uPnPNAT } from '@libp2p/upnp-nat'
import { dialBack } from './dial-back.js'
import type { NetworkScope } from './gater.js'
import type { Libp2pOptions } from 'libp2p'

/** What one relayed connection (and the relay as a whole) may cost the peer that relays it. */
export interface RelayLimits {
  /** Peers holding a reservation at once. */
  maxReservations: number
  /** A relayed connection is closed after this long. */
  durationMs: number
  /** ... or after this many bytes in each direction, whichever comes first. */
  dataBytes: number
}

/**
 * Enough for what a relayed connection is for here (identify, the hole-punch handshake, a ping):
 * bitswap, gossip and samples never run on one (libp2p runs a protocol on a limited connection
 * only when it opts in, and none of ours does), so a NATed peer's bulk data goes over the direct
 * connections it dials itself, or the one DCUtR opens.
 */
export const DEFAULT_RELAY_LIMITS: RelayLimits = { maxReservations: 128, durationMs: 120_000, dataBytes: 1 << 20 }

export interface NatTraversalInit {
  /**
   * Relay for peers behind NAT (circuit relay v2 hop), with limits. Bootstrap peers do by default.
   * @default false
   */
  relayService?: boolean | Partial<RelayLimits>
  /**
   * Hold a reservation on a relay peer (the first connected peer that offers the hop protocol)
   * and advertise the relayed address, so that peers behind NAT can be dialled. @default false
   */
  relayReservation?: boolean
  /**
   * Ask the LAN's router for a port mapping over UPnP or NAT-PMP. Off unless asked for: it
   * multicasts on the LAN and changes the router's configuration (DESIGN.md section 2).
   * @default false
   */
  upnp?: boolean
}

type Services = Record<string, (components: any) => unknown>

/**
 * The NAT-traversal parts of an hddm peer: the circuit relay transport (every peer can dial a
 * relayed address), DCUtR (a relayed connection is upgraded to a direct one where the NATs
 * allow a hole punch), hddm's dial-back check (reachability.ts), and as asked: a relay service,
 * a reservation, UPnP. libp2p's AutoNAT runs only on the open swarm: it never tests private
 * addresses, and it needs 4 confirmations from distinct /16 networks, which a small swarm
 * rarely has; the dial-back check answers with one peer.
 */
export function natTraversal (init: NatTraversalInit, scope: NetworkScope): {
  transports: NonNullable<Libp2pOptions['transports']>
  listen: string[]
  services: Services
} {
  const services: Services = { dcutr: dcutr(), dialBack: dialBack() }
  if (scope === 'any') services.autoNAT = autoNAT()
  if (init.upnp === true) services.upnpNAT = uPnPNAT()
  if (init.relayService !== undefined && init.relayService !== false) {
    const limits = { ...DEFAULT_RELAY_LIMITS, ...(init.relayService === true ? {} : init.relayService) }
    services.relay = circuitRelayServer({
      reservations: {
        maxReservations: limits.maxReservations,
        applyDefaultLimit: true,
        defaultDurationLimit: limits.durationMs,
        defaultDataLimit: BigInt(limits.dataBytes)
      }
    })
  }
  return {
    transports: [circuitRelayTransport()],
    // `/p2p-circuit` makes the transport reserve a slot on a relay it finds among connected peers.
    listen: init.relayReservation === true ? ['/p2p-circuit'] : [],
    services
  }
}
