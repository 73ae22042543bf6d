/**
 * One worker thread of test/bench/gossip-workers.ts: a group of test nodes with an event loop of
 * their own. It answers the main thread's requests (`start`, `stats`, `publish`, `stop`) and
 * reports every claim its nodes receive with the time it arrived, on the clock all threads share
 * (performance.timeOrigin + performance.now()).
 */
// Worker threads start without the main thread's --import: Promise.withResolvers for libp2p on Node 20.
import '../../src/polyfills.js'
import { parentPort } from 'node:worker_threads'
import { encodeGossipMessage } from '../../src/protocol/codec.js'
import { runTopic } from '../../src/protocol/topics.js'
import { createGossipValidator } from '../../src/protocol/validate.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'

export type WorkerRequest =
  | { type: 'start', count: number, bootstrap?: string, run: string, heartbeatIntervalMs: number }
  | { type: 'stats' }
  | { type: 'publish', node: number, nonce: string, ts: number }
  | { type: 'stop' }

export type WorkerReply =
  | { type: 'started', addrs: string[] }
  | { type: 'stats', connections: number[], subscribers: number[], mesh: number[] }
  | { type: 'published', nonce: string, sentAt: number }
  | { type: 'arrival', nonce: string, at: number }
  | { type: 'stopped' }

const MANIFEST = { tasks: [{ id: 'expert-0' }, { id: 'router' }], leaseMs: 60_000 }
const now = (): number => performance.timeOrigin + performance.now()
const port = parentPort!
const nodes: TestNode[] = []
let run = ''

const reply = (message: WorkerReply): void => { port.postMessage(message) }

async function handle (request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case 'start': {
      run = request.run
      const init = { heartbeatIntervalMs: request.heartbeatIntervalMs }
      const bootstrap = request.bootstrap !== undefined ? { bootstrap: [request.bootstrap] } : {}
      const started = await Promise.all(Array.from({ length: request.count }, async () => {
        return await createTestNode({ ...init, ...bootstrap })
      }))
      for (const node of started) {
        node.gossip.join(run, createGossipValidator({ run, manifest: MANIFEST }))
        node.gossip.addEventListener('message', (evt) => {
          if (evt.detail.local || evt.detail.message.type !== 'claim') return
          reply({ type: 'arrival', nonce: evt.detail.message.nonce, at: now() })
        })
      }
      nodes.push(...started)
      reply({ type: 'started', addrs: started.map((n) => n.addr) })
      return
    }
    case 'stats':
      reply({
        type: 'stats',
        connections: nodes.map((n) => n.swarm.libp2p.getConnections().length),
        subscribers: nodes.map((n) => n.gossip.subscribers(run).length),
        mesh: nodes.map((n) => n.swarm.pubsub.getMeshPeers(runTopic(run)).length)
      })
      return
    case 'publish': {
      const sender = nodes[request.node]
      const peer = sender.swarm.peerId.toString()
      const { nonce, ts } = request
      const bytes = encodeGossipMessage({
        v: 1, type: 'claim', run, peer, ts, task: 'expert-0', leaseUntil: ts + 30_000, nonce
      })
      const sentAt = now()
      await sender.gossip.publish(run, bytes)
      reply({ type: 'published', nonce, sentAt })
      return
    }
    case 'stop':
      await Promise.all(nodes.map(async (n) => { await n.stop() }))
      reply({ type: 'stopped' })
  }
}

// A failed request fails the thread: the main thread's 'error' handler ends the bench.
port.on('message', (request: WorkerRequest) => { void handle(request) })
