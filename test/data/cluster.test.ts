import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import {
  assignClusters, clusterDataset, loadFashionMnist, loadMnist, subsetDataset, takeDataset
} from '../../src/data/index.js'
import { classConcentration } from '../../src/data/cluster.js'
import { encoderFeatureMap, loadEncoderFile } from '../../src/training/clustering-encoder.js'
import { pipelineDigests } from './fixtures/pipeline-digests.js'

describe('two-stage clustering', async () => {
  const train = await loadMnist()
  const small = takeDataset(train, 10_000)
  // Cheap settings where the test is about determinism rather than quality.
  const quick = { pca: { samples: 1000, iterations: 6 }, fine: 32, fineSamples: 3000 }

  it('is deterministic for a seed and changes with the seed', async () => {
    const subset = takeDataset(small, 4000)
    const a = await clusterDataset(subset, { ...quick, k: 4, seed: 1 })
    const b = await clusterDataset(subset, { ...quick, k: 4, seed: 1 })
    const c = await clusterDataset(subset, { ...quick, k: 4, seed: 2 })
    expect(Buffer.from(a.assignments.buffer).equals(Buffer.from(b.assignments.buffer))).toBe(true)
    expect(b.digest).toBe(a.digest)
    expect(c.digest).not.toBe(a.digest)
  })

  it('reports sizes, natural frequencies and purity well above a label-blind assignment', async () => {
    const options = { k: 10, seed: 1, fine: 64, fineSamples: 5000, pca: { samples: 2000, iterations: 8 } }
    const result = await clusterDataset(small, options)
    expect(result.sizes.reduce((s, n) => s + n, 0)).toBe(small.count)
    expect(result.pi.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 12)
    expect([...result.sizes]).toEqual([...result.sizes].sort((x, y) => y - x))
    for (let k = 0; k < 10; k++) expect(result.sizes[k]).toBe(result.assignments.filter(c => c === k).length)
    // A random assignment scores about the majority-class fraction (~0.11 on MNIST).
    expect(result.purity!).toBeGreaterThan(result.majorityFraction! + 0.25)
    expect(result.labelCounts!.flat().reduce((s, n) => s + n, 0)).toBe(small.count)
  })

  it('assigns new images with the fitted model consistently with the fit', async () => {
    const result = await clusterDataset(small, { ...quick, k: 4, seed: 3 })
    const again = assignClusters(result.model, subsetDataset(small, [0, 1, 2, 3, 4, 5, 6, 7]))
    expect([...again]).toEqual([...result.assignments.subarray(0, 8)])
  })

  it('gives the same digests in a fresh process and matches the golden digests', async () => {
    const here = await pipelineDigests()
    const script = fileURLToPath(new URL('./fixtures/pipeline-digests.ts', import.meta.url))
    const cwd = fileURLToPath(new URL('../..', import.meta.url))
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { cwd })
    expect(JSON.parse(stdout)).toEqual(here)
    // Golden values: a change here means clustering or shard bytes changed (format, arithmetic or seeding).
    expect(here.clustering).toBe(GOLDEN.clustering)
    expect(here.shards[0]).toBe(GOLDEN.firstShard)
    expect(here.encoderClustering).toBe(GOLDEN.encoderClustering)
  })

  // The shipped encoders make clusters that follow the classes (issue target: concentration
  // >= 0.9 at K = 4); pixel PCA splits classes over clusters. Measured on the full training
  // sets: MNIST 0.974 vs 0.799, Fashion-MNIST 0.908 vs 0.779 (docs/RESULTS.md "Clustering").
  for (const [name, load] of [['MNIST', loadMnist], ['Fashion-MNIST', loadFashionMnist]] as const) {
    it(`with the shipped encoder keeps each ${name} class in one cluster far more than pixel PCA does (K = 4)`,
      { timeout: 120_000 }, async () => {
      const data = takeDataset(await load({ split: 'train' }), 10_000)
      const encoder = encoderFeatureMap((await loadEncoderFile(name.toLowerCase())).file)
      const byEncoder = await clusterDataset(data, { k: 4, seed: 0, fine: 64, features: encoder })
      const byPixels = await clusterDataset(data, { k: 4, seed: 0, fine: 64 })
      expect(byEncoder.model.features.kind).toBe('encoder')
      expect(byEncoder.concentration!).toBeGreaterThan(name === 'MNIST' ? 0.93 : 0.87)
      expect(byEncoder.concentration!).toBeGreaterThan(byPixels.concentration! + 0.08)
    })
  }

  it('class concentration is the mean share of each class in its most common cluster', () => {
    // Class 0 all in cluster 0; class 1 split 3 : 1; class 2 absent.
    expect(classConcentration([[4, 3, 0], [0, 1, 0]])).toBeCloseTo((1 + 0.75) / 2, 12)
  })

  it('reports progress by stage and stops on abort', async () => {
    const subset = takeDataset(small, 1000)
    const seen = new Set<string>()
    await clusterDataset(subset, { ...quick, k: 2, seed: 1, onProgress: e => seen.add(e.type) })
    expect([...seen]).toEqual(['hddm:data:cluster:features', 'hddm:data:cluster:fine', 'hddm:data:cluster:coarse'])
    const controller = new AbortController()
    const abortAtFine = (e: { type: string }): void => { if (e.type === 'hddm:data:cluster:fine') controller.abort() }
    const run = clusterDataset(subset, { ...quick, k: 2, seed: 1, signal: controller.signal, onProgress: abortAtFine })
    await expect(run).rejects.toHaveProperty('name', 'AbortError')
  })

  it('rejects K < 1, K larger than the data and non-integer seeds with InvalidArgumentError', async () => {
    const tiny = takeDataset(train, 20)
    for (const options of [{ k: 0 }, { k: 21 }, { k: 2.5 }, { k: 2, seed: 0.5 }, { k: 40, fine: 8 }]) {
      await expect(clusterDataset(tiny, options)).rejects.toHaveProperty('name', 'InvalidArgumentError')
    }
  })
})

const GOLDEN = {
  clustering: '0bae9e252296b4e1c0f1077df0749c12d5ba42bd7a78ada887bf103235f457bb',
  firstShard: 'db3ff07998247054f57423e6b11a690bd56c85319de7212fe39a71d67046275d',
  encoderClustering: '984b1f0deb7f47da09b19352199b5450586b01ae37030cb143b36e38fa6c833f'
}
