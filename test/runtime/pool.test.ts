/**
 * The output-buffer pool must never recycle a buffer that someone can still see. These tests
 * would fail on a pool that recycles on dispose alone.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { disposeBackend, initBackend } from '../../src/runtime/backend.js'
import { nativePoolStats } from '../../src/runtime/native/install.js'
import { BufferPool, capacityOf } from '../../src/runtime/native/pool.js'
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

  it('serves nearby lengths from idle buffers of their class or a larger one, with exact results', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    // Top-k sampling gives an expert 21-30 of 100 rows from one step to the next.
    const rows = [30, 24, 27, 21, 29, 25]
    const inputs = rows.map((r, i) => tensor([r, 49, 128], i))
    const expected = inputs.map(x => Array.from(x.dataSync(), v => Math.fround(Math.fround(v * 2) + 1)))
    const compute = (x: tf.Tensor): tf.Tensor => tf.tidy(() => tf.add(tf.mul(x, 2), 1))
    tf.dispose(compute(inputs[0]))   // two idle buffers of the 30-row class
    const before = nativePoolStats()!
    for (const x of inputs) tf.dispose(compute(x))
    const after = nativePoolStats()!
    expect(after.misses - before.misses).toBe(0)
    expect(after.hits - before.hits).toBe(2 * rows.length)
    // A reused store is larger than the result: each result is exactly its own length and values.
    inputs.forEach((x, i) => {
      const r = tf.tidy(() => compute(x).dataSync())
      expect(r.length).toBe(rows[i] * 49 * 128)
      expect(Array.from(r)).toEqual(expected[i])
    })
    tf.dispose(inputs)
  })

  it('evicts its oldest idle buffers when full, so the next workload\'s sizes are still served', () => {
    const pool = new BufferPool({ recycle: true, maxIdleBytes: 64 * 1024 })
    const first = Array.from({ length: 8 }, () => pool.take(2048))   // 8 KiB each: the pool is full
    first.forEach(b => pool.release(b))
    expect(pool.snapshot().idleBytes).toBe(64 * 1024)
    const misses: number[] = []
    for (let round = 0; round < 3; round++) {
      const before = pool.snapshot().misses
      const next = Array.from({ length: 4 }, () => pool.take(3000))  // 12 KiB stores
      next.forEach(b => pool.release(b))
      misses.push(pool.snapshot().misses - before)
    }
    expect(misses).toEqual([4, 0, 0])   // dropping the new buffers instead would miss every round
    expect(pool.snapshot().evicted).toBe(6)
    expect(pool.snapshot().idleBytes).toBeLessThanOrEqual(64 * 1024)
    pool.release(first[0])   // a second release of a buffer changes nothing
    expect(pool.snapshot().idleBytes).toBe(4 * 12 * 1024 + 2 * 8 * 1024)
  })

  it('rounds lengths up to at most 1/8 more, and keeps small lengths exact', () => {
    expect(capacityOf(1)).toBe(1)
    expect(capacityOf(1000)).toBe(1000)
    expect(capacityOf(4096)).toBe(4096)
    expect(capacityOf(4097)).toBe(4608)
    for (let n = 1025; n < 300_000; n += 997) {
      const c = capacityOf(n)
      expect(c).toBeGreaterThanOrEqual(n)
      expect(c - n).toBeLessThanOrEqual(n / 8)
      expect(capacityOf(c)).toBe(c)
    }
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
