/**
 * CI must not pass silently without what it installed (.ci/run): after installing OpenBLAS and
 * a compiler it sets HDDM_REQUIRE_NATIVE=1, after installing Debian's dataset-fashion-mnist
 * HDDM_REQUIRE_FASHION_MNIST=1, and then these checks (and the native-kernel and Fashion-MNIST
 * tests, which would otherwise skip) fail when the native backend does not load or the dataset
 * does not read. Without the variables they run wherever the prerequisite is present, and skip
 * elsewhere.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { FASHION_MNIST_DEFAULT_DIR, loadFashionMnist } from '../src/data/index.js'
import { disposeBackend, initBackend } from '../src/runtime/backend.js'
import { loadNative } from '../src/runtime/native/addon.js'

const requireNative = process.env.HDDM_REQUIRE_NATIVE === '1'
const requireFashion = process.env.HDDM_REQUIRE_FASHION_MNIST === '1'
const native = loadNative()
const fashionPresent = existsSync(join(FASHION_MNIST_DEFAULT_DIR, 't10k-images-idx3-ubyte.gz'))

describe('prerequisites', () => {
  afterAll(async () => { await disposeBackend() })

  it.runIf(requireNative || native.ok)('the native kernels load with a BLAS, and auto picks them', async () => {
    expect(native.ok, native.ok ? '' : `the native backend did not load: ${native.reason}`).toBe(true)
    const info = await initBackend({ backend: 'auto', threads: 1 })
    expect(info.name, info.reason).toBe('native')
    const product = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])).dataSync())
    expect(Array.from(product)).toEqual([19, 22, 43, 50])
  })

  it.runIf(requireFashion || fashionPresent)('Fashion-MNIST reads: 60 000 + 10 000 images, 10 classes', async () => {
    const [train, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })])
    expect([train.count, test.count]).toEqual([60_000, 10_000])
    expect([train.width, train.height, train.channels]).toEqual([28, 28, 1])
    expect(new Set(test.labels).size).toBe(10)
    expect(test.prompts[test.labels!.indexOf(9)]).toBe('ankle boot')
  })
})
