/**
 * connectSwarm on real libp2p nodes on 127.0.0.1 and real Helia blockstores in temp directories:
 * blocks come from the bootstrap peer, what each option promises holds, and stop() releases
 * every part (the data-directory lock above all) even after a failed start or a failing part.
 */
import { randomBytes } from 'node:crypto'
import { access, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { LOCK_FILE } from '../../src/network/data-dir-lock.js'
import { connectSwarm, type SwarmConnection } from '../../src/node/connect.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'

const LOOPBACK = { listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback' as const }

const exists = async (path: string): Promise<boolean> => await access(path).then(() => true, () => false)

describe('connectSwarm', () => {
  let peer: TestNode
  let root: string
  let n = 0
  const dir = (): string => join(root, `node-${++n}`)
  /** An address nobody listens on, with a real peer id: a bootstrap peer that is down. */
  let down: string

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hddm-connect-'))
    peer = await createTestNode()
    const gone = await createTestNode()
    down = gone.addr
    await gone.stop()
  })
  afterAll(async () => {
    await peer?.stop()
    await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  it('joins through a bootstrap peer, fetches its blocks, and releases the data directory on stop', async () => {
    const dataDir = dir()
    const cid = await peer.storage.addBytes(randomBytes(50_000))
    const conn = await connectSwarm({ ...LOOPBACK, dataDir, bootstrap: [peer.addr] })
    try {
      expect(conn.dataDir).toBe(dataDir)
      expect(conn.swarm.libp2p.getPeers().map(String)).toContain(peer.swarm.peerId.toString())
      expect((await conn.storage.getBytes(cid, { timeoutMs: 20_000 })).byteLength).toBe(50_000)
      expect(await exists(join(dataDir, LOCK_FILE))).toBe(true)
    } finally {
      await conn.stop()
    }
    expect(conn.swarm.status).toBe('stopped')
    expect(await exists(join(dataDir, LOCK_FILE))).toBe(false)
    // Blocks stay: the same directory opens again with them.
    const again = await connectSwarm({ ...LOOPBACK, dataDir })
    try {
      expect(await again.storage.has(cid)).toBe(true)
    } finally {
      await again.stop()
    }
  })

  it('without a data directory, keeps blocks in a temporary one that stop() removes', async () => {
    const conn = await connectSwarm(LOOPBACK)
    expect((await stat(conn.dataDir)).isDirectory()).toBe(true)
    await conn.storage.addBytes(randomBytes(1000))
    await conn.stop()
    expect(await exists(conn.dataDir)).toBe(false)
  })

  it('without storage and a data directory, is a throwaway peer that can still reach others', async () => {
    const conn = await connectSwarm({ ...LOOPBACK, storage: false, bootstrap: [peer.addr] })
    try {
      expect(conn.dataDir).toBeUndefined()
      expect('storage' in conn).toBe(false)
      expect(conn.swarm.libp2p.getPeers().map(String)).toContain(peer.swarm.peerId.toString())
    } finally {
      await conn.stop()
    }
  })

  it('tolerates an unreachable bootstrap peer unless told to require one', async () => {
    const tolerant = await connectSwarm({ ...LOOPBACK, dataDir: dir(), bootstrap: [down], deferDial: true })
    try {
      expect(await tolerant.dialBootstrap()).toBe(0)
    } finally {
      await tolerant.stop()
    }
    const dataDir = dir()
    const strict = connectSwarm({ ...LOOPBACK, dataDir, bootstrap: [down], requireBootstrap: true })
    await expect(strict).rejects.toHaveProperty('name', 'NoBootstrapPeerError')
    // The failed start released everything: the directory opens again at once.
    expect(await exists(join(dataDir, LOCK_FILE))).toBe(false)
    await (await connectSwarm({ ...LOOPBACK, dataDir })).stop()
  })

  it('refuses a bad bootstrap address, and an aborted signal, before anything starts', async () => {
    const dataDir = dir()
    const bad = connectSwarm({ ...LOOPBACK, dataDir, bootstrap: ['/ip4/127.0.0.1/tcp/1'] })
    await expect(bad).rejects.toHaveProperty('name', 'InvalidMultiaddrError')
    const aborted = connectSwarm({ ...LOOPBACK, dataDir }, { signal: AbortSignal.abort() })
    await expect(aborted).rejects.toHaveProperty('name', 'AbortError')
    expect(await exists(dataDir)).toBe(false)
  })

  it('with deferDial, the bootstrap peer sees the protocols registered before the dial', async () => {
    const conn = await connectSwarm({ ...LOOPBACK, dataDir: dir(), bootstrap: [peer.addr], deferDial: true })
    try {
      expect(conn.swarm.libp2p.getPeers()).toHaveLength(0)
      await conn.swarm.libp2p.handle('/hddm-test/1.0.0', () => {})
      expect(await conn.dialBootstrap()).toBe(1)
      await vi.waitFor(async () => {
        const seen = await peer.swarm.libp2p.peerStore.get(conn.swarm.peerId)
        expect(seen.protocols).toContain('/hddm-test/1.0.0')
        expect(seen.protocols.some((p) => p.startsWith('/ipfs/bitswap/'))).toBe(true)
      }, { timeout: 10_000, interval: 50 })
    } finally {
      await conn.stop()
    }
  })

  it('with redialWhileAlone, finds a bootstrap peer that comes up after it', { timeout: 30_000 }, async () => {
    const lateDir = dir()
    const late = await createTestNode({ dataDir: lateDir })
    const addr = late.addr
    await late.stop()
    const conn = await connectSwarm({ ...LOOPBACK, dataDir: dir(), bootstrap: [addr], redialWhileAlone: true })
    let back: TestNode | undefined
    try {
      expect(conn.swarm.libp2p.getPeers()).toHaveLength(0)
      // The same identity on the same port: the peer restarted.
      back = await createTestNode({ dataDir: lateDir, listen: [addr.replace(/\/p2p\/.*$/, '')] })
      await vi.waitFor(() => {
        expect(conn.swarm.libp2p.getPeers().map(String)).toContain(back?.swarm.peerId.toString())
      }, { timeout: 20_000, interval: 100 })
    } finally {
      await conn.stop()
      await back?.stop()
    }
  })

  it('stops every part even when one fails', async () => {
    const dataDir = dir()
    const conn: SwarmConnection = await connectSwarm({ ...LOOPBACK, dataDir })
    const storageStop = conn.storage.stop.bind(conn.storage)
    // A storage that cannot close (a full disk, say) must not keep the swarm or the lock alive.
    conn.storage.stop = async () => { throw new Error('storage failed to close') }
    await conn.stop()
    expect(conn.swarm.status).toBe('stopped')
    expect(await exists(join(dataDir, LOCK_FILE))).toBe(false)
    await storageStop()
  })
})
