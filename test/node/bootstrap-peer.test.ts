/**
 * The bootstrap peer on real libp2p nodes on 127.0.0.1: it relays a run's topic once the run
 * manifest arrives from a peer, and stopping it while a manifest is still awaited is quiet and
 * releases its data directory.
 */
import { randomBytes } from 'node:crypto'
import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { LOCK_FILE } from '../../src/network/data-dir-lock.js'
import { createBootstrapPeer } from '../../src/node/bootstrap-peer.js'
import { parseResolvedRunManifest, type ResolvedRunManifest } from '../../src/protocol/run-manifest.js'
import { createGossipValidator } from '../../src/protocol/validate.js'
import { runCidFor } from '../protocol/fixtures.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import type { Logger } from '../../src/logger.js'

const LOOPBACK = { listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback' as const }

/**
 * A resolved two-cluster run stored on `node`. Its shards are stand-in bytes (nobody trains
 * here), but they exist: storing the manifest pins it with every block it links to.
 */
async function storeRun (node: TestNode): Promise<{ run: string, manifest: ResolvedRunManifest }> {
  const shards = await Promise.all([0, 1].map(async (cluster) => ({
    cluster,
    train: await node.storage.addBytes(randomBytes(64)),
    heldOut: await node.storage.addBytes(randomBytes(64)),
    trainCount: 90,
    heldOutCount: 10
  })))
  const manifest = parseResolvedRunManifest({
    v: 1,
    name: 'bootstrap-peer-test',
    dataset: { kind: 'mnist', limit: 100 },
    k: 2,
    seed: 7,
    clustering: { features: 'pca' },
    tasks: [
      { id: 'expert-0', kind: 'expert', cluster: 0, objective: 'ddpm' },
      { id: 'expert-1', kind: 'expert', cluster: 1, objective: 'fm' },
      { id: 'router', kind: 'router' }
    ],
    model: { expert: 'tiny', router: 'router-tiny' },
    training: {
      expert: { steps: 10, batchSize: 8, lr: 0.001, checkpointEvery: 5 },
      router: { steps: 10, batchSize: 8, lr: 0.001, checkpointEvery: 5 }
    },
    eval: { heldOutLossMax: { ddpm: 0.9, fm: 1.6 } },
    resolved: { shards, frequencies: [0.5, 0.5], dataDigest: 'a'.repeat(64), tokenizerDigest: 'b'.repeat(64) }
  })
  return { run: (await node.storage.putJson(manifest)).toString(), manifest }
}

/** Records error lines: the test's way to hear what an operator would read. */
function recordingLogger (errors: string[]): Logger {
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: (msg) => { errors.push(msg) },
    child: () => logger
  }
  return logger
}

describe('bootstrap peer', () => {
  let creator: TestNode
  let root: string

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hddm-bootstrap-peer-'))
    creator = await createTestNode()
  })
  afterAll(async () => {
    await creator?.stop()
    await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  it('relays a run\'s topic once its manifest arrives from a peer', async () => {
    const { run, manifest } = await storeRun(creator)
    const dataDir = join(root, 'relay')
    const peer = createBootstrapPeer({ ...LOOPBACK, dataDir, bootstrap: [creator.addr], runs: [run] })
    await peer.start()
    try {
      expect(peer.multiaddrs()[0]).toMatch(new RegExp(`/p2p/${peer.peerId}$`))
      await vi.waitFor(() => { expect(peer.runs()).toEqual([run]) }, { timeout: 15_000, interval: 50 })
      creator.gossip.join(run, createGossipValidator({ run, manifest }))
      await vi.waitFor(() => {
        expect(creator.gossip.subscribers(run)).toContain(peer.peerId)
      }, { timeout: 15_000, interval: 50 })
    } finally {
      creator.gossip.leave(run)
      await peer.stop()
    }
  })

  it('stops quietly while a run manifest is still awaited, and releases its data directory', async () => {
    const errors: string[] = []
    const dataDir = join(root, 'waiting')
    const unknown = (await runCidFor('a run nobody serves')).toString()
    const peer = createBootstrapPeer({ ...LOOPBACK, dataDir, runs: [unknown], logger: recordingLogger(errors) })
    await peer.start()
    expect(peer.runs()).toEqual([])
    await peer.stop()
    expect(errors).toEqual([])
    expect(await access(join(dataDir, LOCK_FILE)).then(() => true, () => false)).toBe(false)
    expect(() => peer.multiaddrs()).toThrow(/not started/)
  })
})
