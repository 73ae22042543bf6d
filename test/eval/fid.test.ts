import { describe, expect, it } from 'vitest'
import { Random } from '../../src/data/random.js'
import {
  featureStatistics, frechetDistance, frechetDistanceTo, symmetricSqrt, traceSqrtProduct, type FeatureStatistics
} from '../../src/eval/fid.js'
import { intraPromptDiversity, promptAccuracy } from '../../src/eval/diversity.js'

function gaussian (mean: number[], covariance: number[][]): FeatureStatistics {
  const n = mean.length
  return { count: 1000, dim: n, mean: Float64Array.from(mean), covariance: Float64Array.from(covariance.flat()) }
}

describe('Frechet distance', () => {
  it('matches the closed form of two diagonal Gaussians', () => {
    const a = gaussian([0, 1, 2], [[4, 0, 0], [0, 9, 0], [0, 0, 1]])
    const b = gaussian([1, 1, 0], [[1, 0, 0], [0, 4, 0], [0, 0, 16]])
    // |mu|^2 = 1 + 0 + 4; sum (sqrt a - sqrt b)^2 = 1 + 1 + 9
    expect(frechetDistance(a, b)).toBeCloseTo(16, 9)
  })

  it('gives many sets the same distance to one reference as frechetDistance', () => {
    const reference = gaussian([0, 0], [[2, 0.9], [0.9, 1]])
    const toReference = frechetDistanceTo(reference)
    for (const set of [gaussian([3, -4], [[1, -0.4], [-0.4, 3]]), gaussian([0.5, 0], [[5, 2], [2, 1]]), reference]) {
      expect(toReference(set)).toBeCloseTo(frechetDistance(set, reference), 9)
    }
    expect(() => toReference(gaussian([0], [[1]]))).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
  })

  it('matches the 2x2 closed form for non-commuting covariances', () => {
    // tr sqrt(M) for a 2x2 PSD M with real non-negative eigenvalues = sqrt(tr M + 2 sqrt(det M)), M = S1 S2
    const s1 = [[2, 0.9], [0.9, 1]]
    const s2 = [[1, -0.4], [-0.4, 3]]
    const tr12 = s1[0][0] * s2[0][0] + s1[0][1] * s2[1][0] + s1[1][0] * s2[0][1] + s1[1][1] * s2[1][1]
    const det = (m: number[][]): number => m[0][0] * m[1][1] - m[0][1] * m[1][0]
    const expectedTrace = Math.sqrt(tr12 + 2 * Math.sqrt(det(s1) * det(s2)))
    const trace = traceSqrtProduct(Float64Array.from(s1.flat()), Float64Array.from(s2.flat()), 2)
    expect(trace).toBeCloseTo(expectedTrace, 10)
    const fid = frechetDistance(gaussian([0, 0], s1), gaussian([3, -4], s2))
    expect(fid).toBeCloseTo(25 + 3 + 4 - 2 * expectedTrace, 9)
  })

  it('is zero for identical statistics, symmetric, and the square root squares back', () => {
    const random = new Random(3)
    const d = 12
    const rows = Float64Array.from({ length: 400 * d }, () => random.normal())
    const a = featureStatistics(rows, d)
    const rows2 = Float64Array.from({ length: 300 * d }, (_, i) => random.normal() * (1 + (i % d) / d) + 0.2)
    const b = featureStatistics(rows2, d)
    expect(frechetDistance(a, a)).toBeLessThan(1e-8)
    expect(frechetDistance(a, b)).toBeCloseTo(frechetDistance(b, a), 8)
    const r = symmetricSqrt(a.covariance, d)
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let s = 0
        for (let k = 0; k < d; k++) s += r[i * d + k] * r[k * d + j]
        expect(s).toBeCloseTo(a.covariance[i * d + j], 8)
      }
    }
  })

  it('uses the unbiased covariance', () => {
    const s = featureStatistics(Float32Array.from([1, 2, 3, 4, 5, 9]), 2)
    expect(Array.from(s.mean)).toEqual([3, 5])
    expect(Array.from(s.covariance)).toEqual([4, 7, 7, 13])
  })
})

describe('diversity and prompt accuracy', () => {
  it('averages pairwise distances per prompt, then over prompts', () => {
    // prompt a: points 0, 3, 4 on a line -> pairs 3, 4, 1 -> mean 8/3; prompt b: (0,0),(3,4) -> 5
    const features = Float32Array.from([0, 0, 3, 0, 0, 0, 4, 0, 3, 4])
    const result = intraPromptDiversity(features, 2, ['a', 'a', 'b', 'a', 'b'])
    expect(result.perPrompt.a).toBeCloseTo(8 / 3, 6)
    expect(result.perPrompt.b).toBeCloseTo(5, 6)
    expect(result.mean).toBeCloseTo((8 / 3 + 5) / 2, 6)
    expect(result.std).toBeCloseTo(Math.abs(5 - 8 / 3) / 2, 6)
  })

  it('counts a sample right when the classifier names its prompt', () => {
    const r = promptAccuracy(Int32Array.from([0, 1, 1, 2]), ['zero', 'one', 'zero', 'two'], ['zero', 'one', 'two'])
    expect(r.accuracy).toBe(0.75)
    expect(r.perPrompt).toEqual({ zero: 0.5, one: 1, two: 1 })
  })
})
