/**
 * Private swarms (docs/OPERATIONS.md, "Private swarms"): a pre-shared swarm key keeps every peer
 * without it from connecting at all, and an allowlist refuses any identity not on it, both ways.
 * Real libp2p nodes over TCP on 127.0.0.1.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { loadOrCreateIdentity } from '../../src/network/identity.js'
import { generateSwarmKey } from '../../src/network/swarm-key.js'
import { createSwarmNode } from '../../src/network/swarm-node.js'
import type { ConnectSwarmInit } from '../../src/node/connect.js'
import { createHddmNode, type HddmNode } from '../../src/node/hddm-node.js'
import { cidOfCanonical, encodeCanonical } from '../../src/protocol/canonical.js'
import { encodeGossipMessage } from '../../src/protocol/codec.js'
import { newNonce, type GossipMessage } from '../../src/protocol/messages.js'
import { createGossipValidator } from '../../src/protocol/validate.js'
import { captureLog } from '../utils/log-capture.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { FAST_LOOP, tinyRun } from '../node/fixtures.js'
import type { Logger } from '../../src/logger.js'
import type { TaskTrainer } from '../../src/node/task-trainer.js'
import type { Connection } from '@libp2p/interface'

const MANIFEST = { tasks: [{ id: 'expert-0' }], leaseMs: 60_000 }
const KEY = generateSwarmKey()
const OTHER_KEY = generateSwarmKey()

const dirs: string[] = []
const nodes: TestNode[] = []
afterAll(async () => {
  await Promise.all(nodes.map(async (n) => { await n.stop() }))
  for (const dir of dirs) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

/** A data directory whose identity exists already, so that other nodes can list its peer id. */
async function identity (): Promise<{ dataDir: string, id: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hddm-private-'))
  dirs.push(dataDir)
  return { dataDir, id: peerIdFromPrivateKey(await loadOrCreateIdentity(dataDir)).toString() }
}

async function node (init: Partial<ConnectSwarmInit>): Promise<TestNode> {
  const n = await createTestNode(init)
  nodes.push(n)
  return n
}

/**
 * Dials each way at once. One side sees garbage at once and resets; the other may wait on the
 * handshake until a timeout, which a connection that could form would never need.
 */
async function bothDialsFail (x: TestNode, y: TestNode): Promise<void> {
  const results = await Promise.allSettled([dial(x, y.addr, 2_000), dial(y, x.addr, 2_000)])
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
}

async function dial (from: TestNode, to: string | Multiaddr, timeoutMs = 5_000): Promise<Connection> {
  const addr = typeof to === 'string' ? multiaddr(to) : to
  return await from.swarm.libp2p.dial(addr, { signal: AbortSignal.timeout(timeoutMs) })
}

/**
 * An inbound refusal comes after the encryption handshake: the dialer may finish its side of the
 * upgrade and hold an open connection for a moment before the listener's close reaches it. So
 * a refused dial either fails or returns a connection that closes by itself.
 */
async function refusedDial (from: TestNode, to: string): Promise<void> {
  let connection: Connection
  try {
    connection = await dial(from, to)
  } catch {
    return
  }
  await vi.waitFor(() => { expect(['closed', 'aborted']).toContain(connection.status) }, { timeout: 5_000 })
}

const peersOf = (n: TestNode): string[] => n.swarm.libp2p.getPeers().map(String)
const idOf = (n: TestNode): string => n.swarm.peerId.toString()

/** Records what the node logs, to check the refusals it reports. */
function recordingLogger (): { logger: Logger, entries: Array<{ msg: string, context?: Record<string, unknown> }> } {
  const entries: Array<{ msg: string, context?: Record<string, unknown> }> = []
  const logger: Logger = {
    debug: (msg, context) => { entries.push({ msg, context }) },
    info: (msg, context) => { entries.push({ msg, context }) },
    warn: (msg, context) => { entries.push({ msg, context }) },
    error: (msg, context) => { entries.push({ msg, context }) },
    child: () => logger
  }
  return { logger, entries }
}

describe('a private swarm: one pre-shared key', () => {
  let a: TestNode
  let b: TestNode
  beforeAll(async () => {
    a = await node({ swarmKey: KEY })
    b = await node({ swarmKey: KEY, bootstrap: [a.addr] })
  })

  it('lets two nodes with the same key connect and exchange gossip', async () => {
    const run = (await cidOfCanonical(encodeCanonical({ name: 'private-swarm-run' }))).toString()
    const received: GossipMessage[] = []
    a.gossip.addEventListener('message', (evt) => { if (!evt.detail.local) received.push(evt.detail.message) })
    for (const n of [a, b]) n.gossip.join(run, createGossipValidator({ run, manifest: MANIFEST }))
    // The publisher must see the subscription too, or it publishes to nobody.
    await vi.waitFor(() => {
      expect(a.gossip.subscribers(run)).toContain(idOf(b))
      expect(b.gossip.subscribers(run)).toContain(idOf(a))
    }, { timeout: 15_000, interval: 50 })
    const ts = Date.now()
    const claim = {
      v: 1, type: 'claim', run, peer: idOf(b), ts, task: 'expert-0', leaseUntil: ts + 30_000, nonce: newNonce()
    }
    await b.gossip.publish(run, encodeGossipMessage(claim as GossipMessage))
    await vi.waitFor(() => { expect(received.map((m) => m.peer)).toContain(idOf(b)) }, { timeout: 15_000 })
  })

  it('shows an outsider nothing but random bytes on the wire: a nonce, never a protocol name', async () => {
    // Without the protector a listener waits for the dialler's multistream-select header.
    const port = Number(a.swarm.getMultiaddrs()[0].getComponents().find((c) => c.name === 'tcp')?.value)
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    await vi.waitFor(() => { expect(Buffer.concat(chunks).length).toBeGreaterThanOrEqual(24) }, { timeout: 5_000 })
    socket.destroy()
    const bytes = Buffer.concat(chunks)
    expect(bytes.length).toBe(24)
    expect(bytes.toString('latin1')).not.toContain('multistream')
  })

  it('keeps out a node without the key: its dial fails and neither side lists the other', async () => {
    const keyless = await node({})
    await bothDialsFail(keyless, a)
    expect(peersOf(keyless)).not.toContain(idOf(a))
    expect(peersOf(a)).not.toContain(idOf(keyless))
  })

  it('keeps out a node with another swarm\'s key, both ways', async () => {
    const stranger = await node({ swarmKey: OTHER_KEY })
    await bothDialsFail(stranger, a)
    expect(peersOf(stranger)).not.toContain(idOf(a))
    expect(peersOf(a)).not.toContain(idOf(stranger))
  })

  it('refuses to start with a malformed key, by name', async () => {
    const swarm = createSwarmNode({ swarmKey: new TextEncoder().encode('/key/swarm/psk/1.0.0/\n/base16/\nnot-hex') })
    await expect(swarm.start()).rejects.toHaveProperty('name', 'InvalidSwarmKeyError')
    expect(swarm.status).toBe('stopped')
  })
})

describe('a private swarm with an allowlist', () => {
  let gated: TestNode
  let allowed: TestNode
  let outsider: TestNode
  const log = recordingLogger()
  const refusals = (): Array<Record<string, unknown> | undefined> =>
    log.entries.filter((e) => e.msg === 'connection refused').map((e) => e.context)
  const refused = (direction: string): unknown =>
    expect.objectContaining({ reason: 'not-on-allowlist', direction, peer: idOf(outsider) })

  beforeAll(async () => {
    const allowedDir = await identity()
    // Every node holds the key: only the allowlist tells the outsider apart.
    gated = await node({ swarmKey: KEY, allowPeers: [allowedDir.id], logger: log.logger })
    allowed = await node({ swarmKey: KEY, dataDir: allowedDir.dataDir })
    outsider = await node({ swarmKey: KEY })
  })

  it('accepts a listed peer', async () => {
    await dial(allowed, gated.addr)
    await vi.waitFor(() => { expect(peersOf(gated)).toContain(idOf(allowed)) })
  })

  it('refuses an inbound connection from a peer with the key but not on the list, and logs why', async () => {
    await refusedDial(outsider, gated.addr)
    await vi.waitFor(() => { expect(refusals()).toContainEqual(refused('inbound')) })
    expect(peersOf(gated)).not.toContain(idOf(outsider))
    expect(peersOf(outsider)).not.toContain(idOf(gated))
  })

  it('logs a refused peer once per direction, however often it retries', async () => {
    for (let i = 0; i < 3; i++) await refusedDial(outsider, gated.addr)
    expect(refusals().filter((r) => r?.direction === 'inbound')).toHaveLength(1)
  })

  it('refuses to dial a peer not on the list, by peer id or by a bare address', async () => {
    await expect(dial(gated, outsider.addr)).rejects.toThrow()
    // Without /p2p/ the id is known only after the handshake: the encrypted connection is refused.
    const bare = outsider.swarm.getMultiaddrs()[0].decapsulateCode(421)
    await expect(dial(gated, bare)).rejects.toThrow()
    expect(refusals()).toContainEqual(refused('outbound'))
    expect(peersOf(gated)).not.toContain(idOf(outsider))
    expect(peersOf(outsider)).not.toContain(idOf(gated))
  })

  it('refuses to start with an allowlist entry that is not a peer id, by name', async () => {
    const swarm = createSwarmNode({ allowPeers: ['not-a-peer-id'] })
    await expect(swarm.start()).rejects.toHaveProperty('name', 'InvalidPeerIdError')
    expect(swarm.status).toBe('stopped')
  })
})

/** Claims every expert task it is given and holds it until stopped: claims without training. */
const holdingTrainer: TaskTrainer = {
  supports: (task) => task.kind === 'expert',
  train: async (_request, options) => await new Promise((resolve) => {
    options?.signal?.addEventListener('abort', () => { resolve({ step: 0, completed: false }) }, { once: true })
  }),
  latest: async () => undefined,
  export: async () => { throw new Error('the holding trainer never writes a checkpoint') }
}

describe('a run in a private swarm with an allowlist (in-process HddmNodes)', { timeout: 120_000 }, () => {
  const capture = captureLog()
  const hddm: HddmNode[] = []
  afterAll(async () => { await Promise.all(hddm.map(async (n) => { await n.stop() })) }, 60_000)

  it('is resolved and claimed by a listed node, and out of reach of an unlisted one', async () => {
    const [creator, member] = [await identity(), await identity()]
    const net = { listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback' as const, heartbeatIntervalMs: 200 }
    const manifest = await tinyRun({ name: 'private-run', images: 200 })
    const a = createHddmNode({
      ...net,
      swarmKey: KEY,
      dataDir: creator.dataDir,
      allowPeers: [member.id],
      source: { manifest },
      tasks: 0,
      logger: capture.logger('A')
    })
    hddm.push(a)
    await a.start()

    const b = createHddmNode({
      ...net,
      swarmKey: KEY,
      dataDir: member.dataDir,
      allowPeers: [creator.id],
      bootstrap: [a.multiaddrs()[0]],
      source: { run: a.runId },
      trainer: holdingTrainer,
      tasks: 1,
      loop: FAST_LOOP,
      logger: capture.logger('B')
    })
    hddm.push(b)
    await b.start()
    expect(b.runId).toBe(a.runId)
    await vi.waitFor(() => {
      expect(a.coverage().flatMap((r) => r.holders.map((h) => h.peer)), capture.tail(40)).toContain(member.id)
    }, { timeout: 30_000, interval: 100 })

    // Same key, same run id, but not on the creator's list: the manifest never arrives.
    const outsiderDir = await identity()
    const c = createHddmNode({
      ...net,
      swarmKey: KEY,
      dataDir: outsiderDir.dataDir,
      bootstrap: [a.multiaddrs()[0]],
      source: { run: a.runId },
      tasks: 0,
      resolveTimeoutMs: 2_000,
      logger: capture.logger('C')
    })
    await expect(c.start()).rejects.toHaveProperty('name', 'RunNotFoundError')
    expect(a.peers().connected).toBe(1)
  })
})
