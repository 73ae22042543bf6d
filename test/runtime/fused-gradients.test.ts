/**
 * The fused ops' gradients are shared by every backend's fused kernels (native cpu, WGSL): they
 * stay registered while any installer holds them, whichever is uninstalled first.
 */
import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { fusedGradientsRegistered, retainFusedGradients } from '../../src/runtime/fused-gradients.js'
import { loadNative } from '../../src/runtime/native/addon.js'
import { installNativeKernels } from '../../src/runtime/native/install.js'

describe('fused gradients', () => {
  it('stay registered until the last holder releases them; a second release is a no-op', () => {
    expect(fusedGradientsRegistered()).toBe(false)
    const first = retainFusedGradients()
    const second = retainFusedGradients()
    first()
    first()
    expect(fusedGradientsRegistered()).toBe(true)
    second()
    expect(fusedGradientsRegistered()).toBe(false)
  })

  it('outlive the native kernels while another backend\'s kernels still hold them', async () => {
    await tf.setBackend('cpu')
    const loaded = loadNative()
    if (!loaded.ok) throw new Error(`the native addon must build on CI: ${loaded.reason}`)
    const otherBackend = retainFusedGradients() // as installWebGpuKernels does
    const uninstallNative = installNativeKernels(loaded.addon)
    uninstallNative()
    expect(fusedGradientsRegistered()).toBe(true)
    otherBackend()
    expect(fusedGradientsRegistered()).toBe(false)
  })
})
