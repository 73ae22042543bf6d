/**
 * Keeps gossipsub's streams open for as long as their connections are.
 *
 * Gossipsub (@libp2p/gossipsub 17) opens its one outbound stream to a peer when the peer
 * connects or opens a stream to us, and never again. Three things then cut a peer off while
 * its connection stays open, until that connection happens to drop:
 * - opening the outbound stream fails (a protocol negotiation timeout under load): we can no
 *   longer send to the peer, so the heartbeat never grafts it and it gets no IHAVE;
 * - the outbound stream closes (reset, remote close): the same;
 * - reading the inbound stream fails: gossipsub forgets the peer altogether (removePeer), so we
 *   no longer know its topics either.
 * js-libp2p #3531 restores the stream only when the peer reconnects, and leaves this case open.
 *
 * The keeper looks every `intervalMs` for open connections to peers that speak gossipsub but
 * that gossipsub has no outbound stream to (or no longer knows), and once a peer has been cut
 * off for `graceMs` replays the registrar's connect notification: gossipsub adds the peer again
 * and opens a stream, and the peer's side, seeing our new inbound stream, opens its own. Each
 * peer's retries back off exponentially, so a peer that refuses the stream costs one attempt
 * per `maxBackoffMs`.
 */
import { RetryBackoff } from './retry-backoff.js'
import type { Logger } from '../logger.js'
import type { PubSub } from './pubsub.js'
import type { Connection, PeerId, PeerStore, Startable } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

export type KeptPubSub = Pick<PubSub, 'protocols' | 'streamsOutbound' | 'getPeers'>

/** gossipsub's registrar callback: private in its typings, the topology's `onConnect` at run time. */
type ConnectNotification = (peerId: PeerId, connection: Connection) => void

export interface GossipStreamKeeperInit {
  /** @default 1000 */
  intervalMs?: number
  /** How long a peer may be cut off before a new stream is opened (opening one takes a moment). @default 2000 */
  graceMs?: number
  /** @default 30000 */
  maxBackoffMs?: number
}

export interface GossipStreamKeeperComponents {
  connectionManager: Pick<ConnectionManager, 'getConnections'>
  peerStore: Pick<PeerStore, 'get'>
  pubsub: KeptPubSub
}

export class GossipStreamKeeper implements Startable {
  /** Streams reopened since start (tests, metrics). */
  reopened = 0
  private readonly init: Required<GossipStreamKeeperInit>
  private readonly components: GossipStreamKeeperComponents
  private readonly log?: Logger
  /** Cut-off peers and when to try each again. */
  private readonly cutOff: RetryBackoff<string>
  private timer?: ReturnType<typeof setInterval>
  private checking = false

  /** `components` is read lazily: libp2p's components object throws on a service not yet built. */
  constructor (components: GossipStreamKeeperComponents, init: GossipStreamKeeperInit = {}, log?: Logger) {
    this.components = components
    this.log = log
    this.init = { intervalMs: 1000, graceMs: 2000, maxBackoffMs: 30_000, ...init }
    this.cutOff = new RetryBackoff(this.init.intervalMs, this.init.maxBackoffMs)
  }

  start (): void {
    if (typeof connectNotification(this.components.pubsub) !== 'function') {
      throw new TypeError('gossipsub no longer has onPeerConnected; update GossipStreamKeeper')
    }
    this.timer = setInterval(() => { void this.check() }, this.init.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.cutOff.clear()
  }

  /** One pass: find cut-off peers and reopen the streams of those past their grace and backoff. */
  async check (now = Date.now()): Promise<void> {
    if (this.checking) return
    this.checking = true
    try {
      const { pubsub } = this.components
      const known = new Set(pubsub.getPeers().map(String))
      const seen = new Set<string>()
      for (const connection of this.components.connectionManager.getConnections()) {
        const id = connection.remotePeer.toString()
        if (connection.status !== 'open' || connection.limits != null || seen.has(id)) continue
        seen.add(id)
        if (known.has(id) && pubsub.streamsOutbound.has(id)) {
          this.cutOff.delete(id)
          continue
        }
        if (!await this.speaksGossipsub(connection.remotePeer)) continue
        this.maybeReopen(id, connection, now)
      }
      for (const id of this.cutOff.keys()) if (!seen.has(id)) this.cutOff.delete(id)
    } finally {
      this.checking = false
    }
  }

  private maybeReopen (id: string, connection: Connection, now: number): void {
    if (!this.cutOff.due(id, now, now + this.init.graceMs)) return
    this.reopened++
    this.log?.debug('reopening gossipsub stream', { peer: id, cutOffMs: now - (this.cutOff.since(id) ?? now) })
    connectNotification(this.components.pubsub).call(this.components.pubsub, connection.remotePeer, connection)
  }

  private async speaksGossipsub (peerId: PeerId): Promise<boolean> {
    try {
      const { protocols } = await this.components.peerStore.get(peerId)
      return this.components.pubsub.protocols.some((codec) => protocols.includes(codec))
    } catch {
      return false // not in the peer store yet: identify has not finished
    }
  }
}

function connectNotification (pubsub: KeptPubSub): ConnectNotification {
  return (pubsub as unknown as { onPeerConnected: ConnectNotification }).onPeerConnected
}

/** A libp2p service factory; list it after `pubsub` in the services map, whose instance it reads. */
export function gossipStreamKeeper (
  init: GossipStreamKeeperInit = {}, logger?: Logger
): (components: GossipStreamKeeperComponents) => GossipStreamKeeper {
  return (components) => new GossipStreamKeeper(components, init, logger)
}
