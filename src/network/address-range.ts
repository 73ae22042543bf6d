/**
 * The address range a peer is in, for the manifest's per-range task cap (docs/PROTOCOL.md 5.9):
 * an IPv4 /24 or an IPv6 /48, the smallest blocks one operator usually gets from a provider.
 * Identities are free, addresses are not: a farm of identities on one machine or one provider
 * block shares one range, so it shares one cap.
 *
 * A peer's range is read, in this order, from
 * 1. the remote address of a live connection to it: what the TCP handshake proved it can answer
 *    at (a relayed connection shows the relay's address, so it does not count);
 * 2. the addresses the peer store holds for it (identify: what the peer said about itself, so a
 *    peer we are not connected to can give itself any range there);
 * 3. nothing: undefined, and the table does not cap that peer (see PROTOCOL.md 5.9 for why).
 */
import { isIPv4, isIPv6 } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, PeerId, PeerUpdate } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The range of an IP address: `a.b.c.0/24`, `x:y:z::/48`; undefined for unspecified addresses. */
export function ipRange (ip: string): string | undefined {
  if (isIPv4(ip)) {
    if (ip === '0.0.0.0') return undefined
    const [a, b, c] = ip.split('.')
    return `${a}.${b}.${c}.0/24`
  }
  const groups = expandIPv6(ip)
  if (groups === undefined || groups.every((g) => g === 0)) return undefined
  // An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 host.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return ipRange([groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255].join('.'))
  }
  return `${groups.slice(0, 3).map((g) => g.toString(16)).join(':')}::/48`
}

/** The range of a multiaddr's IP; undefined for relayed (`p2p-circuit`) and IP-less addresses. */
export function addressRangeOf (addr: Multiaddr): string | undefined {
  const components = addr.getComponents()
  if (components.some((c) => c.name === 'p2p-circuit')) return undefined
  const ip = components.find((c) => c.name === 'ip4' || c.name === 'ip6')
  return ip?.value === undefined ? undefined : ipRange(ip.value)
}

/** The eight 16-bit groups of an IPv6 address, or undefined if it is not one. */
function expandIPv6 (text: string): number[] | undefined {
  const ip = text.split('%')[0]
  if (!isIPv6(ip)) return undefined
  let head = ip
  const tail: number[] = []
  // A trailing dotted IPv4 part is two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip)
  if (dotted !== null) {
    const [a, b, c, d] = dotted[1].split('.').map(Number)
    tail.push((a << 8) | b, (c << 8) | d)
    head = ip.slice(0, -dotted[1].length)
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1)
  }
  const parse = (part: string): number[] => part === '' ? [] : part.split(':').map((g) => parseInt(g, 16))
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined]
  const l = parse(left)
  const r = right === undefined ? [] : parse(right)
  const zeros = 8 - l.length - r.length - tail.length
  return [...l, ...new Array<number>(right === undefined ? 0 : zeros).fill(0), ...r, ...tail]
}

/** Loopback sorts last, then private ranges: peers elsewhere see a node at its public address. */
function reach (range: string): number {
  if (range.startsWith('127.') || range === '0:0:0::/48') return 0
  if (/^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|f[cd][0-9a-f]{0,2}:|fe[89ab][0-9a-f]?:)/.test(range)) return 1
  return 2
}

export interface AddressRangesComponents {
  libp2p: Pick<Libp2p, 'peerId' | 'getConnections' | 'getMultiaddrs' | 'addEventListener' | 'removeEventListener'>
}

// Peer-store ranges and parsed peer ids remembered at most; the oldest are forgotten first.
const MAX_REMEMBERED = 4096

/** Answers `rangeOf(peer)` synchronously, for the claim table (claims.ts). */
export class AddressRanges {
  private readonly stored = new Map<string, string>()
  private readonly ids = new Map<string, PeerId>()

  constructor (private readonly c: AddressRangesComponents) {
    this.onPeerUpdate = this.onPeerUpdate.bind(this)
    this.rangeOf = this.rangeOf.bind(this)
  }

  start (): void { this.c.libp2p.addEventListener('peer:update', this.onPeerUpdate) }

  stop (): void { this.c.libp2p.removeEventListener('peer:update', this.onPeerUpdate) }

  rangeOf (peer: string): string | undefined {
    const { libp2p } = this.c
    // Ourselves: the range peers see us at, as well as we can tell (public before private before loopback).
    if (peer === libp2p.peerId.toString()) {
      const ranges = libp2p.getMultiaddrs().map(addressRangeOf).filter((r) => r !== undefined)
      return ranges.sort((a, b) => reach(b) - reach(a))[0]
    }
    const id = this.peerId(peer)
    if (id === undefined) return undefined
    for (const connection of libp2p.getConnections(id)) {
      const range = connection.status === 'open' ? addressRangeOf(connection.remoteAddr) : undefined
      if (range !== undefined) return range
    }
    return this.stored.get(peer)
  }

  private onPeerUpdate (evt: CustomEvent<PeerUpdate>): void {
    const range = evt.detail.peer.addresses.map((a) => addressRangeOf(a.multiaddr)).find((r) => r !== undefined)
    if (range === undefined) return
    const peer = evt.detail.peer.id.toString()
    this.stored.delete(peer)
    this.stored.set(peer, range)
    if (this.stored.size > MAX_REMEMBERED) this.stored.delete(this.stored.keys().next().value as string)
  }

  private peerId (peer: string): PeerId | undefined {
    let id = this.ids.get(peer)
    if (id === undefined) {
      try {
        id = peerIdFromString(peer)
      } catch {
        return undefined
      }
      this.ids.set(peer, id)
      if (this.ids.size > MAX_REMEMBERED) this.ids.delete(this.ids.keys().next().value as string)
    }
    return id
  }
}
