import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { cidOfCanonical, encodeCanonical } from '../../src/protocol/canonical.js'
import { encodeGossipMessage } from '../../src/protocol/codec.js'
import { newNonce, type GossipMessage } from '../../src/protocol/messages.js'
import { runTopic } from '../../src/protocol/topics.js'
import { createGossipValidator } from '../../src/protocol/validate.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { ClaimTable } from '../../src/network/claims.js'
import type { GossipMessageDetail } from '../../src/network/gossip.js'

const MANIFEST = { tasks: [{ id: 'expert-0' }, { id: 'expert-1' }, { id: 'router' }], leaseMs: 60_000 }
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
type Received = Array<GossipMessageDetail<GossipMessage>>
interface TableEntry { table: ClaimTable, seen: Received }

describe('a 5-node swarm on 127.0.0.1 joined through one bootstrap peer', () => {
  let run: string
  let otherRun: string
  let nodes: TestNode[]
  const inbox = new Map<string, Received>()
  const tables = new Map<string, TableEntry>()

  const claim = (from: TestNode, over: Partial<GossipMessage> = {}): Uint8Array => {
    const ts = Date.now()
    return encodeGossipMessage({
      v: 1, type: 'claim', run, peer: from.swarm.peerId.toString(), ts,
      task: 'expert-0', leaseUntil: ts + 30_000, nonce: newNonce(), ...over
    } as GossipMessage)
  }
  const received = (node: TestNode): Received => inbox.get(node.swarm.peerId.toString()) ?? []
  /** Nodes a test adds for itself, stopped with the swarm. */
  const extra: TestNode[] = []

  /** Records what `node` receives, feeds its claim table, and joins the run topic. */
  const join = (node: TestNode): void => {
    const id = node.swarm.peerId.toString()
    inbox.set(id, [])
    node.gossip.addEventListener('message', (evt) => { if (!evt.detail.local) inbox.get(id)?.push(evt.detail) })
    // What a node composition does: every accepted message, its own included, feeds the claim table.
    const entry: TableEntry = { table: new ClaimTable({ tasks: MANIFEST.tasks, leaseMs: MANIFEST.leaseMs }), seen: [] }
    tables.set(id, entry)
    node.gossip.addEventListener('message', (evt) => {
      entry.table.apply(evt.detail.message, Date.now())
      entry.seen.push(evt.detail)
    })
    node.gossip.join(run, createGossipValidator({ run, manifest: MANIFEST }))
  }

  /** One more peer of the run, joined through `bootstrap` and subscribed both ways. */
  const joinedNode = async (bootstrap: TestNode): Promise<TestNode> => {
    const node = await createTestNode({ bootstrap: [bootstrap.addr] })
    extra.push(node)
    join(node)
    const id = node.swarm.peerId.toString()
    await vi.waitFor(() => {
      expect(node.gossip.subscribers(run)).toContain(bootstrap.swarm.peerId.toString())
      expect(bootstrap.gossip.subscribers(run)).toContain(id)
    }, { timeout: 15_000, interval: 50 })
    return node
  }

  beforeAll(async () => {
    run = (await cidOfCanonical(encodeCanonical({ name: 'swarm-test-run' }))).toString()
    otherRun = (await cidOfCanonical(encodeCanonical({ name: 'another-run' }))).toString()
    const bootstrap = await createTestNode()
    const peers = await Promise.all([1, 2, 3, 4].map(async () => await createTestNode({ bootstrap: [bootstrap.addr] })))
    nodes = [bootstrap, ...peers]
    for (const node of nodes) join(node)
    // Every peer reaches the others only through the bootstrap peer, which relays the run topic.
    await vi.waitFor(() => {
      for (const node of nodes) expect(node.gossip.subscribers(run).length).toBeGreaterThan(0)
      expect(bootstrap.gossip.subscribers(run)).toHaveLength(4)
    }, { timeout: 15_000, interval: 50 })
  })

  afterAll(async () => { await Promise.all([...(nodes ?? []), ...extra].map(async (n) => { await n.stop() })) })

  it('connects every peer to the bootstrap peer from its address alone', () => {
    const bootstrapId = nodes[0].swarm.peerId.toString()
    for (const node of nodes.slice(1)) {
      expect(node.swarm.libp2p.getConnections().map(c => c.remotePeer.toString())).toContain(bootstrapId)
    }
  })

  it('delivers a message published by one peer to all the others, decoded, with its signer', async () => {
    const sender = nodes[3]
    const bytes = claim(sender, { task: 'expert-1' })
    await sender.gossip.publish(run, bytes)
    await vi.waitFor(() => {
      for (const node of nodes) {
        if (node === sender) continue
        const delivered = received(node).some(m =>
          m.from === sender.swarm.peerId.toString() && m.message.type === 'claim' && m.message.task === 'expert-1')
        expect(delivered).toBe(true)
      }
    }, { timeout: 10_000, interval: 25 })
  })

  it('refuses to publish what peers would reject', async () => {
    const sender = nodes[1]
    const forged = claim(sender, { peer: nodes[2].swarm.peerId.toString() })
    await expect(sender.gossip.publish(run, forged)).rejects.toHaveProperty('name', 'InvalidGossipMessageError')
    await expect(sender.gossip.publish(otherRun, claim(sender))).rejects.toHaveProperty('name', 'NotJoinedError')
  })

  it('rejects forged, malformed, oversized and wrong-run messages and drives the sender\'s score below zero',
    async () => {
    // An attacker of its own, joined like the others: graylisted at the end, it would change what
    // the other tests see of the swarm if it were one of the five.
    const attacker = await joinedNode(nodes[0])
    const everyone = [...nodes, attacker]
    const honest = nodes[2]
    const topic = runTopic(run)
    const attackerId = attacker.swarm.peerId.toString()
    const before = everyone.map(n => received(n).length)
    // Raw pubsub publishes: the attacker skips its own validator, as a malicious peer would.
    const bad = [
      claim(attacker, { peer: honest.swarm.peerId.toString() }), // forged: peer != signer
      new TextEncoder().encode('{"v":1,"type":"claim",'), // malformed
      randomBytes(4096), // oversized (cap is 2 KiB)
      claim(attacker, { run: otherRun }) // wrong run
    ]
    for (const bytes of bad) await attacker.swarm.pubsub.publish(topic, bytes)

    // Whoever received a bad message directly (the bootstrap peer at least; DHT links may add
    // others) must have rejected it and marked the attacker down.
    const rejectsOn = (n: TestNode): number => Object.entries(n.gossip.counters(run))
      .filter(([k]) => k.startsWith('reject:'))
      .reduce((s, [, v]) => s + v, 0)
    let neighbours: TestNode[] = []
    await vi.waitFor(() => {
      neighbours = nodes.filter(n => rejectsOn(n) > 0)
      expect(neighbours.reduce((sum, n) => sum + rejectsOn(n), 0)).toBeGreaterThanOrEqual(bad.length)
      for (const n of neighbours) expect(n.swarm.pubsub.getScore(attackerId)).toBeLessThan(0)
    }, { timeout: 10_000, interval: 25 })
    const codes = new Set(neighbours.flatMap(n => Object.keys(n.gossip.counters(run))))
    const expectedCodes = ['reject:forged', 'reject:malformed', 'reject:too-large', 'reject:wrong-run']
    expect([...codes]).toEqual(expect.arrayContaining(expectedCodes))
    // Two rejections already pass the graylist threshold (-80): the attacker's RPCs are now dropped.
    const bootstrap = nodes[0]
    expect(neighbours).toContain(bootstrap)
    expect(bootstrap.swarm.pubsub.getScore(attackerId)).toBeLessThan(-80)

    // Positive control published after the bad messages were judged: once it has reached every
    // node, none of the bad messages was delivered anywhere.
    const control = claim(honest, { task: 'router' })
    await honest.gossip.publish(run, control)
    await vi.waitFor(() => {
      // Not the attacker: graylisted, it is no longer relayed to either.
      for (const node of nodes) {
        if (node === honest) continue
        expect(received(node).some(m => m.message.type === 'claim' && m.message.task === 'router')).toBe(true)
      }
    }, { timeout: 10_000, interval: 25 })
    everyone.forEach((node, i) => {
      const delivered = received(node).slice(before[i])
      expect(delivered.filter(m => m.from === attackerId)).toEqual([])
    })
  })

  it('converges concurrent claims for one task to a single holder in every node\'s claim table', async () => {
    const claimants = nodes
    const honest = (): TableEntry[] => claimants.map(n => tables.get(n.swarm.peerId.toString())!)
    const nonces = new Set<string>()
    await Promise.all(claimants.map(async (node) => {
      const bytes = claim(node, { task: 'expert-0' })
      await node.gossip.publish(run, bytes)
    }))
    for (const node of claimants) {
      const seen = tables.get(node.swarm.peerId.toString())?.seen
      const mine = seen?.find(m => m.local && m.message.type === 'claim' && m.message.task === 'expert-0')
      if (mine?.message.type === 'claim') nonces.add(mine.message.nonce)
    }
    expect(nonces.size).toBe(claimants.length)
    await vi.waitFor(() => {
      for (const { seen } of honest()) {
        const got = seen.filter(m => m.message.type === 'claim' && nonces.has(m.message.nonce))
        expect(got).toHaveLength(claimants.length)
      }
    }, { timeout: 10_000, interval: 25 })
    const now = Date.now()
    const holders = honest().map(({ table }) => table.holders('expert-0', now))
    expect(holders[0]).toHaveLength(1)
    for (const h of holders) expect(h).toEqual(holders[0])
    expect(claimants.map(n => n.swarm.peerId.toString())).toContain(holders[0][0])
  })

  it('fetches a 5 MiB blob added on one peer by CID alone on another (DHT provider record)', async () => {
    const [publisher, fetcher] = [nodes[1], nodes[3]]
    const bytes = randomBytes(5 * 1024 * 1024)
    const cid = await publisher.storage.addBytes(bytes)
    await publisher.storage.provide(cid, { timeoutMs: 15_000 })
    const got = await fetcher.storage.getBytes(cid, { timeoutMs: 30_000 })
    expect(got.byteLength).toBe(bytes.byteLength)
    expect(sha(got)).toBe(sha(bytes))
  })

  it('fetches by CID from a provider named only by its peer id (the gossip `peer` field)', async () => {
    const [publisher, fetcher] = [nodes[2], nodes[4]]
    const bytes = randomBytes(1024 * 1024 + 1)
    const cid = await publisher.storage.addBytes(bytes)
    const providers = [publisher.swarm.peerId.toString()]
    const got = await fetcher.storage.getBytes(cid, { timeoutMs: 30_000, providers })
    expect(sha(got)).toBe(sha(bytes))
  })
})
