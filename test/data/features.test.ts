import { describe, expect, it } from 'vitest'
import { fitPca, kmeans, loadMnist, pcaTransform, Random, takeDataset } from '../../src/data/index.js'
import { symmetricEigen } from '../../src/data/linalg.js'

describe('PCA features', async () => {
  const dataset = takeDataset(await loadMnist({ split: 'test' }), 2000)

  it('finds orthonormal components ordered by variance that match the projected variances', () => {
    const pca = fitPca(dataset, { components: 8, samples: 2000, iterations: 30, seed: 1 })
    const { dims, basis } = pca
    for (let a = 0; a < 8; a++) {
      for (let b = 0; b < 8; b++) {
        let dot = 0
        for (let t = 0; t < dims; t++) dot += basis[t * 8 + a] * basis[t * 8 + b]
        expect(dot).toBeCloseTo(a === b ? 1 : 0, 9)
      }
    }
    for (let c = 1; c < 8; c++) expect(pca.variances[c]).toBeLessThanOrEqual(pca.variances[c - 1])
    // All 2000 images were used, so the variance of each coordinate is exactly the eigenvalue.
    const f = pcaTransform(pca, dataset)
    for (let c = 0; c < 8; c++) {
      let mean = 0
      let sq = 0
      for (let n = 0; n < 2000; n++) { mean += f[n * 8 + c]; sq += f[n * 8 + c] ** 2 }
      mean /= 2000
      expect(Math.abs(mean)).toBeLessThan(1e-6 * Math.sqrt(pca.variances[0]))
      expect(sq / 2000 - mean * mean).toBeCloseTo(pca.variances[c], -1)
    }
  })

  it('diagonalises a symmetric matrix (Jacobi)', () => {
    const r = new Random(5)
    const n = 6
    const m = new Float64Array(n * n)
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) m[i * n + j] = m[j * n + i] = r.nextFloat() - 0.5
    const { values, vectors } = symmetricEigen(m, n)
    for (let c = 0; c < n; c++) {
      for (let i = 0; i < n; i++) {
        let av = 0
        for (let j = 0; j < n; j++) av += m[i * n + j] * vectors[j * n + c]
        expect(av).toBeCloseTo(values[c] * vectors[i * n + c], 10)
      }
    }
  })
})

describe('kmeans', () => {
  it('reaches a Lloyd fixed point: nearest-centroid assignments and weighted-mean centroids', async () => {
    const r = new Random(2)
    const n = 600
    const d = 3
    const points = Float64Array.from({ length: n * d }, (_, i) => r.normal() + 6 * (Math.floor(i / d) % 3))
    const weights = Float64Array.from({ length: n }, () => 1 + r.nextInt(3))
    const result = await kmeans(points, d, { k: 5, seed: 1, weights, maxIterations: 200 })
    const sums = new Float64Array(5 * d)
    const mass = new Float64Array(5)
    for (let p = 0; p < n; p++) {
      const a = result.assignments[p]
      let best = Infinity
      for (let j = 0; j < 5; j++) {
        let s = 0
        for (let t = 0; t < d; t++) s += (points[p * d + t] - result.centroids[j * d + t]) ** 2
        best = Math.min(best, s)
      }
      let own = 0
      for (let t = 0; t < d; t++) own += (points[p * d + t] - result.centroids[a * d + t]) ** 2
      expect(own).toBe(best)
      mass[a] += weights[p]
      for (let t = 0; t < d; t++) sums[a * d + t] += weights[p] * points[p * d + t]
    }
    for (let j = 0; j < 5; j++) {
      expect(mass[j]).toBe(result.weights[j])
      for (let t = 0; t < d; t++) expect(result.centroids[j * d + t]).toBeCloseTo(sums[j * d + t] / mass[j], 9)
    }
  })

  it('separates well-separated blobs and handles duplicate points', async () => {
    const points = Float64Array.from([0, 0, 0.1, 0, 10, 10, 10.1, 10, 0, 0, 10, 10])
    const { assignments } = await kmeans(points, 2, { k: 2, seed: 3 })
    expect(assignments[0]).toBe(assignments[1])
    expect(assignments[2]).toBe(assignments[3])
    expect(assignments[0]).not.toBe(assignments[2])
    const same = await kmeans(new Float64Array(8).fill(1), 2, { k: 2, seed: 1 })
    expect(same.inertia).toBe(0)
    await expect(kmeans(points, 2, { k: 7, seed: 1 })).rejects.toHaveProperty('name', 'InvalidArgumentError')
  })
})
