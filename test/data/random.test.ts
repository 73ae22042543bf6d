import { describe, expect, it } from 'vitest'
import { Random } from '../../src/data/index.js'

describe('Random', () => {
  it('produces a fixed stream for a seed (golden values) and a different one for another seed', () => {
    const r = new Random(1)
    const first = Array.from({ length: 4 }, () => r.nextUint32())
    expect(first).toEqual(GOLDEN_SEED_1)
    expect(new Random(2).nextUint32()).not.toBe(first[0])
  })

  it('saves and restores its state exactly, including the cached normal', () => {
    const r = new Random(7)
    r.normal()
    const state = JSON.parse(JSON.stringify(r.getState()))
    const want = [r.normal(), r.nextFloat(), r.nextInt(10)]
    const s = Random.fromState(state)
    expect([s.normal(), s.nextFloat(), s.nextInt(10)]).toEqual(want)
  })

  it('draws uniform floats, unbiased ints, standard normals and permutations', () => {
    const r = new Random(3)
    const n = 20000
    let sum = 0
    let sq = 0
    const counts = new Array(7).fill(0)
    for (let i = 0; i < n; i++) {
      const f = r.nextFloat()
      expect(f >= 0 && f < 1).toBe(true)
      counts[r.nextInt(7)]++
      const z = r.normal()
      sum += z
      sq += z * z
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.03)
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.05)
    for (const c of counts) expect(Math.abs(c - n / 7)).toBeLessThan(n / 7 * 0.1)
    expect([...r.permutation(50)].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i))
  })
})

// Checked against the reference C xoshiro128** with the same splitmix-style seeding.
const GOLDEN_SEED_1 = [2442144158, 3238099751, 3819917871, 2104621829]
