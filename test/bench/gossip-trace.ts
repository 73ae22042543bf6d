/**
 * Where gossip latency goes (issue 16): every delivery is traced back hop by hop to its publisher,
 * and each hop is labelled by how it travelled, so the p99 tail can be read as "n hops, the slow
 * one was an IWANT answer" rather than guessed at.
 *
 * - `mesh`: forwarded by a peer in the receiver's mesh (or the publisher's flood publish to it);
 * - `iwant`: the receiver asked for it after an IHAVE, so it waited for a heartbeat's gossip;
 * - `other`: from a peer outside the receiver's mesh that was not asked (a one-sided mesh link).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { TestNode } from '../utils/create-node.js'

export type HopKind = 'mesh' | 'iwant' | 'other'

interface Arrival { at: number, from: string, kind: HopKind }

interface GossipsubInternals {
  streamsOutbound: Map<string, unknown>
  peers: Map<string, unknown>
  handleIHave: (id: string, ihave: unknown) => Array<{ messageIDs: Uint8Array[] }>
}

const key = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')

export class GossipTrace {
  private readonly arrivals = new Map<string, Map<string, Arrival>>()
  private readonly published = new Map<string, { peer: string, at: number }>()
  private readonly asked = new Map<string, Set<string>>()
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 5 })

  private readonly nodes: TestNode[]
  private readonly topic: string

  constructor (nodes: TestNode[], topic: string) {
    this.nodes = nodes
    this.topic = topic
    for (const node of nodes) {
      const self = node.swarm.peerId.toString()
      const asked = new Set<string>()
      this.asked.set(self, asked)
      const pubsub = node.swarm.pubsub as unknown as GossipsubInternals
      const handleIHave = pubsub.handleIHave.bind(pubsub)
      pubsub.handleIHave = (id, ihave) => {
        const iwant = handleIHave(id, ihave)
        for (const { messageIDs } of iwant) for (const id of messageIDs) asked.add(key(id))
        return iwant
      }
      node.swarm.pubsub.addEventListener('gossipsub:message', (evt) => {
        const { propagationSource, msgId, msg } = evt.detail
        const from = propagationSource.toString()
        const inMesh = node.swarm.pubsub.getMeshPeers(topic).includes(from)
        const iwanted = asked.has(key(Buffer.from(msgId, 'base64')))
        const kind: HopKind = iwanted ? 'iwant' : inMesh || from === this.publisher(msg.data) ? 'mesh' : 'other'
        const perMessage = this.arrivals.get(key(msg.data)) ?? new Map<string, Arrival>()
        this.arrivals.set(key(msg.data), perMessage)
        perMessage.set(self, { at: performance.now(), from, kind })
      })
    }
  }

  private cpu = process.cpuUsage()
  private idleLoop = ''

  /** The event loop's delay with the nodes connected but no messages: what the machine alone costs. */
  async idle (ms: number): Promise<void> {
    this.cpu = process.cpuUsage()
    this.loop.enable()
    await new Promise((resolve) => setTimeout(resolve, ms))
    this.loop.disable()
    const cpu = process.cpuUsage(this.cpu)
    this.idleLoop = `${loopDelay(this.loop)}, CPU ${((cpu.user + cpu.system) / 10 / ms).toFixed(0)}% of a core`
    this.loop.reset()
  }

  start (): void {
    this.cpu = process.cpuUsage()
    this.loop.enable()
  }

  sent (bytes: Uint8Array, peer: string, at: number): void { this.published.set(key(bytes), { peer, at }) }

  private publisher (data: Uint8Array): string | undefined { return this.published.get(key(data))?.peer }

  /** Per-hop delays by kind, and the hop shape of deliveries slower than `tailMs`. */
  report (tailMs: number): string {
    this.loop.disable()
    const cpu = process.cpuUsage(this.cpu)
    const cpuPerMessage = (cpu.user + cpu.system) / 1000 / Math.max(1, this.published.size)
    const hops: Record<HopKind, number[]> = { mesh: [], iwant: [], other: [] }
    const tail: string[] = []
    const hopCounts: number[] = []
    for (const [data, perMessage] of this.arrivals) {
      const origin = this.published.get(data)
      if (origin === undefined) continue
      const timeOf = (peer: string): number | undefined =>
        peer === origin.peer ? origin.at : perMessage.get(peer)?.at
      for (const [peer, arrival] of perMessage) {
        // Each delivery is the last hop of exactly one path, so counting last hops counts every hop once.
        const first = timeOf(arrival.from)
        if (first !== undefined) hops[arrival.kind].push(arrival.at - first)
        const path: string[] = []
        let hop = arrival
        for (let n = 0; n < 40; n++) {
          const before = timeOf(hop.from)
          if (before === undefined) { path.push(`${hop.kind}:?`); break }
          path.push(`${hop.kind}:${(hop.at - before).toFixed(0)}`)
          if (hop.from === origin.peer) break
          const next = perMessage.get(hop.from)
          if (next === undefined) break
          hop = next
        }
        hopCounts.push(path.length)
        const total = arrival.at - origin.at
        if (total <= tailMs) continue
        // Mesh peers (as the receiver sees its mesh now) that had the message 50 ms before it: many
        // means they held it and did not forward it here (a one-sided mesh link).
        const node = this.nodes.find((n) => n.swarm.peerId.toString() === peer)
        const mesh = node?.swarm.pubsub.getMeshPeers(this.topic) ?? []
        const idle = mesh.filter((p) => (timeOf(p) ?? Infinity) < arrival.at - 50).length
        tail.push(`${total.toFixed(0)} ms: ${path.reverse().join(' > ')} (mesh ${mesh.length}, ${idle} had it earlier)`)
      }
    }
    const pct = (xs: number[], p: number): string =>
      xs.length === 0 ? '-' : xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(0)
    const kinds = (Object.keys(hops) as HopKind[]).map((k) =>
      `${k} ${hops[k].length} (p50 ${pct(hops[k], 0.5)}, p99 ${pct(hops[k], 0.99)} ms)`).join('; ')
    // A peer we hold in our mesh but have no outbound stream to gets nothing from us: sendRpc drops it.
    let mute = 0
    let meshLinks = 0
    for (const node of this.nodes) {
      const internals = node.swarm.pubsub as unknown as GossipsubInternals
      for (const peer of node.swarm.pubsub.getMeshPeers(this.topic)) {
        meshLinks++
        if (!internals.streamsOutbound.has(peer)) mute++
      }
    }
    return [
      `mesh links without an outbound stream (messages to them are dropped): ${mute}/${meshLinks}`,
      `process CPU per message (all ${this.asked.size} nodes): ${cpuPerMessage.toFixed(0)} ms`,
      `hops (last hop of each delivery, by kind): ${kinds}`,
      `hops per delivery: p50 ${pct(hopCounts, 0.5)}, max ${pct(hopCounts, 1)}`,
      `event-loop delay: idle ${this.idleLoop}; during the messages ${loopDelay(this.loop)}`,
      `deliveries slower than ${tailMs.toFixed(0)} ms (publisher > ... > receiver, kind:ms per hop):`,
      ...tail.sort((a, b) => parseFloat(b) - parseFloat(a)).slice(0, 12).map((l) => `  ${l}`)
    ].join('\n')
  }
}

function loopDelay (h: IntervalHistogram): string {
  const ms = (ns: number): string => (ns / 1e6).toFixed(0)
  return `p50 ${ms(h.percentile(50))} ms, p99 ${ms(h.percentile(99))} ms, max ${ms(h.max)} ms`
}
