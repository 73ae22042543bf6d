import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createLibp2p, type Libp2p } from 'libp2p'
import { stopInOrder } from '../lifecycle.js'
import { silentLogger, type Logger } from '../logger.js'
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js'
import { InvalidSwarmKeyError, NotStartedError } from './errors.js'
import { loadOrCreateIdentity } from './identity.js'
import { swarmLibp2pOptions, type SwarmNetworkInit, type SwarmServices } from './libp2p.js'
import { buildWithMetrics } from './libp2p-metrics.js'
import { PeerDatastore } from './peer-datastore.js'
import { readSwarmKey } from './swarm-key.js'
import type { PubSub } from './pubsub.js'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export type SwarmLibp2p = Libp2p<SwarmServices>

export interface SwarmNodeInit extends SwarmNetworkInit {
  /**
   * The node's directory: `identity.key`, `LOCK` and the peer store (`peers/`) live here, and
   * storage keeps its blocks next to them. Without it the node is ephemeral: a fresh identity,
   * in-memory peer store, no lock (benchmarks, throwaway peers).
   */
  dataDir?: string
  /**
   * A swarm key file (`hddm-node keygen`), read at start: the config-file form of `swarmKey`.
   * A missing or malformed file is an InvalidSwarmKeyError.
   */
  swarmKeyFile?: string
  logger?: Logger
}

export type ServiceStatus = 'stopped' | 'starting' | 'started' | 'stopping'

/**
 * One hddm peer's libp2p node plus what makes it this peer: the persisted identity and the
 * data-directory lock. Other services (storage, gossip) take `node.libp2p` as a component.
 */
export class SwarmNode {
  status: ServiceStatus = 'stopped'
  private readonly init: SwarmNodeInit
  private readonly log: Logger
  private node?: SwarmLibp2p
  private lock?: DataDirLock
  private datastore?: PeerDatastore
  private unregisterMetrics?: () => void

  constructor (init: SwarmNodeInit) {
    this.init = init
    this.log = (init.logger ?? silentLogger).child('swarm')
  }

  get libp2p (): SwarmLibp2p {
    if (this.node == null) throw new NotStartedError('the swarm node is not started')
    return this.node
  }

  get peerId (): PeerId { return this.libp2p.peerId }
  get pubsub (): PubSub { return this.libp2p.services.pubsub }
  getMultiaddrs (): Multiaddr[] { return this.libp2p.getMultiaddrs() }

  async start (): Promise<void> {
    if (this.status !== 'stopped') return
    this.status = 'starting'
    try {
      const { dataDir, swarmKeyFile } = this.init
      if (swarmKeyFile !== undefined && this.init.swarmKey !== undefined) {
        throw new InvalidSwarmKeyError('give a swarm key or a swarm key file, not both')
      }
      const swarmKey = swarmKeyFile !== undefined ? await readSwarmKey(swarmKeyFile) : this.init.swarmKey
      let privateKey
      if (dataDir !== undefined) {
        await mkdir(dataDir, { recursive: true, mode: 0o700 })
        this.lock = await acquireDataDirLock(dataDir)
        privateKey = await loadOrCreateIdentity(dataDir)
        this.datastore = new PeerDatastore({ path: join(dataDir, 'peers'), logger: this.log })
        await this.datastore.open()
      } else {
        privateKey = await generateKeyPair('Ed25519')
      }
      const components = { privateKey, datastore: this.datastore, statfsLocation: dataDir, logger: this.log }
      const options = swarmLibp2pOptions({ ...this.init, swarmKey }, components)
      const built = await buildWithMetrics(this.init.metrics, async () => await createLibp2p(options))
      this.node = built.value
      this.unregisterMetrics = built.unregister
      this.status = 'started'
      this.log.info('swarm node started', {
        peerId: this.node.peerId.toString(),
        addrs: this.node.getMultiaddrs().map(String),
        private: swarmKey !== undefined,
        allowPeers: this.init.allowPeers?.length
      })
    } catch (err) {
      await this.teardown()
      throw err
    }
  }

  async stop (): Promise<void> {
    if (this.status !== 'started') return
    this.status = 'stopping'
    await this.teardown()
    this.log.info('swarm node stopped')
  }

  private async teardown (): Promise<void> {
    await stopInOrder([
      ['libp2p', async () => { await this.node?.stop() }],
      ['libp2p metrics', () => { this.unregisterMetrics?.() }],
      ['peer store', async () => { await this.datastore?.close() }],
      ['data directory lock', async () => { await this.lock?.release() }]
    ], this.log)
    this.node = this.datastore = this.lock = this.unregisterMetrics = undefined
    this.status = 'stopped'
  }
}

/** Builds an unstarted swarm node; `await node.start()` takes the lock and opens the network. */
export function createSwarmNode (init: SwarmNodeInit = {}): SwarmNode {
  return new SwarmNode(init)
}
