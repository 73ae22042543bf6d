import { describe, it, expect } from 'vitest'
import { augmentView, DIGIT_AUGMENT, type AugmentInit } from '../../src/data/augment.js'
import { loadMnist, Random } from '../../src/data/index.js'

const identity: AugmentInit = {
  maxRotation: 0, maxScale: 0, maxAspect: 0, maxShear: 0, maxShift: 0, morphology: 0, flip: 0, erase: 0
}

describe('augmentations of the clustering encoder', async () => {
  const mnist = await loadMnist({ split: 'train' })
  const digit = mnist.pixels.subarray(0, 784)

  it('with every strength at zero a view is the image itself, scaled to [-1, 1]', () => {
    const out = new Float32Array(784)
    augmentView(digit, 28, 28, identity, new Random(1), out)
    for (let i = 0; i < 784; i++) expect(out[i]).toBeCloseTo(digit[i] / 127.5 - 1, 5)
  })

  it('a mirror flips the image left to right', () => {
    const out = new Float32Array(784)
    augmentView(digit, 28, 28, { ...identity, flip: 1 }, new Random(1), out)
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) expect(out[y * 28 + x]).toBeCloseTo(digit[y * 28 + 27 - x] / 127.5 - 1, 5)
    }
  })

  it('views are seeded, differ from each other, keep the value range and keep most of the ink', () => {
    const a = new Float32Array(784)
    const b = new Float32Array(784)
    const again = new Float32Array(784)
    const random = new Random(7)
    augmentView(digit, 28, 28, DIGIT_AUGMENT, random, a)
    augmentView(digit, 28, 28, DIGIT_AUGMENT, random, b)
    augmentView(digit, 28, 28, DIGIT_AUGMENT, new Random(7), again)
    expect(Array.from(again)).toEqual(Array.from(a))
    expect(Array.from(a)).not.toEqual(Array.from(b))
    const ink = (v: Float32Array): number => v.reduce((s, x) => s + (x + 1) / 2, 0)
    const original = digit.reduce((s, p) => s + p / 255, 0)
    for (const v of [a, b]) {
      expect(Math.min(...v)).toBeGreaterThanOrEqual(-1)
      expect(Math.max(...v)).toBeLessThanOrEqual(1 + 1e-6)
      expect(ink(v)).toBeGreaterThan(0.4 * original)
      expect(ink(v)).toBeLessThan(2.5 * original)
    }
  })

  it('refuses images that are not single-channel of the given size', () => {
    const tenPixels = new Uint8Array(10)
    const out = new Float32Array(784)
    const invalidArgument = expect.objectContaining({ name: 'InvalidArgumentError' })
    expect(() => augmentView(tenPixels, 28, 28, identity, new Random(1), out)).toThrow(invalidArgument)
  })
})
