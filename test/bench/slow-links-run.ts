/**
 * The rows of the slow-links bench (slow-links.ts): a test internet with one hddm peer process
 * per host; each row gives every host the same link (a rate limit, a delay with jitter, or
 * neither), starts fresh nodes, then measures a checkpoint transfer between two of them and
 * gossip among all of them.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { cidOfCanonical, encodeCanonical } from '../../src/protocol/canonical.js'
import { createInternet, type Internet, type InternetInit } from '../netns/internet.js'
import { icmpRtts } from '../netns/icmp-ping.js'
import { startProbe, type Probe } from '../netns/probe.js'
import { startSwarmPeer, type Arrival, type SwarmPeer } from '../netns/swarm-peer-client.js'
import { waitFor } from '../utils/wait.js'
import { gapsOf, maxBlockGap, median, percentile, type Gaps } from './slow-links-stats.js'

export interface LinkProfile {
  name: string
  /** Each host's link, each way; undefined: unlimited. */
  rateMbit?: number
  /** Added to every packet a host sends (so a round trip between two hosts grows by twice this). */
  delayMs?: number
  jitterMs?: number
}

export interface RowOptions {
  /** Public hosts, the bootstrap host, the provider and the fetcher among them. */
  publicHosts: number
  /** Hosts behind NAT, each behind a router of its own (links shaped between host and router). */
  natHosts: number
  bytes: number
  rounds: number
  messages: number
  /** Between two publications, ms. */
  spacingMs: number
  /** Gossipsub heartbeat, ms: undefined for the swarm's default (1 s). */
  heartbeatMs?: number
  /** A stall is this many round trips without progress. */
  stallRtts: number
  log: (line: string) => void
}

export interface TransferRound {
  tcpMs: number
  streamMs: number
  fileMs: number
  file: Gaps & { maxBlockGapMs: number }
  stream: Gaps
  /** What the fetcher's socket read, [ms since the first chunk, bytes], for each path. */
  fileTimeline: Array<[number, number]>
  streamTimeline: Array<[number, number]>
}

export interface GossipResult {
  peers: number
  delivered: number
  expected: number
  latenciesMs: number[]
  p50: number
  p99: number
  max: number
  joinMs: number
  /** Per node, before the messages: [connections, run subscribers, mesh peers]. */
  state: Array<[number, number, number]>
  /** Deliveries handed over by the publisher itself (one hop), and by a peer forwarding them. */
  direct: HopStats
  forwarded: HopStats
  /** The event loop's delay during the messages: the worst peer's p99, and the longest of all, ms. */
  loopP99: number
  loopMax: number
  /** ICMP round trips between two of the peers' hosts during the messages (lost ones left out), ms. */
  linkRttMs: number[]
}

export interface HopStats { count: number, p50: number, p99: number }

export interface RowResult {
  profile: LinkProfile
  hosts: Array<{ name: string, ip: string, role: string }>
  /** ICMP round trips fetcher -> provider before the transfer (lost ones left out), ms. */
  rttMs: number[]
  rounds: TransferRound[]
  gossip: GossipResult
  startMs: number
}

const PORT = 4100
const STARTING_AT_ONCE = 3
const PROVIDER = 'prov'
const FETCHER = 'fetch'

/** boot, prov, fetch, then pub-4...: the provider and fetcher are not the bootstrap host. */
export function topologyOf (options: Pick<RowOptions, 'publicHosts' | 'natHosts'>): InternetInit {
  const names = ['boot', PROVIDER, FETCHER]
  for (let i = names.length + 1; i <= options.publicHosts; i++) names.push(`pub-${i}`)
  return {
    public: names,
    nats: Array.from({ length: options.natHosts }, (_, j) => ({ name: `nat-${j + 1}`, hosts: [`home-${j + 1}`] }))
  }
}

/**
 * The internet and its processes, started once for every row: a row reshapes the links and
 * starts fresh nodes in the same processes (a process takes 5-10 s of CPU to load its modules
 * on this machine, more than the measurements themselves).
 */
export interface Bench {
  net: Internet
  /** One per host that is no router, the bootstrap host's first. */
  peers: SwarmPeer[]
  /** On the provider's host, then the fetcher's. */
  probes: [Probe, Probe]
}

export async function openBench (options: RowOptions): Promise<Bench> {
  const net = await createInternet(topologyOf(options))
  try {
    const t = performance.now()
    const probes = await Promise.all([PROVIDER, FETCHER].map(async (h) => await startProbe(net, h)))
    // A few at a time: ten processes loading at once on a loaded machine each took over 2 minutes.
    const peers = await inTurn(net.hosts.filter((h) => h.role !== 'router').map((h) => h.name),
      STARTING_AT_ONCE, async (host) => await startSwarmPeer(net, host))
    options.log(`${net.hosts.length} hosts, ${peers.length} peer processes and 2 probes started in ` +
      `${((performance.now() - t) / 1000).toFixed(1)} s`)
    return { net, peers, probes: [probes[0], probes[1]] }
  } catch (err) {
    await net.stop()
    throw err
  }
}

const relative = (m: Array<[number, number]>): Array<[number, number]> =>
  m.map(([t, n]) => [Math.round((t - m[0][0]) * 10) / 10, n])
const defined = (xs: Array<number | undefined>): number[] => xs.filter((x): x is number => x !== undefined)

/** `f` over `items`, at most `n` at a time, results in order. */
async function inTurn<T, R> (items: T[], n: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await f(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker))
  return out
}

export async function measureRow (bench: Bench, row: number, profile: LinkProfile, options: RowOptions):
Promise<RowResult> {
  const { log } = options
  const { net, peers, probes } = bench
  const link = {
    ...(profile.rateMbit !== undefined ? { rateMbit: profile.rateMbit } : {}),
    ...(profile.delayMs !== undefined ? { delayMs: profile.delayMs } : {}),
    ...(profile.jitterMs !== undefined ? { jitterMs: profile.jitterMs } : {})
  }
  for (const p of peers) await net.shape(p.host, link)
  // A port per row: the last row's connections may still be closing on the old one.
  const listen = (host: string): string => `/ip4/${net.host(host).ip}/tcp/${PORT + row}`
  let t = performance.now()
  const [boot, ...others] = peers
  const bootAddr = await boot.start(listen(boot.host), [], options.heartbeatMs)
  await Promise.all(others.map(async (p) => await p.start(listen(p.host), [bootAddr], options.heartbeatMs)))
  const startMs = performance.now() - t
  log(`  ${profile.name}: ${peers.length} nodes started in ${(startMs / 1000).toFixed(1)} s`)
  try {
    const byHost = (h: string): SwarmPeer => peers.find((p) => p.host === h)!
    t = performance.now()
    const transfer = await measureTransfer(net, byHost(PROVIDER), byHost(FETCHER), probes, profile, options)
    log(`  ${profile.name}: transfer done in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    const gossip = await measureGossip(net, peers, options)
    log(`  ${profile.name}: gossip p50 ${gossip.p50.toFixed(1)} ms, p99 ${gossip.p99.toFixed(1)} ms, ` +
      `${gossip.delivered}/${gossip.expected} delivered`)
    return {
      profile,
      hosts: net.hosts.map((h) => ({ name: h.name, ip: h.ip, role: h.role })),
      ...transfer,
      gossip,
      startMs
    }
  } finally {
    await Promise.all(peers.map(async (p) => { await p.stopNode() }))
  }
}

async function measureTransfer (net: Internet, provider: SwarmPeer, fetcher: SwarmPeer, probes: Probe[],
  profile: LinkProfile, options: RowOptions): Promise<{ rttMs: number[], rounds: TransferRound[] }> {
  const [provProbe, fetchProbe] = probes
  const { bytes } = options
  const sink = await fetchProbe.listen(net.host(FETCHER).ip)
  const rttMs = defined(await icmpRtts(net, FETCHER, PROVIDER, 20, 50))
  await fetcher.serveCopy()
  // A fresh file per round: a file already stored is not fetched again.
  const files = []
  for (let r = 0; r < options.rounds; r++) files.push(await provider.add(bytes))
  const timeoutMs = Math.ceil(Math.max(120_000, 20 * bytes / ((profile.rateMbit ?? 100) * 125)))
  const rounds: TransferRound[] = []
  for (const file of files) {
    // The three paths in turn, each carrying the same number of bytes provider -> fetcher.
    const tcpMbit = await provProbe.send(net.host(FETCHER).ip, sink.port, bytes)
    const tcpMs = bytes * 8 / 1e6 / tcpMbit * 1000
    const streamMs = await provider.copy(fetcher.addr, bytes, timeoutMs)
    const copied = await fetcher.lastCopy()
    const got = await fetcher.fetch(file.cid, provider.addr, timeoutMs)
    if (got.sha !== file.sha) throw new Error(`the file transfer returned different bytes (${got.bytes} of ${bytes})`)
    // Link rate in bytes per ms: the shaper's, or on an unlimited link what TCP just did.
    const rate = profile.rateMbit !== undefined ? profile.rateMbit * 125 : tcpMbit * 125
    rounds.push({
      tcpMs,
      streamMs,
      fileMs: got.ms,
      file: { ...gapsOf(got.timeline, rate), maxBlockGapMs: maxBlockGap(got.blocks) },
      stream: gapsOf(copied, rate),
      fileTimeline: relative(got.timeline.messages),
      streamTimeline: relative(copied.messages)
    })
    options.log(`    round ${rounds.length}: tcp ${tcpMs.toFixed(0)} ms, stream ${streamMs.toFixed(0)} ms, ` +
      `file ${got.ms.toFixed(0)} ms (idle max ${rounds[rounds.length - 1].file.maxIdleMs.toFixed(0)} ms)`)
  }
  return { rttMs, rounds }
}

async function measureGossip (net: Internet, peers: SwarmPeer[], options: RowOptions): Promise<GossipResult> {
  const run = (await cidOfCanonical(encodeCanonical({ bench: 'slow-links', at: Date.now() }))).toString()
  const started = performance.now()
  await Promise.all(peers.map(async (p) => { await p.join(run) }))
  const states = async (): Promise<Array<[number, number, number]>> => (await Promise.all(peers.map(
    async (p) => await p.state(run)))).map((s) => [s.connections, s.subscribers, s.mesh])
  await waitFor(async () => {
    const s = await states()
    return s[0][1] === peers.length - 1 && s.every(([, subscribers, mesh]) => subscribers > 0 && mesh > 0)
  }, 'every peer subscribed with a mesh peer', {
    timeoutMs: 90_000, intervalMs: 250, explain: async () => JSON.stringify(await states())
  })
  const joinMs = performance.now() - started
  // A few heartbeats for the mesh to settle, as on a swarm that has run a while.
  await sleep(3 * (options.heartbeatMs ?? 1000))
  const state = await states()
  await Promise.all(peers.map(async (p) => await p.loopDelay()))
  const sent: Array<{ nonce: string, sentAt: number }> = []
  // The link's own round trips while the messages go, every 100 ms, between two peers.
  const pings = icmpRtts(net, peers[peers.length - 1].host, peers[1].host, Math.ceil(options.messages *
    options.spacingMs / 100), 100)
  for (let i = 0; i < options.messages; i++) {
    const publisher = peers[1 + (i % (peers.length - 1))]
    sent.push(await publisher.publish(run))
    await sleep(options.spacingMs)
  }
  const expected = options.messages * (peers.length - 1)
  const arrivals = async (): Promise<Array<Awaited<ReturnType<SwarmPeer['arrivals']>>>> =>
    await Promise.all(peers.map(async (p) => await p.arrivals()))
  const count = (all: Array<Array<{ nonce: string }>>): number => {
    const nonces = new Set(sent.map((s) => s.nonce))
    return all.reduce((n, a) => n + a.filter((x) => nonces.has(x.nonce)).length, 0)
  }
  await waitFor(async () => count(await arrivals()) >= expected, 'every message everywhere',
    { timeoutMs: 10_000, intervalMs: 250 }).catch(() => {})
  const loops = await Promise.all(peers.map(async (p) => await p.loopDelay()))
  const linkRttMs = defined(await pings)
  const all = (await arrivals()).flat()
  const sentAt = new Map(sent.map((s) => [s.nonce, s.sentAt]))
  const latency = (a: Arrival): number => a.at - sentAt.get(a.nonce)!
  const mine = all.filter((a) => sentAt.has(a.nonce))
  const latenciesMs = mine.map(latency)
  const hops = (xs: Arrival[]): HopStats => {
    const ms = xs.map(latency)
    return { count: ms.length, p50: median(ms), p99: percentile(ms, 0.99) }
  }
  return {
    peers: peers.length,
    delivered: latenciesMs.length,
    expected,
    latenciesMs,
    p50: median(latenciesMs),
    p99: percentile(latenciesMs, 0.99),
    max: Math.max(...latenciesMs),
    joinMs,
    state,
    direct: hops(mine.filter((a) => a.via === a.from)),
    forwarded: hops(mine.filter((a) => a.via !== a.from)),
    loopP99: Math.max(...loops.map((l) => l.p99)),
    loopMax: Math.max(...loops.map((l) => l.max)),
    linkRttMs
  }
}
