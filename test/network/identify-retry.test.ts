/**
 * libp2p identifies a peer once, when the connection opens, and drops a failure silently; the
 * connection then stays open with no topology told of the peer. Here two real nodes connect while
 * neither answers identify in time (a handler that holds the stream, as a loaded peer does until
 * identify's 5 s timeout), then both answer again: identify-retry.ts identifies the connection
 * again and gossip flows. Without it the two stay connected and deaf to each other (checked by
 * disabling the service: still no subscriber 20 s after the connection opened).
 * A peer that never answers costs one retry per backoff period.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { waitFor } from '../utils/wait.js'
import type { Connection, Stream } from '@libp2p/interface'

const TOPIC = 'hddm-test-identify-retry'
const IDENTIFY = '/ipfs/id/1.0.0'
/** identify's own timeout: a first identify held longer than this has failed. */
const IDENTIFY_TIMEOUT_MS = 5000

type IdentifyHandler = (stream: Stream, connection: Connection) => Promise<void>

/** Makes `node` hold every identify request until `heal.at`, then answer as usual. */
async function answerIdentifyFrom (node: TestNode, heal: { at: number }): Promise<void> {
  // The service class's own handler and stop, which the service interface does not list.
  type IdentifyService = { handleProtocol: IdentifyHandler, stop: () => Promise<void> }
  const identify = node.swarm.libp2p.services.identify as unknown as IdentifyService
  const answer = identify.handleProtocol.bind(identify)
  await identify.stop()
  await node.swarm.libp2p.handle(IDENTIFY, async (stream, connection) => {
    if (Date.now() >= heal.at) { await answer(stream, connection); return }
    // Held, unanswered, until the asker gives up and resets the stream.
    await new Promise<void>((resolve) => { stream.addEventListener('close', () => { resolve() }) })
  }, { runOnLimitedConnection: true })
}

describe('identify retry (two real nodes on 127.0.0.1)', () => {
  const nodes: TestNode[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async (n) => { await n.stop() }))
  })

  it('identifies a connection again after its first identify failed, and gossip then flows', async () => {
    // The retry comes well after the check below that the first identifies failed.
    const retry = { identifyRetry: { intervalMs: 200, graceMs: IDENTIFY_TIMEOUT_MS + 3000 } }
    const [a, b] = [await createTestNode(retry), await createTestNode(retry)]
    nodes.push(a, b)
    // Held until the first identifies have timed out, however long the dial takes; answered after.
    const heal = { at: Infinity }
    await answerIdentifyFrom(a, heal)
    await answerIdentifyFrom(b, heal)
    a.swarm.pubsub.subscribe(TOPIC)
    b.swarm.pubsub.subscribe(TOPIC)

    await a.swarm.libp2p.dial(b.swarm.getMultiaddrs()[0])
    heal.at = Date.now() + IDENTIFY_TIMEOUT_MS / 2
    // Both first identifies time out (the other side held them): the connection is open, and deaf.
    await new Promise((resolve) => setTimeout(resolve, IDENTIFY_TIMEOUT_MS + 500))
    expect(a.swarm.libp2p.getConnections(b.swarm.peerId).length).toBeGreaterThan(0)
    expect(a.swarm.pubsub.getSubscribers(TOPIC)).toEqual([])
    expect(b.swarm.pubsub.getSubscribers(TOPIC)).toEqual([])

    const subscribed = (): boolean => a.swarm.pubsub.getSubscribers(TOPIC).some((p) => p.equals(b.swarm.peerId))
    await waitFor(subscribed, 'a to see b subscribed once identify is retried', { timeoutMs: 15_000 })
    const retried = a.swarm.libp2p.services.identifyRetry.retried + b.swarm.libp2p.services.identifyRetry.retried
    expect(retried).toBeGreaterThan(0)

    const received: string[] = []
    b.swarm.pubsub.addEventListener('message', (evt) => { received.push(new TextDecoder().decode(evt.detail.data)) })
    await waitFor(async () => {
      await a.swarm.pubsub.publish(TOPIC, new TextEncoder().encode('heard')).catch(() => undefined)
      await new Promise((resolve) => setTimeout(resolve, 200))
      return received.includes('heard')
    }, 'a message from a to reach b', { timeoutMs: 15_000 })
  }, 60_000)
  it('backs off on a peer that never answers identify', async () => {
    const a = await createTestNode({ identifyRetry: { intervalMs: 100, graceMs: 0, maxBackoffMs: 400 } })
    const b = await createTestNode()
    nodes.push(a, b)
    // b does not speak identify at all: each of a's attempts fails at once.
    await (b.swarm.libp2p.services.identify as unknown as { stop: () => Promise<void> }).stop()
    await a.swarm.libp2p.dial(b.swarm.getMultiaddrs()[0])
    const { identifyRetry } = a.swarm.libp2p.services
    const from = identifyRetry.retried
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const attempts = identifyRetry.retried - from
    // 100, 200, 400 ms apart, then every 400 ms: about 9 in 3 s, where retrying on every pass would make 30.
    expect(attempts).toBeGreaterThanOrEqual(4)
    expect(attempts).toBeLessThanOrEqual(11)
  }, 30_000)
})
