/**
 * A bootstrap peer (`hddm-node bootstrap`): helps others find each other (DHT, identify) and
 * relays the runs it is told about, with storage so that it can also hold and serve blocks. It
 * trains nothing. A run's topic is relayed once its manifest arrives from the swarm; until
 * then, not at all (the validator needs the manifest's tasks).
 *
 * @example
 * ```ts
 * const peer = createBootstrapPeer({ dataDir: '.hddm-bootstrap', listen: ['/ip4/0.0.0.0/tcp/4710'], runs: [run] })
 * await peer.start()
 * console.log(peer.multiaddrs())
 * // ... on SIGTERM
 * await peer.stop()
 * ```
 */
import { stopInOrder } from '../lifecycle.js'
import { silentLogger, type Logger } from '../logger.js'
import { NotStartedError } from '../network/errors.js'
import { createGossip, type Gossip } from '../network/gossip.js'
import { createGossipValidator } from '../protocol/validate.js'
import { connectSwarm, type ConnectSwarmInit, type SwarmConnection } from './connect.js'
import { resolveRun } from './run-creation.js'
import type { ServiceStatus } from '../network/swarm-node.js'

export interface BootstrapPeerInit extends Pick<
  ConnectSwarmInit, 'listen' | 'announce' | 'bootstrap' | 'mdns' | 'scope' | 'swarmKeyFile' | 'allowPeers' | 'logger'
  | 'relayService' | 'relayReservation' | 'upnp'
> {
  /** Identity, lock, peer store and blocks. */
  dataDir: string
  /** Run ids whose gossip topics to relay and validate. */
  runs?: string[]
  /** How long to wait for a run's manifest to arrive. @default 600_000 */
  resolveTimeoutMs?: number
}

export class BootstrapPeer {
  status: ServiceStatus = 'stopped'
  private readonly init: BootstrapPeerInit
  private readonly log: Logger
  private connection?: SwarmConnection
  private gossip?: Gossip
  private controller?: AbortController
  private readonly relaying = new Set<string>()

  constructor (init: BootstrapPeerInit) {
    this.init = init
    this.log = init.logger ?? silentLogger
  }

  /** Joins the swarm (other bootstrap peers are redialled while it has no connection) and starts relaying. */
  async start (): Promise<void> {
    if (this.status !== 'stopped') return
    this.status = 'starting'
    try {
      this.controller = new AbortController()
      this.connection = await connectSwarm({ ...this.init, redialWhileAlone: true })
      const { swarm } = this.connection
      this.gossip = createGossip({ logger: this.init.logger }, { pubsub: swarm.pubsub, peerId: swarm.peerId })
      await this.gossip.start()
      for (const run of this.init.runs ?? []) void this.relay(run)
      this.status = 'started'
    } catch (err) {
      await this.teardown()
      throw err
    }
  }

  async stop (): Promise<void> {
    if (this.status !== 'started') return
    this.status = 'stopping'
    await this.teardown()
  }

  get peerId (): string { return this.started().swarm.peerId.toString() }

  /** Listen (or announce) addresses with `/p2p/<id>`: what other nodes bootstrap from. */
  multiaddrs (): string[] { return this.started().swarm.getMultiaddrs().map(String) }

  /** Runs whose topic is relayed now (their manifest has arrived). */
  runs (): string[] { return [...this.relaying] }

  private async relay (run: string): Promise<void> {
    const { storage } = this.started()
    try {
      const timeoutMs = this.init.resolveTimeoutMs ?? 600_000
      const manifest = await resolveRun(run, storage, { timeoutMs, signal: this.controller?.signal })
      this.gossip?.join(run, createGossipValidator({ run, manifest }))
      this.relaying.add(run)
      this.log.info('relaying run', { run })
    } catch (err) {
      // Stopped while waiting for the manifest: nothing went wrong with the run.
      if (this.controller?.signal.aborted === true) return
      this.log.error('cannot relay run', { run }, err)
    }
  }

  private async teardown (): Promise<void> {
    this.controller?.abort()
    await stopInOrder([
      ['gossip', async () => { await this.gossip?.stop() }],
      ['storage and swarm', async () => { await this.connection?.stop() }]
    ], this.log)
    this.relaying.clear()
    this.gossip = this.connection = this.controller = undefined
    this.status = 'stopped'
  }

  private started (): SwarmConnection {
    if (this.connection === undefined) throw new NotStartedError('the bootstrap peer is not started')
    return this.connection
  }
}

/** Builds an unstarted bootstrap peer; `await peer.start()` joins the swarm. */
export function createBootstrapPeer (init: BootstrapPeerInit): BootstrapPeer {
  return new BootstrapPeer(init)
}
