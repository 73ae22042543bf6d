/**
 * The webgpu backend (dawn.node) as initBackend starts it: what it reports about its adapter,
 * that auto passes a software adapter over and says why, that a machine without a usable driver
 * falls through to the next backend, and that dataSync (which tfjs does with an OffscreenCanvas
 * in browsers) reads GPU tensors in Node.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { disposeBackend, initBackend } from '../../src/runtime/backend.js'
import { LAVAPIPE_ICD, runSnippet, useWebGpuBackend, WITHOUT_WEBGPU_PACKAGE } from './webgpu-env.js'
import { tensor } from './helpers.js'

afterAll(async () => { await disposeBackend() })

/** Prints the BackendInfo of each choice (or the error's name and failure) as one JSON line. */
const PROBE = [
  "import { initBackend, disposeBackend } from './src/runtime/backend.ts'",
  'const logged = []',
  'const logger = { debug () {}, info: (msg, ctx) => logged.push({ msg, ...ctx }), warn () {}, error () {},',
  '  child () { return logger } }',
  'const out = {}',
  "for (const backend of ['webgpu', 'auto']) {",
  '  try { out[backend] = await initBackend({ backend, threads: 1, logger }) }',
  '  catch (err) { out[backend] = { error: err.name, failure: err.failure, message: err.message } }',
  '}',
  'await disposeBackend()',
  'console.log(JSON.stringify({ ...out, logged }))'
]

interface Probe {
  webgpu: {
    name?: string, reason?: string, adapter?: Record<string, unknown>
    error?: string, failure?: string, message?: string
  }
  auto: { name: string, reason?: string }
  logged: Array<{ msg: string, reason?: string }>
}

describe('webgpu backend', () => {
  it('--backend webgpu starts on the adapter dawn finds and reports it', async () => {
    const info = await useWebGpuBackend()
    expect(info.name).toBe('webgpu')
    expect(tf.getBackend()).toBe('webgpu')
    const adapter = info.adapter!
    expect(adapter.description.length + adapter.vendor.length).toBeGreaterThan(0)
    expect(adapter.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20)
    expect(adapter.limits.maxBufferSize).toBeGreaterThanOrEqual(adapter.limits.maxStorageBufferBindingSize)
    expect(Array.isArray(adapter.features)).toBe(true)
    // The log line and reason say which kind of adapter it is.
    expect(info.reason).toContain(adapter.isFallbackAdapter ? 'software adapter' : 'adapter')
  })

  it('dataSync reads GPU tensors in Node, equal to data() and to the cpu backend', async () => {
    await useWebGpuBackend()
    const a = tensor([33, 17], 1)
    const b = tensor([17, 9], 2)
    const product = tf.tidy(() => tf.softmax(tf.matMul(a, b)))
    const ints = tf.tidy(() => tf.argMax(product, 1))
    const viaSync = Float32Array.from(product.dataSync())
    const viaAsync = Float32Array.from(await tf.tidy(() => tf.mul(product, 1)).data())
    const argmax = Array.from(ints.dataSync())
    tf.dispose([a, b, product, ints])
    expect(viaSync).toEqual(viaAsync)
    await initBackend({ backend: 'cpu' })
    const cpu = tf.tidy(() => tf.softmax(tf.matMul(tensor([33, 17], 1), tensor([17, 9], 2))))
    const ref = Float32Array.from(cpu.dataSync())
    const refArgmax = Array.from(tf.tidy(() => tf.argMax(cpu, 1)).dataSync())
    cpu.dispose()
    ref.forEach((r, i) => { expect(Math.abs(viaSync[i] - r)).toBeLessThan(1e-6) })
    expect(argmax).toEqual(refArgmax)
  })

  it('auto passes a software adapter over and says why; --backend webgpu takes it (lavapipe only)', () => {
    const probe = JSON.parse(runSnippet(PROBE, { VK_ICD_FILENAMES: LAVAPIPE_ICD })) as Probe
    expect(probe.webgpu.name, probe.webgpu.error === undefined ? '' : JSON.stringify(probe.webgpu)).toBe('webgpu')
    expect(probe.webgpu.adapter).toMatchObject({ vendor: 'mesa', architecture: 'software', isFallbackAdapter: true })
    expect(probe.webgpu.adapter?.description).toMatch(/llvmpipe/)
    expect(probe.webgpu.reason).toMatch(/^software adapter mesa software \(llvmpipe/)
    expect(probe.auto.name).not.toBe('webgpu')
    expect(probe.auto.reason).toMatch(/webgpu: only a software adapter \(llvmpipe[^;]*\), slower than the CPU paths/)
    expect(probe.logged.filter(l => l.msg === 'webgpu skipped, trying the next backend')).toHaveLength(1)
  })

  it('without a Vulkan driver: auto goes on to the next backend, --backend webgpu throws naming the cause', () => {
    const probe = JSON.parse(runSnippet(PROBE, { VK_ICD_FILENAMES: '/nonexistent/no_icd.json' })) as Probe
    expect(probe.webgpu).toMatchObject({ error: 'WebGpuUnavailableError', failure: 'no-adapter' })
    expect(probe.auto.name).not.toBe('webgpu')
    expect(probe.auto.reason).toMatch(/webgpu: no WebGPU adapter: .*mesa-vulkan-drivers/)
  })

  it('without the optional webgpu package: auto goes on, --backend webgpu says what to install', () => {
    const probe = JSON.parse(runSnippet(PROBE, {}, [WITHOUT_WEBGPU_PACKAGE])) as Probe
    expect(probe.webgpu).toMatchObject({ error: 'WebGpuUnavailableError', failure: 'package-missing' })
    expect(probe.webgpu.message).toContain('npm install webgpu@0.6.2')
    expect(probe.auto.name).not.toBe('webgpu')
    expect(probe.auto.reason).toContain('webgpu: the optional package `webgpu` (dawn.node) is not installed')
    expect(probe.logged.filter(l => l.msg === 'webgpu skipped, trying the next backend')).toHaveLength(1)
  })
})
