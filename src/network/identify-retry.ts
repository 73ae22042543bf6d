/**
 * Runs identify again on connections it never completed on.
 *
 * libp2p identifies a peer once, when a connection opens, and drops a failure silently (its
 * 5 s timeout passes on a loaded machine or a saturated link). The connection then stays open
 * but no topology ever hears of the peer: gossipsub opens no stream, the DHT does not add it,
 * bitswap does not know it. A node whose only connection that is stays cut off for as long as
 * the connection lasts, since it is not alone and so does not redial. Seen in a 32-node swarm
 * started at once in one process: one node kept its one connection, to the bootstrap peer, for
 * two minutes with no run subscriber on either side.
 *
 * Every `intervalMs` this looks for open connections older than `graceMs` that no `peer:identify`
 * event has named, and identifies them again; the event that follows tells the registrar, which
 * tells every topology. Each connection's retries back off exponentially, so a peer that never
 * answers identify costs one stream per `maxBackoffMs`.
 */
import { RetryBackoff } from './retry-backoff.js'
import type { Logger } from '../logger.js'
import type { Identify } from '@libp2p/identify'
import type { Connection, IdentifyResult, Libp2pEvents, Startable, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

export interface IdentifyRetryInit {
  /** @default 2000 */
  intervalMs?: number
  /** A connection's age before its identify counts as failed: longer than identify's own 5 s timeout. @default 10000 */
  graceMs?: number
  /** @default 60000 */
  maxBackoffMs?: number
}

export interface IdentifyRetryComponents {
  connectionManager: Pick<ConnectionManager, 'getConnections'>
  events: TypedEventTarget<Libp2pEvents>
  identify: Pick<Identify, 'identify'>
}

export class IdentifyRetry implements Startable {
  /** Identify runs started again since start (tests, metrics). */
  retried = 0
  private readonly init: Required<IdentifyRetryInit>
  /** Ids of the open connections identify has completed on. */
  private readonly identified = new Set<string>()
  /** Connections identify failed on, by id, and when to try each again. */
  private readonly retrying: RetryBackoff<string>
  /** Connections with an identify running now: never two at once on one connection. */
  private readonly inFlight = new Set<string>()
  private timer?: ReturnType<typeof setInterval>

  /** `components` is read lazily: libp2p's components object throws on a service not yet built. */
  constructor (
    private readonly components: IdentifyRetryComponents, init: IdentifyRetryInit = {}, private readonly log?: Logger
  ) {
    this.init = { intervalMs: 2000, graceMs: 10_000, maxBackoffMs: 60_000, ...init }
    this.retrying = new RetryBackoff(this.init.intervalMs, this.init.maxBackoffMs)
    this.onIdentify = this.onIdentify.bind(this)
    this.onClose = this.onClose.bind(this)
  }

  start (): void {
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('connection:close', this.onClose)
    this.timer = setInterval(() => { this.check() }, this.init.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('connection:close', this.onClose)
    this.identified.clear()
    this.retrying.clear()
    this.inFlight.clear()
  }

  /** One pass: identify again every open connection past its grace and backoff that was never identified. */
  check (now = Date.now()): void {
    for (const connection of this.components.connectionManager.getConnections()) {
      if (connection.status !== 'open' || this.identified.has(connection.id)) continue
      if (now - connection.timeline.open < this.init.graceMs || this.inFlight.has(connection.id)) continue
      if (this.retrying.due(connection.id, now)) this.retry(connection)
    }
  }

  private retry (connection: Connection): void {
    this.inFlight.add(connection.id)
    this.retried++
    this.log?.debug('identifying a connection again', { peer: connection.remotePeer.toString() })
    this.components.identify.identify(connection)
      .catch((err: Error) => {
        this.log?.debug('identify failed again', { peer: connection.remotePeer.toString(), error: err.message })
      })
      .finally(() => { this.inFlight.delete(connection.id) })
  }

  private onIdentify (evt: CustomEvent<IdentifyResult>): void {
    this.identified.add(evt.detail.connection.id)
    this.retrying.delete(evt.detail.connection.id)
  }

  private onClose (evt: CustomEvent<Connection>): void {
    this.identified.delete(evt.detail.id)
    this.retrying.delete(evt.detail.id)
  }
}

/** A libp2p service factory; list it after `identify` in the services map, whose instance it reads. */
export function identifyRetry (
  init: IdentifyRetryInit = {}, logger?: Logger
): (components: IdentifyRetryComponents) => IdentifyRetry {
  return (components) => new IdentifyRetry(components, init, logger)
}
