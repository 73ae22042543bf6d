/**
 * Where `hddm-node eval` gets its ensemble: from a bootstrap peer's blocks through a temporary
 * data directory (real libp2p on 127.0.0.1, real Helia blockstores), or from checkpoint files.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeCheckpoint, type Checkpoint } from '../../src/checkpoint/format.js'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { evalSourceFromFiles, evalSourceFromSwarm, readHeldOutDir } from '../../src/node/eval-source.js'
import { parseEnsembleManifest } from '../../src/protocol/ensemble-manifest.js'
import { disposeBackend, initBackend } from '../../src/runtime/backend.js'
import { randomExpertCheckpoint, randomRouterCheckpoint } from '../checkpoint/fixtures.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'

describe('eval sources', () => {
  let peer: TestNode
  let dir: string
  let ensemble: CID
  const files: Record<string, string> = {}

  beforeAll(async () => {
    await initBackend({ backend: 'cpu' })
    dir = await mkdtemp(join(tmpdir(), 'hddm-eval-source-'))
    peer = await createTestNode()
    const tokenizer = Tokenizer.fromPrompts(['zero', 'one'], { maxLength: 4 })
    // Not a run manifest: the run's held-out shards are then out of reach, as for a stranger's ensemble.
    const run = await peer.storage.putJson({ test: 'eval-source' })
    const add = async (name: string, checkpoint: Checkpoint): Promise<CID> => {
      const bytes = encodeCheckpoint(checkpoint)
      files[name] = join(dir, `${name}.safetensors`)
      await writeFile(files[name], bytes)
      return await peer.storage.addBytes(bytes)
    }
    const router = await add('router', randomRouterCheckpoint({ numExperts: 2, run: run.toString() }))
    const experts = []
    for (const [cluster, objective] of [[0, 'ddpm'], [1, 'fm']] as const) {
      const checkpoint = randomExpertCheckpoint({ tokenizer, objective, cluster, run: run.toString() })
      const cid = await add(`expert-${cluster}`, checkpoint)
      experts.push({ cid, cluster, objective })
    }
    ensemble = await peer.storage.putJson(parseEnsembleManifest({ v: 1, run, k: 2, router, experts, routing: 'top1' }))
  }, 60_000)

  afterAll(async () => {
    await peer?.stop()
    await rm(dir, { recursive: true, force: true, maxRetries: 5 })
    await disposeBackend()
  })

  it('fetches an ensemble from a bootstrap peer, and dispose releases its data directory', async () => {
    const dataDir = join(dir, 'fetched')
    const source = await evalSourceFromSwarm({ ensemble, dataDir, bootstrap: [peer.addr], timeoutMs: 20_000 })
    try {
      expect(source.id).toBe(ensemble.toString())
      expect(source.defaultRouting).toBe('top1')
      expect(source.members.map((m) => m.cluster)).toEqual([0, 1])
      expect(source.checkpoints.map((c) => c.checkpoint.metadata.objective)).toEqual(['ddpm', 'fm'])
      // The ensemble names no real run: no held-out shards, and no error either.
      expect(source.heldOut).toBeUndefined()
    } finally {
      await source.dispose()
    }
    expect(await stat(join(dataDir, 'LOCK')).then(() => true, () => false)).toBe(false)
  })

  it('without bootstrap peers, reads only the data directory\'s blocks', async () => {
    const empty = join(dir, 'empty')
    const refused = evalSourceFromSwarm({ ensemble, dataDir: empty, bootstrap: [], timeoutMs: 20_000 })
    await expect(refused).rejects.toHaveProperty('name', 'BlockNotFoundError')
    expect(await stat(join(empty, 'LOCK')).then(() => true, () => false)).toBe(false)
  })

  it('loads checkpoint files with a held-out directory, and names a missing shard', async () => {
    const shards = join(dir, 'shards')
    await mkdir(shards)
    await writeFile(join(shards, 'cluster-0.held-out.hddmshard'), new Uint8Array([1]))
    const experts = [{ cluster: 0, file: files['expert-0'] }, { cluster: 1, file: files['expert-1'] }]
    const partial = evalSourceFromFiles({ router: files.router, experts, heldOutDir: shards })
    await expect(partial).rejects.toMatchObject({ name: 'InvalidArgumentError' })
    await writeFile(join(shards, 'cluster-1.held-out.hddmshard'), new Uint8Array([2]))
    const source = await evalSourceFromFiles({ router: files.router, experts, heldOutDir: shards })
    try {
      expect(source.id).toBe('local files')
      expect(source.heldOut?.map((b) => Array.from(b))).toEqual([[1], [2]])
      expect(await readHeldOutDir(shards, 1)).toHaveLength(1)
    } finally {
      await source.dispose()
    }
  })
})
