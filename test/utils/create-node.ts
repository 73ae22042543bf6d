import { createGossip, type Gossip } from '../../src/network/gossip.js'
import type { SwarmNode } from '../../src/network/swarm-node.js'
import { connectSwarm, type ConnectSwarmInit } from '../../src/node/connect.js'
import type { Storage } from '../../src/storage/helia.js'

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
 * A full peer for tests, joined the way every hddm peer joins (connectSwarm): swarm node +
 * storage in a fresh temp directory (removed on stop) unless `dataDir` is given, plus gossip;
 * listening on 127.0.0.1:0, only able to reach loopback addresses, dialling `bootstrap` if any
 * and redialling it while alone, as every real node does (a burst of joins can time a dial out).
 */
export async function createTestNode (init: Partial<ConnectSwarmInit> = {}): Promise<TestNode> {
  const connection = await connectSwarm({
    listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback', heartbeatIntervalMs: 200, redialWhileAlone: true, ...init
  })
  const { swarm, storage, dataDir } = connection
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
      await connection.stop()
    }
  }
}
