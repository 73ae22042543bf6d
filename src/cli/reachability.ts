/**
 * The NAT flags of `hddm-node start` and `bootstrap`, and the one reachability line `start`
 * prints once it has joined (src/network/reachability.ts has the cases).
 */
import { Option } from 'commander'
import { checkReachability, type ReachabilityReport } from '../network/reachability-check.js'
import type { Logger } from '../logger.js'
import type { NatTraversalInit } from '../network/nat.js'
import type { Libp2p } from '@libp2p/interface'

export interface NatFlags {
  /** commander's `--no-relay`: hold a relay reservation unless turned off. */
  relay: boolean
  relayService: boolean
  upnp: boolean
}

export function natOptions (relayServiceByDefault: boolean): Option[] {
  const service = relayServiceByDefault
    ? new Option('--no-relay-service', 'do not relay for peers behind NAT (circuit relay v2, with limits)')
    : new Option('--relay-service', 'relay for peers behind NAT (circuit relay v2, with limits); ' +
      'for public nodes').default(false)
  return [
    new Option('--no-relay', 'hold no relay reservation (a node behind NAT then cannot be dialled)'),
    service,
    new Option('--upnp', 'ask the LAN router for a port mapping (UPnP / NAT-PMP)').default(false)
  ]
}

export function natInit (o: Partial<NatFlags>): NatTraversalInit {
  return { relayReservation: o.relay !== false, relayService: o.relayService === true, upnp: o.upnp === true }
}

/**
 * Runs the self-check and hands its report to `print`; never throws (a failed check is logged).
 * @returns a function that cancels a check still running
 */
export function reportReachability (
  libp2p: Pick<Libp2p, 'getMultiaddrs' | 'getConnections' | 'dialProtocol'>, prefer: string[],
  print: (report: ReachabilityReport) => void, logger: Logger
): () => void {
  const controller = new AbortController()
  checkReachability(libp2p, { prefer, signal: controller.signal })
    .then(print)
    .catch((err: Error) => { if (!controller.signal.aborted) logger.warn('reachability check failed', {}, err) })
  return () => { controller.abort() }
}
