/**
 * Gossipsub opens its streams to a peer when the peer connects, and again only when identify
 * reports the peer's protocols (a few times in a connection's first seconds, then only when
 * the peer's addresses or protocols change). These tests wait for that to settle, cut a live
 * stream on a real connection between two real nodes, and check that gossip flows again while
 * the connection stays up: gossip-streams.ts reopens it (without it, both cases stay silent
 * until the connection drops: checked by disabling the keeper).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { waitFor } from '../utils/wait.js'
import type { Stream } from '@libp2p/interface'

const TOPIC = 'hddm-test-gossip-streams'

function gossipStream (from: TestNode, to: TestNode, direction: 'inbound' | 'outbound'): Stream {
  const streams = from.swarm.libp2p.getConnections(to.swarm.peerId).flatMap((c) => c.streams)
  const { protocols } = from.swarm.pubsub
  const stream = streams.find((s) => s.direction === direction && protocols.includes(s.protocol ?? ''))
  if (stream === undefined) throw new Error(`no ${direction} gossipsub stream`)
  return stream
}

/** Publishes from `from` until `to` has the message: one publish can race a mesh that is re-forming. */
async function delivers (from: TestNode, to: TestNode, label: string): Promise<void> {
  const received = new Set<string>()
  const onMessage = (evt: CustomEvent<{ topic: string, data: Uint8Array }>): void => {
    if (evt.detail.topic === TOPIC) received.add(new TextDecoder().decode(evt.detail.data))
  }
  to.swarm.pubsub.addEventListener('message', onMessage)
  try {
    let n = 0
    await waitFor(async () => {
      const text = `${label} ${n++}`
      await from.swarm.pubsub.publish(TOPIC, new TextEncoder().encode(text)).catch(() => undefined)
      await new Promise((resolve) => setTimeout(resolve, 100))
      return received.size > 0
    }, `${label}: a message gets through`, { timeoutMs: 15_000 })
  } finally {
    to.swarm.pubsub.removeEventListener('message', onMessage)
  }
}

/** Resolves once neither node has seen an identify for `quietMs`: no more stream (re)opening by the registrar. */
async function identifySettled (nodes: TestNode[], quietMs = 2500): Promise<void> {
  let last = Date.now()
  const onIdentify = (): void => { last = Date.now() }
  for (const node of nodes) node.swarm.libp2p.addEventListener('peer:identify', onIdentify)
  try {
    await waitFor(() => Date.now() - last >= quietMs, 'identify settles', { timeoutMs: 30_000 })
  } finally {
    for (const node of nodes) node.swarm.libp2p.removeEventListener('peer:identify', onIdentify)
  }
}

describe('gossip streams (two nodes on 127.0.0.1)', () => {
  let a: TestNode
  let b: TestNode
  beforeAll(async () => {
    a = await createTestNode()
    b = await createTestNode({ bootstrap: [a.addr] })
    a.swarm.pubsub.subscribe(TOPIC)
    b.swarm.pubsub.subscribe(TOPIC)
    await waitFor(() => a.swarm.pubsub.getSubscribers(TOPIC).length === 1 &&
      b.swarm.pubsub.getSubscribers(TOPIC).length === 1, 'subscriptions exchanged', { timeoutMs: 15_000 })
    await delivers(a, b, 'a to b')
    await delivers(b, a, 'b to a')
  }, 60_000)
  beforeEach(async () => { await identifySettled([a, b]) }, 40_000)
  afterAll(async () => { await Promise.all([a?.stop(), b?.stop()]) })

  const reopened = (node: TestNode): number => node.swarm.libp2p.services.gossipStreams.reopened
  // Cutting one end of a stream cuts the other end too, so either keeper may be the one that
  // reopens: a new stream from one side makes the other's gossipsub add the peer back.
  const reopenedByEither = (): number => reopened(a) + reopened(b)

  it('reopens an outbound stream that was reset while the connection stays', async () => {
    const before = reopenedByEither()
    gossipStream(a, b, 'outbound').abort(new Error('test: reset'))
    await waitFor(() => !a.swarm.pubsub.streamsOutbound.has(b.swarm.peerId.toString()), 'the stream is gone')
    await delivers(a, b, 'a to b after the reset')
    expect(reopenedByEither()).toBeGreaterThan(before)
    expect(a.swarm.libp2p.getConnections(b.swarm.peerId)).toHaveLength(1)
  }, 30_000)

  it('adds back a peer gossipsub dropped when its inbound stream failed', async () => {
    const before = reopenedByEither()
    gossipStream(a, b, 'inbound').abort(new Error('test: read error'))
    await waitFor(() => !a.swarm.pubsub.getPeers().some((p) => p.equals(b.swarm.peerId)),
      'gossipsub forgets the peer')
    await delivers(b, a, 'b to a after the read error')
    await delivers(a, b, 'a to b after the read error')
    expect(a.swarm.pubsub.getSubscribers(TOPIC).map(String)).toEqual([b.swarm.peerId.toString()])
    expect(reopenedByEither()).toBeGreaterThan(before)
  }, 30_000)
})
