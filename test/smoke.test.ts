import { describe, it, expect } from 'vitest'
import * as tf from '@tensorflow/tfjs'

describe('toolchain', () => {
  it('has Promise.withResolvers on Node 20 through the polyfill', () => {
    expect(typeof Promise.withResolvers).toBe('function')
  })
  it('runs tfjs on the cpu backend', async () => {
    await tf.setBackend('cpu')
    const y = tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 4])).sum())
    expect(await y.data()).toEqual(new Float32Array([24]))
    y.dispose()
  })
})
