/**
 * Sampling a 2-expert heterogeneous ensemble (a DDPM and a flow-matching expert, mixed by a
 * router's posterior, with guidance) on webgpu against native: the same checkpoints, seed and
 * prompts give the same images and usage. The routing weights are read back mid-sampling with
 * dataSync, so this also runs the synchronous GPU read inside a sampler.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/checkpoint/format.js'
import { loadExpert } from '../../src/checkpoint/expert.js'
import { loadRouter } from '../../src/checkpoint/router.js'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { parseRouting } from '../../src/diffusion/routing.js'
import { sampleEnsemble, type SampleEnsembleResult } from '../../src/ensemble/sample.js'
import { disposeBackend, initBackend } from '../../src/runtime/backend.js'
import { randomExpertCheckpoint, randomRouterCheckpoint } from '../checkpoint/fixtures.js'
import { useWebGpuBackend } from './webgpu-env.js'

const tokenizer = Tokenizer.fromPrompts(['zero', 'one', 'two', 'three'], { maxLength: 4 })
const experts = [
  encodeCheckpoint(randomExpertCheckpoint({ tokenizer, objective: 'ddpm', cluster: 0, seed: 10 })),
  encodeCheckpoint(randomExpertCheckpoint({ tokenizer, objective: 'fm', cluster: 1, seed: 11 }))
]
const router = encodeCheckpoint(randomRouterCheckpoint({ numExperts: 2, seed: 5 }))

/** Loads the checkpoints on the current backend and samples 2 prompts in 3 Euler steps. */
async function sample (routing: string): Promise<SampleEnsembleResult> {
  const members = experts.map((bytes, cluster) => ({ cluster, expert: loadExpert(decodeCheckpoint(bytes)) }))
  const loadedRouter = loadRouter(decodeCheckpoint(router))
  try {
    return await sampleEnsemble({
      members, router: loadedRouter, tokenizer, prompts: ['two', 'three'], steps: 3, seed: 4,
      routing: parseRouting(routing), guidance: 2
    })
  } finally {
    for (const m of members) m.expert.dispose()
    loadedRouter.dispose()
  }
}

afterAll(async () => { await disposeBackend() })

describe('ensemble sampling on webgpu equals native', () => {
  it('full and top-1 routing: the same images (max abs diff < 1e-4) and expert usage', async () => {
    await initBackend({ backend: 'native', threads: 2 })
    const native = [await sample('full'), await sample('top1')]
    await useWebGpuBackend()
    const gpu = [await sample('full'), await sample('top1')]
    for (let r = 0; r < 2; r++) {
      expect(gpu[r].shape).toEqual(native[r].shape)
      let diff = 0
      native[r].images.forEach((v, i) => { diff = Math.max(diff, Math.abs(gpu[r].images[i] - v)) })
      expect(diff, `routing ${r === 0 ? 'full' : 'top1'}`).toBeLessThan(1e-4)
      gpu[r].usage.forEach((u, k) => {
        expect(u.evaluations).toBe(native[r].usage[k].evaluations)
        expect(u.meanWeight).toBeCloseTo(native[r].usage[k].meanWeight, 5)
      })
    }
    // Not a trivial equality: the images vary and top-1 routing changes them.
    expect(Math.max(...native[0].images) - Math.min(...native[0].images)).toBeGreaterThan(0.5)
    expect(native[1].images.some((v, i) => Math.abs(v - native[0].images[i]) > 1e-3)).toBe(true)
  }, 240_000)
})
