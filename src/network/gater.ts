import { isLoopback, isPrivate } from '@libp2p/utils'
import type { ConnectionGater } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Which addresses a node may dial or accept connections from. `loopback` is for tests and
 * single-machine simulations, `private` for a LAN or lab cluster, `any` for the open swarm.
 */
export type NetworkScope = 'loopback' | 'private' | 'any'

export function inScope (scope: NetworkScope, ma: Multiaddr): boolean {
  switch (scope) {
    case 'any': return true
    case 'private': return isPrivate(ma) || isLoopback(ma)
    case 'loopback': return isLoopback(ma)
  }
}

export function scopeGater (scope: NetworkScope): ConnectionGater {
  if (scope === 'any') return {}
  return {
    denyDialMultiaddr: (ma) => !inScope(scope, ma),
    denyInboundConnection: (maConn) => !inScope(scope, maConn.remoteAddr)
  }
}
