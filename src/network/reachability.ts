/**
 * What `hddm-node start` says about its own reachability, in one line with the fix (as Petals
 * does): a pure function of what the check found (reachability-check.ts), so that every case
 * is tested without a network.
 */

export type ReachabilityStatus = 'reachable' | 'nat' | 'firewalled' | 'unknown'

export interface ReachabilityState {
  /** The peer that dialled back; none when no connected peer answered the dial-back protocol. */
  checkedBy?: string
  /** Our IP as that peer saw it (a NAT router's, behind one). */
  observedHost?: string
  /** The IPs this node listens on (its own interfaces). */
  listenHosts: string[]
  /** Each TCP port we listen on, and whether the checking peer could open a connection to it. */
  ports: Array<{ port: number, reachable: boolean }>
  /** Relayed addresses we hold a reservation for (`.../p2p/<relay>/p2p-circuit/p2p/<us>`). */
  relayAddrs: string[]
}

export interface Reachability {
  status: ReachabilityStatus
  /** The one line printed at start. */
  line: string
  /** Addresses other peers can dial directly (empty unless reachable). */
  reachableAt: string[]
}

function ipProto (host: string): string { return host.includes(':') ? 'ip6' : 'ip4' }

function addrOf (host: string, port: number): string { return `/${ipProto(host)}/${host}/tcp/${port}` }

export function describeReachability (state: ReachabilityState): Reachability {
  const ports = state.ports.map((p) => p.port)
  const portText = ports.length === 1 ? `TCP port ${ports[0]}` : `TCP ports ${ports.join(', ')}`
  const relay = state.relayAddrs.length > 0 ? `using relay ${state.relayAddrs[0]}` : 'no relay reservation yet'
  if (state.checkedBy === undefined || state.observedHost === undefined) {
    return {
      status: 'unknown',
      line: `reachability unknown: no connected peer answered a dial-back check; ${relay}`,
      reachableAt: []
    }
  }
  const host = state.observedHost
  const behindNat = !state.listenHosts.includes(host) && !state.listenHosts.some(isWildcard)
  const open = state.ports.filter((p) => p.reachable).map((p) => addrOf(host, p.port))
  if (open.length > 0) {
    const how = behindNat ? ' (through a port forward on the NAT)' : ''
    return { status: 'reachable', line: `reachable at ${open.join(', ')}${how}`, reachableAt: open }
  }
  if (behindNat) {
    return {
      status: 'nat',
      line: `behind NAT (seen as ${host}), ${relay}; forward ${portText} to be reachable directly`,
      reachableAt: []
    }
  }
  return {
    status: 'firewalled',
    line: `not reachable at ${host} (a firewall?), ${relay}; open ${portText} to be reachable directly`,
    reachableAt: []
  }
}

/**
 * A node listening on 0.0.0.0 does not know which of its interfaces a peer saw: a different
 * observed address is then no proof of NAT, and it reports firewalled, not NAT.
 */
function isWildcard (host: string): boolean { return host === '0.0.0.0' || host === '::' }
