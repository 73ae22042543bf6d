import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import { decodeShard } from '../../src/data/shard.js'
import { createRun, readManifestFile, resolveRun } from '../../src/node/run-creation.js'
import { parseRunManifest, type RunManifest } from '../../src/protocol/run-manifest.js'
import { MAX_RUN_MANIFEST_BYTES } from '../../src/protocol/limits.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'

/** The default run, cut down to a few hundred images so clustering takes well under a second. */
async function smallManifest (): Promise<RunManifest> {
  const { manifest } = await readManifestFile('manifests/default.json')
  return parseRunManifest({
    ...manifest,
    name: 'run-creation-test',
    dataset: { ...manifest.dataset, limit: 600 },
    clustering: { ...manifest.clustering, fineCentroids: 16 }
  })
}

describe('run creation and resolution (2 nodes on 127.0.0.1)', () => {
  let a: TestNode
  let b: TestNode

  beforeAll(async () => {
    a = await createTestNode()
    b = await createTestNode()
    await b.swarm.libp2p.dial(a.swarm.getMultiaddrs()[0])
  })
  afterAll(async () => { await b?.stop(); await a?.stop() })

  it('creates a run whose id is the same on a second creator, and resolves it on another node', async () => {
    const manifest = await smallManifest()
    const events: string[] = []
    const created = await createRun(manifest, a.storage, { onProgress: (e) => events.push(e.type) })
    expect(events).toContain('hddm:run:created')
    expect(created.manifest.resolved.shards).toHaveLength(manifest.k)
    // Deterministic: the other node cuts the same shards and gets the same run id.
    const again = await createRun(manifest, b.storage)
    expect(again.runId.toString()).toBe(created.runId.toString())

    const fresh = await createTestNode()
    try {
      await fresh.swarm.libp2p.dial(a.swarm.getMultiaddrs()[0])
      const resolved = await resolveRun(created.runId.toString(), fresh.storage, { timeoutMs: 20_000 })
      expect(resolved).toEqual(created.manifest)
      const shard = decodeShard(await fresh.storage.getBytes(resolved.resolved.shards[1].train, { timeoutMs: 20_000 }))
      expect(shard.header.cluster).toBe(1)
      expect(shard.header.count).toBe(resolved.resolved.shards[1].trainCount)
    } finally {
      await fresh.stop()
    }
  })

  it('refuses a run id that nobody serves with RunNotFoundError', async () => {
    const missing = CID.parse('baguqeeraui3ubmbbrwvbfnyzqmwlrj5o5cm3kvbzqkqq3hh4qlmk4iajpx5q')
    await expect(resolveRun(missing, b.storage, { timeoutMs: 500 })).rejects.toHaveProperty('name', 'RunNotFoundError')
  })

  it('refuses a fetched manifest over the size cap before parsing it', async () => {
    const huge = await a.storage.putJson({ name: 'x'.repeat(MAX_RUN_MANIFEST_BYTES) })
    const err = await resolveRun(huge, b.storage, { timeoutMs: 20_000 }).catch((e: unknown) => e)
    expect(err).toHaveProperty('name', 'InvalidManifestError')
    expect((err as Error).message).toMatch(/exceeds/)
  })

  it('refuses a manifest file that does not validate', async () => {
    await expect(readManifestFile('package.json')).rejects.toHaveProperty('name', 'InvalidManifestError')
    await expect(readManifestFile('does-not-exist.json')).rejects.toHaveProperty('name', 'InvalidArgumentError')
  })
})
