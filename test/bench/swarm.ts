/**
 * Swarm benchmark: gossip latency across 16 nodes and bitswap throughput against plain TCP.
 *
 *   npx tsx --import ./src/polyfills.ts test/bench/swarm.ts [--nodes 16] [--messages 60] [--mib 64]
 *     [--only gossip|transfer] [--trace] [--settle 5] [--heartbeat 1000]
 *
 * Everything runs in this one process on 127.0.0.1 (real TCP, Noise, Yamux, fs blockstores), so
 * absolute numbers depend on the machine; the throughput ratios compare paths measured in the same
 * run on the same bytes. Gossip here is closed-loop (the next message leaves once the last has
 * reached everyone); gossip-workers.ts measures it at a run's own rate, on one loop or several.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, connect, type AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import { cidOfCanonical, encodeCanonical } from '../../src/protocol/canonical.js'
import { encodeGossipMessage } from '../../src/protocol/codec.js'
import { newNonce } from '../../src/protocol/messages.js'
import { runTopic } from '../../src/protocol/topics.js'
import { FILE_TRANSFER_PROTOCOL } from '../../src/storage/file-transfer.js'
import { createGossipValidator } from '../../src/protocol/validate.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { GossipTrace } from './gossip-trace.js'
import { waitFor } from '../utils/wait.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '16' },
    messages: { type: 'string', default: '60' },
    mib: { type: 'string', default: '64' },
    /** Transfer rounds: stream copy then file transfer (to a fresh node) each; medians are reported. */
    rounds: { type: 'string', default: '3' },
    /** `gossip` or `transfer`: run one half only. */
    only: { type: 'string' },
    /** Trace every gossip delivery hop by hop and print where the slow ones spent their time. */
    trace: { type: 'boolean', default: false },
    /**
     * Seconds the swarm's connection count must hold still before the messages: a new swarm
     * dials for a while (DHT queries, peer exchange), and gossip is measured on a running one.
     */
    settle: { type: 'string', default: '5' },
    /** Gossipsub heartbeat of the gossip nodes, ms: a real node's (test nodes beat every 200). */
    heartbeat: { type: 'string', default: '1000' }
  }
})
const NODES = Number(values.nodes)
const MESSAGES = Number(values.messages)
const BYTES = Number(values.mib) * 1024 * 1024
const MANIFEST = { tasks: [{ id: 'expert-0' }, { id: 'router' }], leaseMs: 60_000 }

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function gossipLatency (): Promise<void> {
  const run = (await cidOfCanonical(encodeCanonical({ bench: 'swarm', at: Date.now() }))).toString()
  const heartbeatIntervalMs = Number(values.heartbeat)
  const bootstrap = await createTestNode({ heartbeatIntervalMs })
  const joinBootstrap = async (): Promise<TestNode> => {
    return await createTestNode({ bootstrap: [bootstrap.addr], heartbeatIntervalMs })
  }
  const peers = await Promise.all(Array.from({ length: NODES - 1 }, joinBootstrap))
  const nodes = [bootstrap, ...peers]
  const arrivals = new Map<string, number[]>()
  for (const node of nodes) {
    node.gossip.join(run, createGossipValidator({ run, manifest: MANIFEST }))
    node.gossip.addEventListener('message', (evt) => {
      if (evt.detail.local || evt.detail.message.type !== 'claim') return
      arrivals.get(evt.detail.message.nonce)?.push(performance.now())
    })
  }
  const started = performance.now()
  // On timeout: connections / peers / run subscribers / pubsub peers of each node.
  const explain = (): string => nodes.map((n) => {
    return `${n.swarm.libp2p.getConnections().length}/${n.swarm.libp2p.getPeers().length}/` +
      `${n.gossip.subscribers(run).length}/${n.swarm.pubsub.getPeers().length}`
  }).join(' ')
  const subscribed = (): boolean => bootstrap.gossip.subscribers(run).length === NODES - 1 &&
    nodes.every((n) => n.gossip.subscribers(run).length > 0)
  await waitFor(subscribed, 'run topic subscriptions', { timeoutMs: 60_000, intervalMs: 20, explain })
  const joinMs = (performance.now() - started).toFixed(0)
  console.log(`${NODES} nodes joined through one bootstrap peer; all subscribed to the run after ${joinMs} ms`)
  const stats = (xs: number[]): string => {
    xs.sort((a, b) => a - b)
    return `min ${xs[0]}, median ${percentile(xs, 0.5)}, max ${xs[xs.length - 1]}`
  }
  const perNode = (): string => {
    const connections = stats(nodes.map((n) => n.swarm.libp2p.getConnections().length))
    const subscribers = stats(nodes.map((n) => n.gossip.subscribers(run).length))
    return `connections ${connections}; run subscribers ${subscribers}`
  }
  console.log(`per node: ${perNode()}`)
  const settledMs = await settle(nodes, Number(values.settle) * 1000)
  console.log(`connections held still for ${values.settle} s after ${settledMs.toFixed(0)} ms; per node: ${perNode()}`)

  const trace = values.trace ? new GossipTrace(nodes, runTopic(run)) : undefined
  await trace?.idle(3000)
  trace?.start()
  const latencies: number[] = []
  let delivered = 0
  for (let i = 0; i < MESSAGES; i++) {
    const sender = nodes[1 + (i % (NODES - 1))]
    const ts = Date.now()
    const nonce = newNonce()
    const peer = sender.swarm.peerId.toString()
    const bytes = encodeGossipMessage({
      v: 1, type: 'claim', run, peer, ts, task: 'expert-0', leaseUntil: ts + 30_000, nonce
    })
    const times: number[] = []
    arrivals.set(nonce, times)
    const sentAt = performance.now()
    trace?.sent(bytes, peer, sentAt)
    await sender.gossip.publish(run, bytes)
    await waitFor(() => times.length >= NODES - 1, `message ${i} on every node`, { timeoutMs: 10_000, intervalMs: 20 })
      .catch(() => {})
    delivered += times.length
    latencies.push(...times.map((t) => t - sentAt))
  }
  const after = perNode()
  const meshPeers = stats(nodes.map((n) => n.swarm.pubsub.getMeshPeers(runTopic(run)).length))
  console.log(`after the messages, per node: ${after}; mesh peers ${meshPeers}`)
  latencies.sort((a, b) => a - b)
  const delivery = `${MESSAGES} messages x ${NODES - 1} receivers, delivered ${delivered}/${MESSAGES * (NODES - 1)}`
  const p50 = percentile(latencies, 0.5).toFixed(1)
  const p99 = percentile(latencies, 0.99).toFixed(1)
  const max = latencies[latencies.length - 1].toFixed(1)
  console.log(`gossip: ${delivery}; latency p50 ${p50} ms, p99 ${p99} ms, max ${max} ms`)
  if (trace !== undefined) console.log(trace.report(percentile(latencies, 0.95)))
  await Promise.all(nodes.map(async (n) => { await n.stop() }))
}

/** Waits until no node's connection count has changed for `quietMs` (at most a minute); returns the wait. */
async function settle (nodes: TestNode[], quietMs: number): Promise<number> {
  const started = performance.now()
  const counts = (): string => nodes.map((n) => n.swarm.libp2p.getConnections().length).join()
  let last = counts()
  let stillSince = performance.now()
  while (performance.now() - stillSince < quietMs && performance.now() - started < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    const now = counts()
    if (now !== last) { last = now; stillSince = performance.now() }
  }
  return performance.now() - started
}

/** Plain TCP loopback: the same bytes through one socket, no encryption or muxing. */
async function tcpCopy (bytes: Uint8Array): Promise<number> {
  const server = createServer()
  const received = new Promise<number>((resolve) => {
    server.once('connection', (socket) => {
      let n = 0
      socket.on('data', (chunk: Buffer) => {
        n += chunk.byteLength
        if (n >= bytes.byteLength) resolve(performance.now())
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  const start = performance.now()
  socket.end(bytes)
  const end = await received
  socket.destroy()
  server.close()
  return end - start
}

/** A libp2p stream (TCP + Noise + Yamux) between the same two nodes: separates transport cost from bitswap's. */
async function libp2pCopy (a: TestNode, b: TestNode, bytes: Uint8Array): Promise<number> {
  const protocol = '/hddm/bench/copy/1.0.0'
  const done = Promise.withResolvers<number>()
  await b.swarm.libp2p.handle(protocol, async (stream) => {
    let n = 0
    for await (const chunk of stream) {
      n += chunk.byteLength
      if (n >= bytes.byteLength) { done.resolve(performance.now()); break }
    }
    await stream.close()
  })
  const stream = await a.swarm.libp2p.dialProtocol(b.swarm.getMultiaddrs()[0], protocol)
  const start = performance.now()
  for (let offset = 0; offset < bytes.byteLength; offset += 256 * 1024) {
    if (!stream.send(bytes.subarray(offset, offset + 256 * 1024))) await stream.onDrain()
  }
  const end = await done.promise
  await stream.close()
  await b.swarm.libp2p.unhandle(protocol)
  return end - start
}

async function throughput (): Promise<void> {
  const bytes = randomBytes(BYTES)
  const a = await createTestNode()
  const b = await createTestNode({ bootstrap: [a.addr] })
  const c = await createTestNode({ bootstrap: [a.addr] })
  const connected = (n: TestNode): boolean => n.swarm.libp2p.getConnections(a.swarm.peerId).length > 0
  await waitFor(() => connected(b) && connected(c), 'connections', { timeoutMs: 15_000, intervalMs: 20 })

  let t = performance.now()
  const cid = await a.storage.addBytes(bytes)
  const addMs = performance.now() - t
  // Rounds alternate the two paths, so that load from other processes (and JIT warm-up, which
  // favours whichever runs later) falls on both; a single cold run varied 29-86%.
  // Each round fetches into a node of its own: a stored file is not fetched again.
  const copies: number[] = []
  const files: number[] = []
  for (let round = 0; round < Number(values.rounds); round++) {
    copies.push(await libp2pCopy(a, b, bytes))
    const reader = round === 0 ? b : await createTestNode({ bootstrap: [a.addr] })
    await waitFor(() => connected(reader), 'connection', { timeoutMs: 15_000, intervalMs: 20 })
    // The announcer is named as provider, as the checkpoint mirror and catch-up name it.
    t = performance.now()
    const got = await reader.storage.getBytes(cid, { timeoutMs: 600_000, providers: [a.swarm.peerId] })
    files.push(performance.now() - t)
    if (sha(got) !== sha(bytes)) throw new Error('the file transfer returned different bytes')
    if (reader !== b) await reader.stop()
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
  const libp2pMs = median(copies)
  const fileMs = median(files)
  const perRound = files.map((ms, i) => `${(100 * copies[i] / ms).toFixed(0)}%`).join(', ')
  // Without A's file protocol C falls back to bitswap: the old path, measured on the same bytes.
  await a.swarm.libp2p.unhandle(FILE_TRANSFER_PROTOCOL)
  t = performance.now()
  const viaBitswap = await c.storage.getBytes(cid, { timeoutMs: 600_000, providers: [a.swarm.peerId] })
  const bitswapMs = performance.now() - t
  if (sha(viaBitswap) !== sha(bytes)) throw new Error('bitswap returned different bytes')
  const tcpMs = await tcpCopy(bytes)

  const mib = BYTES / (1024 * 1024)
  const rate = (ms: number): string => `${(mib / (ms / 1000)).toFixed(1)} MiB/s`
  console.log(`storage add ${mib} MiB (UnixFS, fs blockstore, pinned): ${addMs.toFixed(0)} ms (${rate(addMs)})`)
  console.log(`file transfer (/hddm/file/1.0.0) ${mib} MiB, verified, fs blockstores, median of ${files.length}: ` +
    `${fileMs.toFixed(0)} ms (${rate(fileMs)}); file transfer / stream per round: ${perRound}`)
  console.log(`bitswap fetch ${mib} MiB, fs blockstores on both ends: ${bitswapMs.toFixed(0)} ms (${rate(bitswapMs)})`)
  console.log(`libp2p stream copy (tcp+noise+yamux), median: ${libp2pMs.toFixed(0)} ms (${rate(libp2pMs)})`)
  console.log(`plain TCP loopback copy: ${tcpMs.toFixed(0)} ms (${rate(tcpMs)})`)
  const share = (ms: number): string => `${(100 * libp2pMs / ms).toFixed(0)}%`
  console.log(`throughput as a share of the libp2p stream's: file transfer ${share(fileMs)}, ` +
    `bitswap ${share(bitswapMs)}; libp2p stream / plain TCP: ${(libp2pMs / tcpMs).toFixed(1)}x slower`)
  await c.stop()
  await b.stop()
  await a.stop()
}

console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} cores`)
if (values.only !== 'transfer') await gossipLatency()
if (values.only !== 'gossip') await throughput()
