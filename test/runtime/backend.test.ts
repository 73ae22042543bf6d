import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { disposeBackend, initBackend, type BackendName } from '../../src/runtime/backend.js'
import { noGpuDevice } from '../../src/runtime/webgpu/gpu-devices.js'
import { loadNative } from '../../src/runtime/native/addon.js'

/** Inputs made in plain JS so that every backend sees the same numbers. */
function inputs (): { a: Float32Array, b: Float32Array } {
  let s = 7
  const rand = (): number => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 - 0.5 }
  return { a: Float32Array.from({ length: 3 * 17 * 33 }, rand), b: Float32Array.from({ length: 33 * 29 }, rand) }
}

function compute (): { mm: Float32Array, sm: Float32Array } {
  const { a, b } = inputs()
  return tf.tidy(() => {
    const mm = tf.matMul(tf.tensor3d(a, [3, 17, 33]), tf.tensor3d(b, [1, 33, 29]).tile([3, 1, 1]))
    return { mm: mm.dataSync() as Float32Array, sm: tf.softmax(mm).dataSync() as Float32Array }
  })
}

function maxRelErr (x: Float32Array, ref: Float32Array): number {
  let diff = 0
  let scale = 0
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(x[i] - ref[i]))
    scale = Math.max(scale, Math.abs(ref[i]))
  }
  return diff / scale
}

describe('initBackend', () => {
  afterAll(async () => { await disposeBackend() })

  const available: BackendName[] = ['wasm', ...(loadNative().ok ? ['native' as const] : [])]

  it.each(available)('%s computes matMul and softmax like the plain cpu backend', async (name) => {
    await initBackend({ backend: 'cpu' })
    const ref = compute()
    const info = await initBackend({ backend: name, threads: 2 })
    expect(info.name).toBe(name)
    const got = compute()
    expect(maxRelErr(got.mm, ref.mm)).toBeLessThan(1e-5)
    expect(maxRelErr(got.sm, ref.sm)).toBeLessThan(1e-5)
  })

  it('runs wasm on two threads through the Node shim', async () => {
    const info = await initBackend({ backend: 'wasm', threads: 2 })
    expect(info.threads).toBe(2)
    expect(tf.getBackend()).toBe('wasm')
  })

  it('throws BackendUnavailableError for an explicit backend that is not installed', async () => {
    const unavailable = { name: 'BackendUnavailableError', backend: 'tensorflow' }
    await expect(initBackend({ backend: 'tensorflow' })).rejects.toMatchObject(unavailable)
  })

  it('auto picks the fastest loadable backend and says why it skipped the others', async () => {
    const info = await initBackend({ backend: 'auto', threads: 1 })
    // A machine with a GPU device (a developer's) may start webgpu; CI has none and says why.
    const gpu = noGpuDevice() === undefined && info.name === 'webgpu'
    expect(info.name).toBe(gpu ? 'webgpu' : loadNative().ok ? 'native' : 'wasm')
    expect(info.reason).toContain('tensorflow-gpu')
    if (!gpu) expect(info.reason).toMatch(/webgpu: /)
  })

  it('takes its default from HDDM_BACKEND and rejects unknown values', async () => {
    process.env.HDDM_BACKEND = 'cpu'
    try {
      expect((await initBackend()).name).toBe('cpu')
      process.env.HDDM_BACKEND = 'gpu-please'
      await expect(initBackend()).rejects.toMatchObject({ name: 'InvalidArgumentError' })
    } finally {
      delete process.env.HDDM_BACKEND
    }
  })

  it('falls back to wasm when the native addon cannot load', async () => {
    // A separate process: loadNative caches its result for the life of a process.
    const { execFileSync } = await import('node:child_process')
    const script = [
      "import { initBackend, disposeBackend } from './src/runtime/backend.ts'",
      'const i = await initBackend({ threads: 1 })',
      'console.log(JSON.stringify(i))',
      'await disposeBackend()'
    ].join('; ')
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, HDDM_NATIVE: '0', HDDM_BACKEND: '' }, encoding: 'utf8'
    })
    const info = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { name: string, reason: string }
    expect(info.name).toBe('wasm')
    expect(info.reason).toContain('native: disabled by HDDM_NATIVE=0')
  })
})
