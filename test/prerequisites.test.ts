/**
 * What the tests need from the machine, checked first and by name: the native kernels (a C++
 * toolchain at `npm ci`, OpenBLAS at run time), Debian's Fashion-MNIST, python3 with numpy and torch, iptables,
 * Chromium, and a WebGPU adapter (Mesa 25's lavapipe from bookworm-backports, the `webgpu` package).
 * .ci/run installs them; nothing skips when one is missing: these checks (and the tests that
 * use it) fail, saying what to install.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { FASHION_MNIST_DEFAULT_DIR, loadFashionMnist } from '../src/data/index.js'
import { disposeBackend, initBackend } from '../src/runtime/backend.js'
import { loadNative } from '../src/runtime/native/addon.js'
import { loadWebGpu, unloadWebGpu } from '../src/runtime/webgpu/backend.js'
import { WEBGPU_INSTALL, webGpuEnv } from './runtime/webgpu-env.js'
import { pythonWithTorch } from './utils/python-torch.js'

const INSTALL = 'apt-get install libopenblas0-pthread dataset-fashion-mnist python3-numpy python3-torch g++ make ' +
  'iptables chromium, then npm ci (.ci/run does both)'

describe('prerequisites', () => {
  afterAll(async () => { await disposeBackend() })

  it('the native kernels load with a BLAS, and auto picks them', async () => {
    const native = loadNative()
    expect(native.ok, native.ok ? '' : `the native backend did not load: ${native.reason}; ${INSTALL}`).toBe(true)
    const info = await initBackend({ backend: 'auto', threads: 1 })
    // A hardware WebGPU adapter (a contributor's GPU) comes before native; CI has only lavapipe.
    expect(info.name, info.reason).toBe(info.adapter?.isFallbackAdapter === false ? 'webgpu' : 'native')
    const product = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])).dataSync())
    expect(Array.from(product)).toEqual([19, 22, 43, 50])
  })

  it('a WebGPU adapter answers (lavapipe on CI: the webgpu backend tests run on it)', async () => {
    webGpuEnv()
    try {
      const adapter = await loadWebGpu({ allowFallback: true })
      expect(adapter.limits.maxStorageBufferBindingSize).toBeGreaterThan(0)
    } catch (err) {
      expect.fail(`${(err as Error).message}; ${WEBGPU_INSTALL}`)
    } finally {
      unloadWebGpu()
      await disposeBackend()
    }
  })

  it('Fashion-MNIST reads: 60 000 + 10 000 images, 10 classes', async () => {
    const file = join(FASHION_MNIST_DEFAULT_DIR, 't10k-images-idx3-ubyte.gz')
    expect(existsSync(file), `${file} is missing; ${INSTALL}`).toBe(true)
    const [train, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })])
    expect([train.count, test.count]).toEqual([60_000, 10_000])
    expect([train.width, train.height, train.channels]).toEqual([28, 28, 1])
    expect(new Set(test.labels).size).toBe(10)
    expect(test.prompts[test.labels!.indexOf(9)]).toBe('ankle boot')
  })

  it('python3 with numpy runs (the safetensors reference reader)', () => {
    let version = ''
    try {
      version = execFileSync('python3', ['-c', 'import numpy; print(numpy.__version__)']).toString().trim()
    } catch (err) {
      expect.fail(`python3 with numpy is missing (${(err as Error).message.split('\n')[0]}); ${INSTALL}`)
    }
    expect(version).toMatch(/^\d+\.\d+/)
  })

  it('a python3 with torch runs (the PyTorch reference DiT of the import tests)', () => {
    let version = ''
    try {
      version = execFileSync(pythonWithTorch(), ['-c', 'import torch; print(torch.__version__)']).toString().trim()
    } catch (err) {
      expect.fail(`${(err as Error).message.split('\n')[0]}; ${INSTALL}`)
    }
    expect(version).toMatch(/^\d+\.\d+/)
  })

  it('Chromium runs (the browser test/dashboard drives; without it that file fails, naming it)', () => {
    const chromium = process.env.HDDM_CHROMIUM ?? '/usr/bin/chromium'
    let version = ''
    try {
      version = execFileSync(chromium, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
    } catch (err) {
      expect.fail(`${chromium} does not run (${(err as Error).message.split('\n')[0]}); ${INSTALL}`)
    }
    expect(version).toMatch(/Chromium \d+/)
  })

  it('iptables runs (the NAT routers of test/netns; those files fail, naming what is missing, without it)', () => {
    let version = ''
    try {
      const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` }
      version = execFileSync('iptables', ['--version'], { env }).toString().trim()
    } catch (err) {
      expect.fail(`iptables is missing (${(err as Error).message.split('\n')[0]}); ${INSTALL}`)
    }
    expect(version).toMatch(/^iptables v\d+/)
  })
})
