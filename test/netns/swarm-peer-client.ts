/**
 * The test side of swarm-peer.ts: one hddm peer process per host of a test internet, and typed
 * requests to it.
 *
 * @example
 * ```ts
 * const boot = await startSwarmPeer(net, 'pub-1')
 * const { addr } = await boot.start(`/ip4/${net.host('pub-1').ip}/tcp/4001`)
 * const peer = await startSwarmPeer(net, 'pub-2')
 * await peer.start(`/ip4/${net.host('pub-2').ip}/tcp/4001`, [addr])
 * ```
 */
import { waitFor } from '../utils/wait.js'
import { LineRpcChild } from './line-rpc.js'
import type { Internet } from './internet.js'
import type { PeerRequest, Timeline } from './swarm-peer.js'
import type { ChildProcess } from 'node:child_process'

export type { Timeline } from './swarm-peer.js'

export interface PeerState { connections: number, subscribers: number, mesh: number }
export interface Arrival {
  nonce: string
  at: number
  /** The publisher. */
  from: string
  /** The peer that handed it over: the publisher itself, or one that forwarded it. */
  via: string
}
export interface Fetched {
  /** From the request to the last block, ms. */
  ms: number
  sha: string
  bytes: number
  /** Every message of the transfer's stream as the fetcher's yamux delivered it. */
  timeline: Timeline
  /** When each block had been verified. */
  blocks: number[]
}

export class SwarmPeer extends LineRpcChild<PeerRequest> {
  peerId = ''
  addr = ''

  constructor (host: string, child: ChildProcess) {
    super(host, child, 'peer')
  }

  /** Loading its modules takes 5 s of CPU; on a loaded machine, minutes. */
  override async ready (timeoutMs = 300_000): Promise<void> { await super.ready(timeoutMs) }

  /** Starts the node on `listen` (`/ip4/<host ip>/tcp/<port>`), dialling `bootstrap`. @returns its full address */
  async start (listen: string, bootstrap: string[] = [], heartbeatMs?: number): Promise<string> {
    const { peerId, addr } = await this.request<{ peerId: string, addr: string }>(
      { op: 'start', listen, bootstrap, ...(heartbeatMs !== undefined ? { heartbeatMs } : {}) }, 120_000)
    this.peerId = peerId
    this.addr = addr
    return addr
  }

  /** Stops the node; the process stays for the next `start`. */
  async stopNode (): Promise<void> { await this.request({ op: 'stopNode' }, 60_000) }

  async join (run: string): Promise<void> { await this.request({ op: 'join', run }) }

  /** Publishes a claim. @returns its nonce and when it was handed to gossipsub (hrtime ms) */
  async publish (run: string): Promise<{ nonce: string, sentAt: number }> {
    return await this.request({ op: 'publish', run })
  }

  async arrivals (): Promise<Arrival[]> {
    return (await this.request<{ arrivals: Arrival[] }>({ op: 'arrivals' })).arrivals
  }

  /** The event loop's delay since the last call (or the node's start), ms. */
  async loopDelay (): Promise<{ p99: number, max: number }> { return await this.request({ op: 'loop' }) }

  async state (run: string): Promise<PeerState> { return await this.request({ op: 'state', run }) }

  /** Adds `bytes` random bytes as a UnixFS file. */
  async add (bytes: number): Promise<{ cid: string, sha: string, ms: number }> {
    return await this.request({ op: 'add', bytes }, 300_000)
  }

  async fetch (cid: string, provider: string, timeoutMs: number): Promise<Fetched> {
    return await this.request({ op: 'fetch', cid, provider, timeoutMs }, timeoutMs + 30_000)
  }

  async serveCopy (): Promise<void> { await this.request({ op: 'serveCopy' }) }

  /** A plain libp2p stream copy of `bytes` to `addr` (which must serveCopy). @returns ms until its answer */
  async copy (addr: string, bytes: number, timeoutMs: number): Promise<number> {
    return (await this.request<{ ms: number }>({ op: 'copy', addr, bytes }, timeoutMs)).ms
  }

  /** What the receiving side of the last copy saw. */
  async lastCopy (): Promise<Timeline> {
    return (await this.request<{ timeline: Timeline }>({ op: 'lastCopy' })).timeline
  }

  /** Closes stdin: the peer stops its node and exits. */
  async stop (timeoutMs = 15_000): Promise<void> {
    if (this.child.exitCode !== null) return
    this.child.stdin?.end()
    await waitFor(() => this.child.exitCode !== null || this.child.signalCode !== null,
      `the peer on ${this.host} to exit`, { timeoutMs }).catch(() => { this.child.kill('SIGKILL') })
  }
}

/** Starts a peer process in `host`'s namespace (not yet a node: see `start`); it ends with the internet's `stop()`. */
export async function startSwarmPeer (internet: Internet, host: string): Promise<SwarmPeer> {
  const child = internet.spawn(host, process.execPath, ['--import', 'tsx', 'test/netns/swarm-peer.ts'],
    { stdio: ['pipe', 'pipe', 'pipe'] })
  const peer = new SwarmPeer(host, child)
  await peer.ready()
  return peer
}
