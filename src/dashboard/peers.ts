/**
 * The dashboard's peer table: this node's connections, and for each connected peer whether it
 * is in the run topic's gossip mesh, whether it subscribes to the run, and its gossipsub score
 * (which REJECTed messages drive down, docs/SECURITY.md).
 */
import { runTopic } from '../protocol/topics.js'
import type { SwarmLibp2p } from '../network/swarm-node.js'

export interface PeerRow {
  id: string
  /** Remote addresses of its open connections. */
  addrs: string[]
  direction: string
  streams: number
  inMesh: boolean
  inRun: boolean
  score: number
}

export interface PeersView {
  connections: number
  /** Connected peers. */
  peers: number
  /** Peers in the run topic's gossip mesh. */
  mesh: number
  /** Peers subscribed to the run topic. */
  run: number
  /** At most `maxRows` peers, lowest score first (the ones to look at). */
  rows: PeerRow[]
}

export function peersView (libp2p: SwarmLibp2p, runId: string, maxRows = 64): PeersView {
  const topic = runTopic(runId)
  const pubsub = libp2p.services.pubsub
  const mesh = new Set(pubsub.getMeshPeers(topic).map(String))
  const run = new Set(pubsub.getSubscribers(topic).map(String))
  const connections = libp2p.getConnections()
  const byPeer = new Map<string, PeerRow>()
  for (const conn of connections) {
    const id = conn.remotePeer.toString()
    const row = byPeer.get(id) ?? {
      id, addrs: [], direction: conn.direction, streams: 0, inMesh: mesh.has(id), inRun: run.has(id),
      score: pubsub.getScore(id)
    }
    row.addrs.push(conn.remoteAddr.toString())
    row.streams += conn.streams.length
    byPeer.set(id, row)
  }
  const rows = [...byPeer.values()].sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : 1)).slice(0, maxRows)
  return { connections: connections.length, peers: byPeer.size, mesh: mesh.size, run: run.size, rows }
}
