import { describe, it, expect } from 'vitest'
import { EXPERT_PRESETS, ROUTER_PRESETS, type DiTConfig, type ExpertPresetName } from '../../src/model/config.js'
import { checkBufferFit, checkDeviceFit, largestBuffers } from '../../src/model/buffer-fit.js'
import { WebGpuLimitError } from '../../src/runtime/errors.js'

const MiB = 2 ** 20
/** lavapipe's limits (Mesa 25, measured): 128 MiB per binding, 4 GiB per buffer. */
const LAVAPIPE = { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 4 * 1024 * MiB - 1 }
/** A common discrete-GPU figure (Dawn on NVIDIA Vulkan caps a binding at 2 GiB - 4). */
const GPU = { maxStorageBufferBindingSize: 2 * 1024 * MiB - 4, maxBufferSize: 4 * 1024 * MiB - 1 }
const fused = { fusedAttention: true }
const composite = { fusedAttention: false }

function limitError (fn: () => unknown): WebGpuLimitError {
  try {
    fn()
  } catch (err) {
    if (err instanceof WebGpuLimitError) return err
    throw err
  }
  throw new Error('expected WebGpuLimitError')
}

describe('buffer fit (WebGPU device limits)', () => {
  it('every CPU preset up to medium fits lavapipe at batch 256; xl2 fits at batch 1', () => {
    for (const name of ['tiny', 'mini', 'small', 'medium'] as ExpertPresetName[]) {
      const largest = checkBufferFit(EXPERT_PRESETS[name], 256, LAVAPIPE, composite)
      expect(largest.bytes, name).toBeLessThan(LAVAPIPE.maxStorageBufferBindingSize)
    }
    // The largest at batch 1 is the 32128 x 768 token table (94 MiB).
    expect(checkBufferFit(EXPERT_PRESETS.xl2, 1, LAVAPIPE, fused)).toMatchObject({
      tensor: 'token table', shape: [32128, 768], bytes: 32128 * 768 * 4
    })
  })

  it('xl2 at batch 64 names the binding limit and the prompt one-hot rows [B*L, vocab]', () => {
    const err = limitError(() => checkBufferFit(EXPERT_PRESETS.xl2, 64, LAVAPIPE, fused))
    expect(err.name).toBe('WebGpuLimitError')
    expect(err.limit).toBe('maxStorageBufferBindingSize')
    expect(err.limitBytes).toBe(128 * MiB)
    expect(err.tensor).toBe('prompt one-hot')
    expect(err.shape).toEqual([64 * 120, 32128])
    expect(err.bytes).toBe(64 * 120 * 32128 * 4)
    // A GPU's 2 GiB binding holds it (941 MiB), and every other tensor of the step.
    expect(checkBufferFit(EXPERT_PRESETS.xl2, 64, GPU, fused).tensor).toBe('prompt one-hot')
  })

  it('names maxBufferSize when a tensor is over the buffer size itself', () => {
    const limits = { ...GPU, maxBufferSize: 2 * 1024 * MiB }
    const err = limitError(() => checkBufferFit(EXPERT_PRESETS.xl2, 256, limits, fused))
    expect(err.limit).toBe('maxBufferSize')
    expect(err.tensor).toBe('prompt one-hot')
    expect(err.message).toMatch(/maxBufferSize/)
  })

  it('counts the attention logits only on the composite path', () => {
    // Many tokens, narrow width: one head's [B, T, T] logits dwarf everything else.
    const wide: DiTConfig = { ...EXPERT_PRESETS.tiny, imageSize: 64, patchSize: 1 }
    const T = 64 * 64
    expect(largestBuffers(wide, 3, composite)[0]).toMatchObject({
      tensor: 'self-attention logits (one head)', shape: [3, T, T]
    })
    expect(largestBuffers(wide, 3, fused).map(u => u.tensor)).not.toContain('self-attention logits (one head)')
    const over = limitError(() => checkBufferFit(wide, 3, LAVAPIPE, composite))
    expect(over.tensor).toBe('self-attention logits (one head)')
    expect(checkBufferFit(wide, 3, LAVAPIPE, fused).tensor).toBe('mlp hidden')
  })

  it('routers have no prompt one-hot without prompt conditioning; router-b2 fits lavapipe at batch 32, not 64', () => {
    const uses = largestBuffers(ROUTER_PRESETS['router-b2'], 64, fused)
    expect(uses.map(u => u.tensor)).not.toContain('prompt one-hot')
    expect(checkBufferFit(ROUTER_PRESETS['router-b2'], 32, LAVAPIPE, fused).tensor).toBe('mlp hidden')
    expect(limitError(() => checkBufferFit(ROUTER_PRESETS['router-b2'], 64, LAVAPIPE, fused)).tensor).toBe('mlp hidden')
  })

  it('checks nothing when the current backend is not webgpu', () => {
    expect(checkDeviceFit(EXPERT_PRESETS.xl2, 4096)).toBeUndefined()
  })
})
