/**
 * One hddm peer (src/network + src/storage, joined as every peer joins: connectSwarm) that runs
 * inside a host's namespace (`node --import tsx test/netns/swarm-peer.ts`) and takes requests as
 * JSON lines on stdin, answering each with one JSON line on stdout with the same `id`, as
 * tcp-probe.ts does. swarm-peer-client.ts is the test side.
 *
 * Times are `process.hrtime` milliseconds: CLOCK_MONOTONIC, one clock for every process on the
 * machine whatever its network namespace, so a send time in one peer and a receive time in
 * another can be subtracted.
 *
 * Requests:
 * - `start` (listen, bootstrap, heartbeat), `stopNode` (the process stays for the next start);
 * - `join` (a run topic with the real validator; every claim that arrives is recorded),
 *   `publish` (a claim), `arrivals` (each with its publisher and the peer that handed it over),
 *   `loop` (the event loop's delay since the last ask), `state` (connections, subscribers, mesh);
 * - `add` (random bytes as a UnixFS file), `fetch` (a file from a named provider over the file
 *   transfer protocol, with the time of every chunk the connection's socket read and of every
 *   verified block), `serveCopy` / `copy` / `lastCopy` (a plain libp2p stream copy: the same
 *   bytes without the protocol, recorded the same way).
 */
import '../../src/polyfills.js'
import { createHash, randomBytes } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { createGossip, type Gossip } from '../../src/network/gossip.js'
import { connectSwarm, type SwarmConnection } from '../../src/node/connect.js'
import { decodeGossipMessage, encodeGossipMessage } from '../../src/protocol/codec.js'
import { newNonce } from '../../src/protocol/messages.js'
import { runTopic } from '../../src/protocol/topics.js'
import { createGossipValidator } from '../../src/protocol/validate.js'
import type { Connection, Libp2p } from '@libp2p/interface'
import type { Socket } from 'node:net'

export type PeerRequest =
  | { op: 'start', listen: string, bootstrap: string[], heartbeatMs?: number }
  | { op: 'stopNode' }
  | { op: 'join', run: string }
  | { op: 'publish', run: string }
  | { op: 'arrivals' }
  | { op: 'loop' }
  | { op: 'state', run: string }
  | { op: 'add', bytes: number }
  | { op: 'fetch', cid: string, provider: string, timeoutMs: number }
  | { op: 'serveCopy' }
  | { op: 'copy', addr: string, bytes: number }
  | { op: 'lastCopy' }

/** What a receiver saw of a transfer: when it began, and each chunk its TCP sockets read (time, bytes) after. */
export interface Timeline { startedAt: number, messages: Array<[number, number]> }

export const COPY_PROTOCOL = '/hddm/bench/copy/1.0.0'
/** The run's tasks and lease, as the claims published here name them. */
export const BENCH_MANIFEST = { tasks: [{ id: 'expert-0' }, { id: 'router' }], leaseMs: 60_000 }

const now = (): number => Number(process.hrtime.bigint() / 1000n) / 1000
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let connection: SwarmConnection | undefined
let gossip: Gossip | undefined
const arrivals: Array<{ nonce: string, at: number, from: string, via: string }> = []
/** The event loop's delay: a delivery held up by a busy process is not the network's doing. */
const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()
let copyTimeline: Timeline | undefined

function node (): SwarmConnection {
  if (connection === undefined) throw new Error('send start first')
  return connection
}

/**
 * Records what the TCP sockets of `connections` deliver to this process (time, bytes) until the
 * returned function is called: finer than the stream's messages, which yamux hands over only as
 * whole frames (up to the stream's window, several MiB), so a gap there says little about the link.
 * The socket is libp2p's TCP connection's own (`maConn.socket`, not in its types); a
 * connection of another transport records nothing.
 */
function recordSockets (connections: Connection[], timeline: Timeline): () => void {
  const sockets = connections.map((c) => (c as unknown as { maConn?: { socket?: Socket } }).maConn?.socket)
    .filter((s): s is Socket => typeof s?.on === 'function')
  const onData = (chunk: Buffer): void => { timeline.messages.push([now(), chunk.byteLength]) }
  for (const socket of sockets) socket.on('data', onData)
  return () => { for (const socket of sockets) socket.off('data', onData) }
}

async function serveCopy (libp2p: Libp2p): Promise<void> {
  await libp2p.handle(COPY_PROTOCOL, async (stream, connection) => {
    const timeline: Timeline = { startedAt: now(), messages: [] }
    const done = recordSockets([connection], timeline)
    let header: Uint8Array = new Uint8Array(0)
    let left = -1
    for await (const chunk of stream) {
      let bytes = chunk.subarray()
      if (left < 0) {
        header = concat(header, bytes)
        if (header.byteLength < 8) continue
        left = Number(new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0))
        bytes = header.subarray(8)
      }
      left -= bytes.byteLength
      if (left <= 0) break
    }
    done()
    copyTimeline = timeline
    stream.send(new Uint8Array([0x6b]))
    await stream.close()
  })
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a)
  out.set(b, a.byteLength)
  return out
}

/** Sends `bytes` (an 8-byte length first) and waits for the server's one-byte answer. */
async function copy (libp2p: Libp2p, addr: string, bytes: number): Promise<{ ms: number }> {
  const data = randomBytes(bytes)
  const started = now()
  const stream = await libp2p.dialProtocol(multiaddr(addr), COPY_PROTOCOL)
  const header = new Uint8Array(8)
  new DataView(header.buffer).setBigUint64(0, BigInt(bytes))
  stream.send(header)
  for (let offset = 0; offset < bytes; offset += 256 * 1024) {
    if (!stream.send(data.subarray(offset, offset + 256 * 1024))) await stream.onDrain()
  }
  for await (const _ of stream) break
  const ms = now() - started
  await stream.close().catch(() => {})
  return { ms }
}

async function fetch (r: Extract<PeerRequest, { op: 'fetch' }>): Promise<Record<string, unknown>> {
  const { storage, swarm } = node()
  const timeline: Timeline = { startedAt: now(), messages: [] }
  const blocks: number[] = []
  // Connected first (an open connection is reused), so that its socket is watched from the request on.
  const connection = await swarm.libp2p.dial(multiaddr(r.provider))
  const done = recordSockets(swarm.libp2p.getConnections(connection.remotePeer), timeline)
  const bytes = await storage.getBytes(CID.parse(r.cid), {
    timeoutMs: r.timeoutMs,
    providers: [r.provider],
    onProgress: (evt) => { if (evt.type === 'hddm:storage:transfer:block') blocks.push(now()) }
  }).finally(done)
  return { ms: now() - timeline.startedAt, sha: sha(bytes), bytes: bytes.byteLength, timeline, blocks }
}

/** Stops the node (a fresh identity and store come with the next start) and forgets what it received. */
async function stopNode (): Promise<void> {
  await gossip?.stop()
  await connection?.stop()
  gossip = connection = copyTimeline = undefined
  arrivals.length = 0
}

async function handle (r: PeerRequest): Promise<Record<string, unknown>> {
  switch (r.op) {
    case 'start': {
      await stopNode()
      connection = await connectSwarm({
        listen: [r.listen],
        scope: 'private',
        bootstrap: r.bootstrap,
        redialWhileAlone: true, // as every real node: a burst of joins can time a first dial out
        ...(r.heartbeatMs !== undefined ? { heartbeatIntervalMs: r.heartbeatMs } : {})
      })
      gossip = createGossip({}, { pubsub: connection.swarm.pubsub, peerId: connection.swarm.peerId })
      await gossip.start()
      // gossipsub's own event, for the peer that handed the message over (the publisher itself
      // or a peer forwarding it); it fires once per message, after the run's validator accepted it.
      connection.swarm.pubsub.addEventListener('gossipsub:message', (evt) => {
        const { propagationSource, msg } = evt.detail
        if (msg.type !== 'signed') return
        const message = decodeGossipMessage(msg.data)
        if (message.type !== 'claim') return
        const [from, via] = [msg.from.toString(), propagationSource.toString()]
        arrivals.push({ nonce: message.nonce, at: now(), from, via })
      })
      loop.reset()
      const peerId = connection.swarm.peerId.toString()
      return { peerId, addr: `${r.listen}/p2p/${peerId}` }
    }
    case 'stopNode':
      await stopNode()
      return {}
    case 'join':
      gossip!.join(r.run, createGossipValidator({ run: r.run, manifest: BENCH_MANIFEST }))
      return {}
    case 'publish': {
      const peer = node().swarm.peerId.toString()
      const ts = Date.now()
      const nonce = newNonce()
      const bytes = encodeGossipMessage({
        v: 1, type: 'claim', run: r.run, peer, ts, task: 'expert-0', leaseUntil: ts + 30_000, nonce
      })
      const sentAt = now()
      await gossip!.publish(r.run, bytes)
      return { nonce, sentAt }
    }
    case 'arrivals': return { arrivals }
    case 'loop': {
      const delay = { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 }
      loop.reset()
      return delay
    }
    case 'state': {
      const { swarm } = node()
      return {
        connections: swarm.libp2p.getConnections().length,
        subscribers: gossip!.subscribers(r.run).length,
        mesh: swarm.pubsub.getMeshPeers(runTopic(r.run)).length
      }
    }
    case 'add': {
      const data = randomBytes(r.bytes)
      const started = now()
      const cid = await node().storage.addBytes(data)
      return { cid: cid.toString(), sha: sha(data), ms: now() - started }
    }
    case 'fetch': return await fetch(r)
    case 'serveCopy':
      await serveCopy(node().swarm.libp2p)
      return {}
    case 'copy': return await copy(node().swarm.libp2p, r.addr, r.bytes)
    case 'lastCopy': return { timeline: copyTimeline }
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === '') return
  const request = JSON.parse(line) as PeerRequest & { id: number }
  handle(request).then(
    (answer) => { process.stdout.write(JSON.stringify({ id: request.id, ...answer }) + '\n') },
    (err: Error) => {
      process.stdout.write(JSON.stringify({ id: request.id, error: err.stack ?? err.message }) + '\n')
    }
  )
})
// stdin closing (the test's end) or SIGTERM (the internet's stop) stops the node first, so that
// no fs write is cut off and its temporary directory is removed.
const exit = (): void => { void stopNode().finally(() => process.exit(0)) }
process.stdin.on('end', exit)
process.once('SIGTERM', exit)
process.stdout.write(JSON.stringify({ id: 0, ready: true }) + '\n')
