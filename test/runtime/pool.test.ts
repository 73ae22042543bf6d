/**
 * The output-buffer pool must never recycle a buffer that someone can still see. These tests
 * would fail on a pool that recycles on dispose alone.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { disposeBackend, initBackend } from '../../src/runtime/backend.js'
import { nativePoolStats } from '../../src/runtime/native/install.js'
import { tensor } from './helpers.js'

/** Many same-sized outputs, made and dropped: any wrongly recycled buffer gets overwritten. */
function churn (shape: number[]): void {
  for (let i = 0; i < 20; i++) {
    tf.tidy(() => tf.mul(tf.add(tensor(shape, 100 + i), 1000 + i), 3).dataSync())
  }
}

describe('native buffer pool', () => {
  afterEach(() => { delete process.env.HDDM_NATIVE_DISABLE })
  afterAll(async () => { await disposeBackend() })

  it('recycles disposed outputs in steady state', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const a = tensor([64, 128], 1)
    for (let i = 0; i < 10; i++) tf.dispose(tf.tidy(() => tf.add(tf.mul(a, 2), 1)))
    const stats = nativePoolStats()
    expect(stats?.hits).toBe(18)   // 2 outputs per iteration, all reused after the first
    a.dispose()
  })

  it('never overwrites an array that user code has read', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const a = tensor([64, 128], 1)
    const y = tf.add(a, 1)
    const seen = y.dataSync()                   // the backing array itself
    const copy = Float32Array.from(seen)
    y.dispose()
    a.dispose()
    churn([64, 128])
    expect(seen).toEqual(copy)
  })

  it('never recycles a buffer that a tfjs kernel aliased (Slice returns a view)', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const y = tf.add(tensor([64, 128], 1), 1)   // our buffer
    const view = tf.slice(y, [0, 0], [32, 128])  // tfjs's Slice: a subarray view on it
    const expected = Float32Array.from((y.dataSync() as Float32Array).subarray(0, 32 * 128))
    // Read the view only at the end: reading y first would already protect the buffer.
    y.dispose()
    churn([64, 128])
    expect(view.dataSync()).toEqual(expected)
    view.dispose()
  })

  it('keeps recycled buffers correct: results in a long loop equal fresh computations', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const x = tensor([16, 33], 5)
    const results = Array.from({ length: 5 }, () => tf.tidy(() => Array.from(tf.softmax(tf.mul(x, 2)).dataSync())))
    for (const r of results) expect(r).toEqual(results[0])
    x.dispose()
  })

  it('can be switched off with HDDM_NATIVE_DISABLE=pool, and a kernel with its name', async () => {
    process.env.HDDM_NATIVE_DISABLE = 'pool,Add'
    await initBackend({ backend: 'native', threads: 1 })
    const a = tensor([64, 128], 1)
    for (let i = 0; i < 10; i++) tf.dispose(tf.tidy(() => tf.mul(a, 2)))
    const afterMul = nativePoolStats()
    expect(afterMul?.hits).toBe(0)
    expect(afterMul?.misses).toBe(10)
    tf.tidy(() => tf.add(a, 2))
    expect(nativePoolStats()?.misses).toBe(10)   // Add ran on tfjs's kernel
    a.dispose()
  })
})
