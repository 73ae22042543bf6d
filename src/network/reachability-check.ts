import { setTimeout as sleep } from 'node:timers/promises'
import { getNetConfig } from '@libp2p/utils'
import { throwIfAborted } from '../hddm-error.js'
import { requestDialBack } from './dial-back.js'
import { describeReachability, type Reachability, type ReachabilityState } from './reachability.js'
import { DIAL_BACK_MAX_PORTS } from '../protocol/dial-back-messages.js'
import type { AbortOptions } from '../progress.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ReachabilityCheckOptions extends AbortOptions {
  /** Peers to ask first (the bootstrap peers); then any other connected peer. */
  prefer?: string[]
  /** Peers asked at most, one after another, until one answers. @default 4 */
  maxPeers?: number
  /** How long to keep asking while no peer has answered (none may be connected yet). @default 30_000 */
  answerWaitMs?: number
  /** When not reachable, how long to wait for a relay reservation to name in the line. @default 10_000 */
  relayWaitMs?: number
}

export interface ReachabilityReport extends Reachability { state: ReachabilityState }

const CIRCUIT = '/p2p-circuit'

/**
 * The self-check `hddm-node start` runs once it has joined: asks a connected peer (a bootstrap
 * peer first) to open TCP connections back to the ports we listen on, at the address it sees us
 * at (dial-back.ts), then names what it found and the fix (reachability.ts).
 */
export async function checkReachability (
  libp2p: Pick<Libp2p, 'getMultiaddrs' | 'getConnections' | 'dialProtocol'>, options: ReachabilityCheckOptions = {}
): Promise<ReachabilityReport> {
  const direct = libp2p.getMultiaddrs().filter((ma) => !ma.toString().includes(CIRCUIT))
  const listenHosts = [...new Set(direct.map(hostOf).filter((h): h is string => h !== undefined))]
  const ports = [...new Set(direct.map(tcpPortOf).filter((p): p is number => p !== undefined))]
    .slice(0, DIAL_BACK_MAX_PORTS)
  const unchecked = ports.map((port) => ({ port, reachable: false }))
  const state: ReachabilityState = { listenHosts, ports: unchecked, relayAddrs: [] }
  // A node may start before its bootstrap peers listen (it redials them): until some peer has
  // answered, try again every second, within the deadline.
  const deadline = Date.now() + (options.answerWaitMs ?? 30_000)
  while (ports.length > 0 && state.checkedBy === undefined) {
    for (const peer of candidates(libp2p, options.prefer ?? []).slice(0, options.maxPeers ?? 4)) {
      throwIfAborted(options.signal)
      try {
        const answer = await requestDialBack(libp2p, peer, ports, { signal: options.signal })
        state.checkedBy = peer.toString()
        state.observedHost = answer.observedHost
        state.ports = ports.map((port, i) => ({ port, reachable: answer.reachable[i] }))
        break
      } catch {
        // This peer does not speak the protocol, refused or timed out: ask the next.
      }
    }
    if (state.checkedBy !== undefined || Date.now() >= deadline) break
    await sleep(1_000, undefined, { signal: options.signal }).catch(() => {})
    throwIfAborted(options.signal)
  }
  const relays = (): string[] => libp2p.getMultiaddrs().map(String).filter((a) => a.includes(CIRCUIT))
  if (!state.ports.some((p) => p.reachable)) {
    const until = Date.now() + (options.relayWaitMs ?? 10_000)
    while (relays().length === 0 && Date.now() < until) {
      throwIfAborted(options.signal)
      await sleep(200, undefined, { signal: options.signal }).catch(() => {})
    }
  }
  state.relayAddrs = relays()
  return { ...describeReachability(state), state }
}

/** Connected peers on direct connections, the preferred ones first. */
function candidates (libp2p: Pick<Libp2p, 'getConnections'>, prefer: string[]): PeerId[] {
  const peers = new Map<string, PeerId>()
  for (const c of libp2p.getConnections()) {
    if (c.limits == null && c.status === 'open') peers.set(c.remotePeer.toString(), c.remotePeer)
  }
  const rank = (p: PeerId): number => prefer.includes(p.toString()) ? 0 : 1
  return [...peers.values()].sort((a, b) => rank(a) - rank(b))
}

function hostOf (ma: Multiaddr): string | undefined {
  try {
    const config = getNetConfig(ma)
    return config.type === 'ip4' || config.type === 'ip6' ? config.host : undefined
  } catch {
    return undefined
  }
}

function tcpPortOf (ma: Multiaddr): number | undefined {
  const tcp = ma.getComponents().find((c) => c.name === 'tcp')
  return tcp?.value !== undefined ? Number(tcp.value) : undefined
}
