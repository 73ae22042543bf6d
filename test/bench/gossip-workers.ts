/**
 * Gossip latency at a real run's message rate, with the nodes on one event loop and spread over
 * worker threads, in the same run: each thread is an event loop of its own, as each machine of a
 * real swarm is. Real TCP, Noise, Yamux on 127.0.0.1, one swarm per setting.
 *
 *   npx tsx --import ./src/polyfills.ts test/bench/gossip-workers.ts [--nodes 32] [--workers 1,4]
 *     [--messages 40] [--rate <nodes / 5>] [--stagger <10 000 / nodes>] [--heartbeat 1000] [--settle 5]
 *
 * Messages are published open-loop, `--rate` a second from the nodes in turn, whether or not the
 * previous ones have arrived: by default one claim per node per 5 s, what the task loop's beacons
 * make (src/node/task-loop.ts). test/bench/swarm.ts instead publishes the next message as soon as
 * the last has reached every node, so its messages overlap the previous ones' forwarding.
 * Arrivals are stamped in the receiving thread on the clock all threads share, so the main
 * thread's own delays do not count. CPU per message is the whole process's (every thread).
 */
import { parseArgs } from 'node:util'
import type { Worker } from 'node:worker_threads'
import { cidOfCanonical, encodeCanonical } from '../../src/protocol/canonical.js'
import { newNonce } from '../../src/protocol/messages.js'
import { startWorker } from '../../src/runtime/worker-thread.js'
import type { WorkerReply, WorkerRequest } from './gossip-worker-nodes.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '32' },
    /** Thread counts to compare, one swarm each (with --stagger's values); the first is the baseline. */
    workers: { type: 'string', default: '1,4' },
    messages: { type: 'string', default: '40' },
    /** Messages a second; default: one per node per 5 s beacon. */
    rate: { type: 'string' },
    /**
     * Ms between node starts. Machines of a real swarm start at unrelated times, so their timers
     * (libp2p pings every connection every 10 s, gossipsub's heartbeat) are out of phase; nodes
     * started together in one process fire them together. Default: one ping interval over all nodes.
     * A list compares settings, like --workers.
     */
    stagger: { type: 'string' },
    heartbeat: { type: 'string', default: '1000' },
    settle: { type: 'string', default: '5' }
  }
})
const NODES = Number(values.nodes)
const WORKER_COUNTS = values.workers!.split(',').map(Number)
const MESSAGES = Number(values.messages)
const RATE = values.rate !== undefined ? Number(values.rate) : NODES / 5
const HEARTBEAT_MS = Number(values.heartbeat)
/** One swarm per row: thread counts and start spacings, a single value standing for every row. */
const STAGGERS_MS = (values.stagger ?? String(10_000 / NODES)).split(',').map(Number)
const ROWS = Math.max(WORKER_COUNTS.length, STAGGERS_MS.length)
const rowSetting = (list: number[], row: number): number => list[Math.min(row, list.length - 1)]

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

const replyKey = (reply: WorkerReply): string => reply.type === 'published' ? `published:${reply.nonce}` : reply.type

/** One worker and its requests: each resolves with the worker's next reply of the awaited type. */
class NodeGroup {
  private readonly waiting = new Map<string, Array<(reply: WorkerReply) => void>>()
  /** Node count, known once started. */
  size = 0

  constructor (private readonly worker: Worker, onArrival: (nonce: string, at: number) => void) {
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'arrival') { onArrival(reply.nonce, reply.at); return }
      this.waiting.get(replyKey(reply))?.shift()?.(reply)
    })
    worker.on('error', (err) => { console.error('worker failed:', err); process.exit(1) })
  }

  /** Resolves with the reply of type `replyType` (a publish's: the one for its nonce). */
  async request<T extends WorkerReply['type']>(request: WorkerRequest, replyType: T):
  Promise<Extract<WorkerReply, { type: T }>> {
    const key = request.type === 'publish' ? `${replyType}:${request.nonce}` : replyType
    const reply = new Promise<WorkerReply>((resolve) => {
      const queue = this.waiting.get(key) ?? []
      queue.push(resolve)
      this.waiting.set(key, queue)
    })
    this.worker.postMessage(request)
    return await reply as Extract<WorkerReply, { type: T }>
  }

  async terminate (): Promise<void> {
    await this.worker.terminate()
  }
}

interface Stats { connections: number[], subscribers: number[], mesh: number[] }
interface Result {
  workers: number
  staggerMs: number
  delivered: number
  p50: number
  p99: number
  max: number
  cpuPerMessage: number
}

const spread = (xs: number[]): string => {
  const sorted = [...xs].sort((a, b) => a - b)
  return `min ${sorted[0]}, median ${percentile(sorted, 0.5)}, max ${sorted[sorted.length - 1]}`
}

/** One swarm of NODES nodes over `workers` threads: join, settle, publish, measure, stop. */
async function measure (workers: number, staggerMs: number): Promise<Result> {
  const arrivals = new Map<string, number[]>()
  const groups = Array.from({ length: workers }, () => new NodeGroup(
    startWorker(import.meta.url, 'gossip-worker-nodes', {}),
    (nonce, at) => { arrivals.get(nonce)?.push(at) }
  ))
  try {
    await join(groups, staggerMs)
    return { staggerMs, ...await publishAll(groups, arrivals) }
  } finally {
    await Promise.all(groups.map(async (g) => { await g.request({ type: 'stop' }, 'stopped') }))
    await Promise.all(groups.map(async (g) => { await g.terminate() }))
  }
}

async function stats (groups: NodeGroup[]): Promise<Stats> {
  const replies = await Promise.all(groups.map(async (g) => await g.request({ type: 'stats' }, 'stats')))
  return {
    connections: replies.flatMap((r) => r.connections),
    subscribers: replies.flatMap((r) => r.subscribers),
    mesh: replies.flatMap((r) => r.mesh)
  }
}

/** The bootstrap node in the first thread, the others spread evenly; then wait until dialling stops. */
async function join (groups: NodeGroup[], staggerMs: number): Promise<void> {
  const run = (await cidOfCanonical(encodeCanonical({ bench: 'gossip-workers', at: Date.now() }))).toString()
  const heartbeatIntervalMs = HEARTBEAT_MS
  const started = performance.now()
  const [bootstrap] = (await groups[0].request({ type: 'start', count: 1, run, heartbeatIntervalMs }, 'started')).addrs
  groups[0].size = 1
  const others = NODES - 1
  const counts = groups.map((_, w) => Math.floor(others / groups.length) + (w < others % groups.length ? 1 : 0))
  if (staggerMs > 0) {
    for (const [w, group] of groups.entries()) {
      for (let i = 0; i < counts[w]; i++) {
        await sleep(staggerMs)
        await group.request({ type: 'start', count: 1, bootstrap, run, heartbeatIntervalMs }, 'started')
        group.size++
      }
    }
  } else {
    await Promise.all(groups.map(async (group, w) => {
      await group.request({ type: 'start', count: counts[w], bootstrap, run, heartbeatIntervalMs }, 'started')
      group.size += counts[w]
    }))
  }
  for (let now = await stats(groups); !now.subscribers.every((n) => n > 0); now = await stats(groups)) {
    if (performance.now() - started > 120_000) {
      throw new Error(`a node found no run subscriber in 120 s; per node: connections ${now.connections}, ` +
        `subscribers ${now.subscribers}`)
    }
    await sleep(100)
  }
  const joined = performance.now() - started
  // A new swarm dials for a while (DHT queries, peer exchange); measure on a running one.
  const quietMs = Number(values.settle) * 1000
  let last = (await stats(groups)).connections.join()
  let stillSince = performance.now()
  while (performance.now() - stillSince < quietMs && performance.now() - started < 120_000) {
    await sleep(250)
    const now = (await stats(groups)).connections.join()
    if (now !== last) { last = now; stillSince = performance.now() }
  }
  const settled = await stats(groups)
  console.log(`${groups.length} thread(s) (${groups.map((g) => g.size)} nodes): all subscribed after ` +
    `${joined.toFixed(0)} ms, connections still after ${(performance.now() - started).toFixed(0)} ms; per node: ` +
    `connections ${spread(settled.connections)}, run subscribers ${spread(settled.subscribers)}`)
}

/** Global node index -> its thread and its index there. */
function locate (groups: NodeGroup[], index: number): { group: NodeGroup, node: number } {
  let rest = index
  for (const group of groups) {
    if (rest < group.size) return { group, node: rest }
    rest -= group.size
  }
  throw new RangeError(`no node ${index}`)
}

/** Open loop: message i leaves at i / RATE s, from node 1 + i mod (NODES - 1). */
async function publishAll (groups: NodeGroup[], arrivals: Map<string, number[]>): Promise<Omit<Result, 'staggerMs'>> {
  const sent: Array<{ sentAt: number, times: number[] }> = []
  const cpuBefore = process.cpuUsage()
  const t0 = performance.now()
  const publishing: Array<Promise<void>> = []
  for (let i = 0; i < MESSAGES; i++) {
    await sleep(Math.max(0, t0 + i * 1000 / RATE - performance.now()))
    const { group, node } = locate(groups, 1 + (i % (NODES - 1)))
    const nonce = newNonce()
    const times: number[] = []
    arrivals.set(nonce, times)
    publishing.push(group.request({ type: 'publish', node, nonce, ts: Date.now() }, 'published')
      .then(({ sentAt }) => { sent.push({ sentAt, times }) }))
  }
  await Promise.all(publishing)
  const deadline = performance.now() + 10_000
  while (sent.some((m) => m.times.length < NODES - 1) && performance.now() < deadline) await sleep(20)
  const elapsed = performance.now() - t0
  const cpu = process.cpuUsage(cpuBefore)
  const latencies = sent.flatMap((m) => m.times.map((t) => t - m.sentAt)).sort((a, b) => a - b)
  const mesh = (await stats(groups)).mesh
  console.log(`  mesh peers per node after the messages: ${spread(mesh)}; ` +
    `${MESSAGES} messages in ${elapsed.toFixed(0)} ms`)
  return {
    workers: groups.length,
    delivered: latencies.length,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies[latencies.length - 1],
    cpuPerMessage: (cpu.user + cpu.system) / 1000 / MESSAGES
  }
}

console.log(`node v${process.versions.node}; ${NODES} nodes, ${MESSAGES} messages at ${RATE} a second, ` +
  `heartbeat ${HEARTBEAT_MS} ms`)
const results: Result[] = []
for (let row = 0; row < ROWS; row++) {
  results.push(await measure(rowSetting(WORKER_COUNTS, row), rowSetting(STAGGERS_MS, row)))
}
console.log('| threads | nodes started apart | delivered | p50 | p99 | max | p99 / first row\'s | CPU per message |')
console.log('|---|---|---|---|---|---|---|---|')
for (const r of results) {
  const cells = [
    r.workers, `${r.staggerMs.toFixed(0)} ms`, `${r.delivered}/${MESSAGES * (NODES - 1)}`,
    `${r.p50.toFixed(1)} ms`, `${r.p99.toFixed(1)} ms`,
    `${r.max.toFixed(1)} ms`, (r.p99 / results[0].p99).toFixed(2), `${r.cpuPerMessage.toFixed(0)} ms`
  ]
  console.log(`| ${cells.join(' | ')} |`)
}
