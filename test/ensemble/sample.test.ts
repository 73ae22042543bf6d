import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/checkpoint/format.js'
import { loadRouter, type LoadedRouter } from '../../src/checkpoint/router.js'
import { loadExpert, type LoadedExpert } from '../../src/checkpoint/expert.js'
import { sampleEnsemble, type EnsembleMember } from '../../src/ensemble/sample.js'
import { parseRouting } from '../../src/diffusion/routing.js'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { useTrainingBackend } from '../utils/backend.js'
import { randomExpertCheckpoint, randomRouterCheckpoint } from '../checkpoint/fixtures.js'

const digits = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']
const tokenizer = Tokenizer.fromPrompts(digits, { maxLength: 4 })
let members: EnsembleMember[]
let router: LoadedRouter

/** An expert with a non-zero output layer, through the real checkpoint round trip. */
function expertCheckpoint (objective: 'ddpm' | 'fm', cluster: number): LoadedExpert {
  const checkpoint = randomExpertCheckpoint({ tokenizer, objective, cluster, seed: 10 + cluster })
  return loadExpert(decodeCheckpoint(encodeCheckpoint(checkpoint)))
}

beforeAll(async () => {
  await useTrainingBackend()
  members = [
    { cluster: 0, expert: expertCheckpoint('ddpm', 0) },
    { cluster: 1, expert: expertCheckpoint('fm', 1) },
    { cluster: 2, expert: expertCheckpoint('ddpm', 2) },
    { cluster: 3, expert: expertCheckpoint('fm', 3) }
  ]
  router = loadRouter(decodeCheckpoint(encodeCheckpoint(randomRouterCheckpoint({ numExperts: 4, seed: 5 }))))
})
afterAll(() => { for (const m of members) m.expert.dispose(); router.dispose() })

const request = (routing: string, seed = 1) => ({
  members,
  router,
  tokenizer,
  prompts: ['seven', 'seven', 'two', 'nine'],
  steps: 4,
  seed,
  routing: parseRouting(routing),
  guidance: 2
})

describe('sampling a heterogeneous ensemble (2 DDPM + 2 FM experts, router)', () => {
  it('draws finite images and reports usage for every routing', async () => {
    for (const routing of ['full', 'top1', 'top2', 'threshold:0.3']) {
      const result = await sampleEnsemble(request(routing))
      expect(result.shape).toEqual([4, 28, 28, 1])
      expect(result.images.every(Number.isFinite)).toBe(true)
      const weights = result.usage.reduce((a, u) => a + u.meanWeight, 0)
      expect(weights).toBeCloseTo(1, 4)
      const evaluations = result.usage.reduce((a, u) => a + u.evaluations, 0)
      if (routing === 'full') expect(evaluations).toBe(4 * 4 * 4)
      if (routing === 'top1') expect(evaluations).toBe(4 * 4)
      if (routing === 'top2') expect(evaluations).toBe(4 * 4 * 2)
    }
  })

  it('top-1 costs about one expert plus the router; full costs all four', async () => {
    const top1 = await sampleEnsemble(request('top1'))
    const full = await sampleEnsemble(request('full'))
    expect(full.flops.experts / top1.flops.experts).toBeCloseTo(4, 6)
    expect(top1.flops.router).toBe(full.flops.router)
  })

  it('is a function of the seed', async () => {
    const a = await sampleEnsemble(request('top2', 3))
    const b = await sampleEnsemble(request('top2', 3))
    const c = await sampleEnsemble(request('top2', 4))
    expect(a.images).toEqual(b.images)
    expect(a.images).not.toEqual(c.images)
  })

  it('does not leak tensors', async () => {
    await sampleEnsemble(request('top2'))
    const before = tf.memory().numTensors
    await sampleEnsemble(request('top2'))
    await sampleEnsemble(request('full'))
    expect(tf.memory().numTensors).toBe(before)
  })

  it('refuses a cluster the router does not score, and a multi-expert ensemble without router', async () => {
    const unscored = [{ cluster: 9, expert: members[0].expert }]
    const invalid = { name: 'InvalidArgumentError' }
    await expect(sampleEnsemble({ ...request('full'), members: unscored })).rejects.toMatchObject(invalid)
    await expect(sampleEnsemble({ ...request('full'), router: undefined })).rejects.toMatchObject(invalid)
  })
})
