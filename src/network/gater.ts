import { isLoopback, isPrivate } from '@libp2p/utils'
import type { Logger } from '../logger.js'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Which addresses a node may dial or accept connections from. `loopback` is for tests and
 * single-machine simulations, `private` for a LAN or lab cluster, `any` for the open swarm.
 */
export type NetworkScope = 'loopback' | 'private' | 'any'

/** Why a gater refused a connection: logs and tests match on it. */
export type ConnectionRefusalReason = 'out-of-scope' | 'not-on-allowlist'

export interface ConnectionRefusal {
  reason: ConnectionRefusalReason
  /** `outbound` covers both a refused dial and a dialled address that turned out to be another peer. */
  direction: 'inbound' | 'outbound'
  /** The remote peer id, once known (not for out-of-scope addresses). */
  peer?: string
  addr?: string
}

export type OnRefusal = (refusal: ConnectionRefusal) => void

/** Multiaddr code of tcp: what follows the host in a remote address. */
const TCP = 6

export function inScope (scope: NetworkScope, ma: Multiaddr): boolean {
  switch (scope) {
    case 'any': return true
    case 'private': return isPrivate(ma) || isLoopback(ma)
    case 'loopback': return isLoopback(ma)
  }
}

export function scopeGater (scope: NetworkScope, onRefusal: OnRefusal = () => {}): ConnectionGater {
  if (scope === 'any') return {}
  return {
    // Dials are not reported: the DHT hands out peers' LAN and public addresses all the time.
    denyDialMultiaddr: (ma) => !inScope(scope, ma),
    denyInboundConnection: (maConn) => {
      if (inScope(scope, maConn.remoteAddr)) return false
      // The host only: a scanner comes from a new port each time, and is logged once (logRefusals).
      const host = maConn.remoteAddr.decapsulateCode(TCP).toString()
      onRefusal({ reason: 'out-of-scope', direction: 'inbound', addr: host })
      return true
    }
  }
}

/**
 * Only the listed peers, either way. Inbound peers are checked once the encryption handshake
 * has proved their id; an outbound dial is refused before it starts when the peer id is known,
 * and after the handshake when only an address was dialled.
 */
export function allowlistGater (allowPeers: PeerId[], onRefusal: OnRefusal = () => {}): ConnectionGater {
  const allowed = new Set(allowPeers.map(String))
  const deny = (direction: ConnectionRefusal['direction'], peer: PeerId, addr?: Multiaddr): boolean => {
    if (allowed.has(peer.toString())) return false
    onRefusal({ reason: 'not-on-allowlist', direction, peer: peer.toString(), addr: addr?.toString() })
    return true
  }
  return {
    denyDialPeer: (peer) => deny('outbound', peer),
    denyInboundEncryptedConnection: (peer, maConn) => deny('inbound', peer, maConn.remoteAddr),
    denyOutboundEncryptedConnection: (peer, maConn) => deny('outbound', peer, maConn.remoteAddr)
  }
}

type GaterFn = (...args: unknown[]) => boolean | Promise<boolean>

/** A connection passes only if every gater lets it through; the first refusal wins. */
export function composeGaters (...gaters: ConnectionGater[]): ConnectionGater {
  const out: Record<string, GaterFn> = {}
  for (const method of new Set(gaters.flatMap((g) => Object.keys(g)))) {
    // filterMultiaddrForPeer answers "keep this address?", every other method "deny?".
    const keep = method === 'filterMultiaddrForPeer'
    out[method] = async (...args) => {
      for (const g of gaters) {
        const fn = (g as Record<string, GaterFn | undefined>)[method]
        if (fn !== undefined && (await fn.apply(g, args)) !== keep) return !keep
      }
      return keep
    }
  }
  return out as ConnectionGater
}

/** How many distinct refusals are remembered before the memory of what was logged is reset. */
const REFUSALS_REMEMBERED = 1024

/**
 * Logs each refused peer (or address) once per direction: a refused keep-alive peer redials,
 * and an intruder retries, and neither may flood the log. Inbound refusals are warnings
 * (someone tried to get in), outbound ones information (our own peer store knows an outsider).
 */
export function logRefusals (logger: Logger): OnRefusal {
  const seen = new Set<string>()
  return (refusal) => {
    const key = `${refusal.reason} ${refusal.direction} ${refusal.peer ?? refusal.addr ?? ''}`
    if (seen.has(key)) return
    if (seen.size >= REFUSALS_REMEMBERED) seen.clear()
    seen.add(key)
    logger[refusal.direction === 'inbound' ? 'warn' : 'info']('connection refused', { ...refusal })
  }
}
