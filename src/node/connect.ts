/**
 * Joining the swarm, one way for the contributor and for every command that needs peers: the
 * swarm node (libp2p, identity, data-directory lock), Helia storage over the same libp2p, then
 * the bootstrap peers, dialled once storage has registered bitswap (bootstrap-dial.ts says why).
 * Stopping the connection stops every part even when one fails (src/lifecycle.ts).
 *
 * @example
 * ```ts
 * const { storage, stop } = await connectSwarm({ dataDir: '.hddm', bootstrap, logger })
 * try {
 *   const bytes = await storage.getBytes(cid, { timeoutMs: 60_000 })
 * } finally {
 *   await stop()
 * }
 * ```
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { throwIfAborted } from '../hddm-error.js'
import { stopInOrder, type StopStep } from '../lifecycle.js'
import { silentLogger, type Logger } from '../logger.js'
import { NoBootstrapPeerError } from '../network/errors.js'
import { BootstrapRedial } from '../network/redial.js'
import { createSwarmNode, type SwarmNode, type SwarmNodeInit } from '../network/swarm-node.js'
import { createStorage, type Storage } from '../storage/helia.js'
import { dialBootstrap, parseBootstrap } from './bootstrap-dial.js'
import type { AbortOptions } from '../progress.js'

export interface ConnectSwarmInit extends SwarmNodeInit {
  /**
   * Identity, lock, peer store and blocks. Without it the identity is a fresh one, and the
   * blocks go to a temporary directory that `stop()` removes.
   */
  dataDir?: string
  /** Peers to dial, each `/ip4/.../tcp/.../p2p/<peerId>`; parsed before anything starts. */
  bootstrap?: string[]
  /** Open Helia storage on the node; without it, only the swarm node. @default true */
  storage?: boolean
  /**
   * Leave the bootstrap dials to `connection.dialBootstrap()`: a caller that registers its own
   * protocols first has them in the first identify exchange with its bootstrap peers. @default false
   */
  deferDial?: boolean
  /** Fail with NoBootstrapPeerError when bootstrap peers are listed and none answers. @default false */
  requireBootstrap?: boolean
  /**
   * While the node has no connection at all, redial the bootstrap peers, backing off: for a
   * long-lived peer that may start before the peers it bootstraps from. @default false
   */
  redialWhileAlone?: boolean
}

export interface SwarmConnection {
  swarm: SwarmNode
  storage: Storage
  /** The data directory given, or the temporary one. */
  dataDir: string
  /**
   * Dials the bootstrap peers (`connectSwarm` already has, unless `deferDial`).
   * @returns how many answered
   * @throws NoBootstrapPeerError with `requireBootstrap` when none did
   */
  dialBootstrap: (options?: AbortOptions) => Promise<number>
  /** Stops every part in reverse start order; never throws (failures are logged). */
  stop: () => Promise<void>
}

/** A connection without storage: asking a peer for something needs no blocks. */
export interface BareSwarmConnection extends Omit<SwarmConnection, 'storage' | 'dataDir'> {
  dataDir?: string
}

/**
 * Starts the swarm node and storage, then dials the bootstrap peers. Whatever had started is
 * stopped again when a step fails.
 * @throws InvalidMultiaddrError for a bad bootstrap address (before anything starts);
 * AbortError when the signal fires; NoBootstrapPeerError (see `requireBootstrap`)
 */
export async function connectSwarm (
  init: ConnectSwarmInit & { storage: false }, options?: AbortOptions
): Promise<BareSwarmConnection>
export async function connectSwarm (init: ConnectSwarmInit, options?: AbortOptions): Promise<SwarmConnection>
export async function connectSwarm (
  init: ConnectSwarmInit, options: AbortOptions = {}
): Promise<SwarmConnection | BareSwarmConnection> {
  const bootstrap = init.bootstrap ?? []
  parseBootstrap(bootstrap)
  throwIfAborted(options.signal)
  const log = (init.logger ?? silentLogger).child('bootstrap')
  // Pushed in start order; stop() runs them backwards.
  const steps: StopStep[] = []
  const stop = async (): Promise<void> => {
    await stopInOrder(steps.splice(0).reverse(), log)
  }
  try {
    let dataDir = init.dataDir
    if (dataDir === undefined && init.storage !== false) {
      const temporary = dataDir = await mkdtemp(join(tmpdir(), 'hddm-swarm-'))
      // Retries: libp2p may still flush a peer-store write while the directory is being removed.
      const remove = async (): Promise<void> => await rm(temporary, { recursive: true, force: true, maxRetries: 5 })
      steps.push(['temporary directory', remove])
    }
    // The bootstrap peers are dialled here, after storage, never by libp2p as it starts: dials
    // that come before bitswap registers leave those peers without it (test/storage/late-bitswap).
    const swarm = createSwarmNode({ ...init, dataDir })
    steps.push(['swarm', async () => { await swarm.stop() }])
    await swarm.start()
    throwIfAborted(options.signal)
    let storage: Storage | undefined
    if (dataDir !== undefined && init.storage !== false) {
      const started = storage = createStorage({ dataDir, logger: init.logger }, { libp2p: swarm.libp2p })
      steps.push(['storage', async () => { await started.stop() }])
      await started.start()
      throwIfAborted(options.signal)
    }
    const dial = dialler(swarm, bootstrap, init, steps, log)
    if (init.deferDial !== true) await dial(options)
    return storage !== undefined && dataDir !== undefined
      ? { swarm, storage, dataDir, dialBootstrap: dial, stop }
      : { swarm, dataDir, dialBootstrap: dial, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** The connection's `dialBootstrap`; the first call also starts the redial while alone, if asked for. */
function dialler (
  swarm: SwarmNode, bootstrap: string[], init: ConnectSwarmInit, steps: StopStep[], log: Logger
): (options?: AbortOptions) => Promise<number> {
  let redial: BootstrapRedial | undefined
  return async (options = {}) => {
    if (bootstrap.length === 0) return 0
    const connected = await dialBootstrap(swarm.libp2p, bootstrap, log, options)
    if (init.requireBootstrap === true && connected === 0) {
      throw new NoBootstrapPeerError(`none of the ${bootstrap.length} bootstrap peers answered`)
    }
    if (init.redialWhileAlone === true && redial === undefined) {
      const self = swarm.peerId.toString()
      const addresses = parseBootstrap(bootstrap).filter(({ peer }) => peer !== self).map(({ ma }) => ma.toString())
      const started = redial = new BootstrapRedial(swarm.libp2p, { addresses }, log)
      steps.push(['bootstrap redial', () => { started.stop() }])
      started.start()
    }
    return connected
  }
}
