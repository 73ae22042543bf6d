/**
 * A restarted node's libp2p redials its known peers as it starts, before storage registers
 * bitswap. Those peers identify it without bitswap; unless it tells them when bitswap appears
 * (identify push), they never send it a want and cannot fetch anything it adds afterwards.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createSwarmNode, type SwarmNode } from '../../src/network/swarm-node.js'
import { createStorage, type Storage } from '../../src/storage/helia.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'

describe('storage started after the first connections (2 nodes on 127.0.0.1)', () => {
  let b: TestNode | undefined
  let swarm: SwarmNode | undefined
  let storage: Storage | undefined
  let dataDir: string | undefined
  afterAll(async () => {
    await storage?.stop()
    await swarm?.stop()
    await b?.stop()
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true, maxRetries: 5 })
  })

  it('lets a connected peer fetch blocks once bitswap starts, without reconnecting', async () => {
    b = await createTestNode()
    dataDir = await mkdtemp(join(tmpdir(), 'hddm-late-'))
    swarm = createSwarmNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback' })
    await swarm.start()
    const connection = await swarm.libp2p.dial(b.swarm.getMultiaddrs()[0])
    // b has identified us, and we had no bitswap then.
    const protocolsSeenByB = async (): Promise<string[]> =>
      (await b!.swarm.libp2p.peerStore.get(swarm!.peerId)).protocols
    for (let i = 0; i < 100 && (await protocolsSeenByB().catch(() => [])).length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect((await protocolsSeenByB()).some((p) => p.startsWith('/ipfs/bitswap'))).toBe(false)

    storage = createStorage({ dataDir }, { libp2p: swarm.libp2p })
    await storage.start()
    const bytes = randomBytes(300_000)
    const cid = await storage.addBytes(bytes)
    const got = await b.storage.getBytes(cid, { timeoutMs: 15_000 })
    expect(Buffer.from(got).equals(bytes)).toBe(true)
    expect(connection.status).toBe('open')
  }, 60_000)
})
