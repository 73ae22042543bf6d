/**
 * Real MNIST shards for training tests: the first `count` training digits clustered into K
 * groups with the data layer's pipeline (small, so each test file stays fast).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  buildShards, clusterDataset, encodeShard, loadMnist, takeDataset, type ClusterShards
} from '../../src/data/index.js'

export interface TestShards {
  shards: ClusterShards[]
  /** Encoded train shard of each cluster. */
  train: Uint8Array[]
  /** Encoded held-out shard of each cluster. */
  heldOut: Uint8Array[]
  pi: number[]
}

export async function mnistShards (k = 4, count = 3000, seed = 1): Promise<TestShards> {
  const dataset = takeDataset(await loadMnist({ split: 'train' }), count)
  const clustering = await clusterDataset(dataset, { k, seed, fine: 32, fineSamples: count })
  const shards = buildShards(dataset, clustering, { heldOutFraction: 0.1, seed })
  const train = shards.map(s => encodeShard(s.train))
  const heldOut = shards.map(s => encodeShard(s.heldOut))
  return { shards, train, heldOut, pi: clustering.pi }
}

export async function withTempDir<T> (fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'hddm-training-'))
  try {
    return await fn(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
