import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createGossip, type Gossip } from '../../src/network/gossip.js'
import { createSwarmNode, type SwarmNode, type SwarmNodeInit } from '../../src/network/swarm-node.js'
import { createStorage, type Storage } from '../../src/storage/helia.js'

export interface TestNode {
  dataDir: string
  swarm: SwarmNode
  storage: Storage
  gossip: Gossip
  /** The node's first TCP multiaddr with /p2p/<id>: what other nodes bootstrap from. */
  addr: string
  stop: () => Promise<void>
}

/**
 * A full peer for tests: swarm node + storage + gossip in a fresh temp directory, listening on
 * 127.0.0.1:0 and only able to reach loopback addresses.
 */
export async function createTestNode (init: Partial<SwarmNodeInit> = {}): Promise<TestNode> {
  const dataDir = init.dataDir ?? await mkdtemp(join(tmpdir(), 'hddm-node-'))
  const swarm = createSwarmNode({ listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback', heartbeatIntervalMs: 200, ...init, dataDir })
  await swarm.start()
  const storage = createStorage({ dataDir }, { libp2p: swarm.libp2p })
  await storage.start()
  const gossip = createGossip({}, { pubsub: swarm.pubsub, peerId: swarm.peerId })
  await gossip.start()
  return {
    dataDir,
    swarm,
    storage,
    gossip,
    addr: swarm.getMultiaddrs()[0].toString(),
    stop: async () => {
      await gossip.stop()
      await storage.stop()
      await swarm.stop()
      // Retries: libp2p may still flush a peer-store write while the directory is being removed.
      if (init.dataDir === undefined) await rm(dataDir, { recursive: true, force: true, maxRetries: 5 })
    }
  }
}
