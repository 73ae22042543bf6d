/**
 * Mesh formation: peers that join through one bootstrap peer all end with mesh peers on the
 * run topic. With more subscribers than Dhi (12), most of them connected to nobody else, the
 * bootstrap peer prunes some; without peer exchange a pruned peer that knows no other
 * subscriber stays meshless for the prune backoff (6 of 32 were, measured without it).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { cidOfCanonical, encodeCanonical } from '../../src/protocol/canonical.js'
import { runTopic } from '../../src/protocol/topics.js'
import { createGossipValidator } from '../../src/protocol/validate.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { waitFor } from '../utils/wait.js'

const NODES = 32
const WAVE = 8
const MANIFEST = { tasks: [{ id: 'expert-0' }, { id: 'router' }], leaseMs: 60_000 }

describe(`gossip mesh (${NODES} nodes on 127.0.0.1 through one bootstrap peer)`, () => {
  const nodes: TestNode[] = []
  afterAll(async () => { await Promise.all(nodes.map(async (n) => { await n.stop() })) })

  it('leaves no subscribed peer without a mesh peer', async () => {
    const run = (await cidOfCanonical(encodeCanonical({ test: 'mesh', at: Date.now() }))).toString()
    const bootstrap = await createTestNode()
    nodes.push(bootstrap)
    const join = async (): Promise<TestNode> => await createTestNode({ bootstrap: [bootstrap.addr] })
    // In waves, as peers join a real swarm: 31 nodes of this one process dialling at once, on
    // a machine running the rest of the suite, time their Noise handshakes out (10 s).
    for (let joined = 1; joined < NODES; joined += WAVE) {
      nodes.push(...await Promise.all(Array.from({ length: Math.min(WAVE, NODES - joined) }, join)))
    }
    for (const node of nodes) node.gossip.join(run, createGossipValidator({ run, manifest: MANIFEST }))
    const topic = runTopic(run)
    const meshSizes = (): number[] => nodes.map((n) => n.swarm.pubsub.getMeshPeers(topic).length)
    const explain = (): string => `mesh sizes ${meshSizes().join(' ')}`
    await waitFor(() => bootstrap.gossip.subscribers(run).length === NODES - 1, 'every peer subscribed',
      { timeoutMs: 60_000, explain })
    // Usually seconds. Under the suite's load a late joiner may first graft only peers whose
    // meshes are full (>= Dhi), each of which prunes it and backs off for a minute (gossipsub's
    // prune backoff): the bound is that minute and a few heartbeats, by which the peers it
    // learnt of by PX, and the meshes that have shrunk, have room.
    await waitFor(() => meshSizes().every((size) => size >= 1), 'a mesh peer on every node',
      { timeoutMs: 75_000, explain })
    // Not asserted: that it holds. Under the full suite's load a node was twice seen out of the
    // mesh again for a second or more after having had one (closing note of the session that
    // added this test): the heartbeat regrafts it, but how soon is not yet known.
  }, 240_000)
})
