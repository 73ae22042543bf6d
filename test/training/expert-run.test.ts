import { describe, it, expect, beforeAll } from 'vitest'
import { readFile } from 'node:fs/promises'
import * as tf from '@tensorflow/tfjs'
import { trainExpert, type ExpertJob, type TrainProgressEvents } from '../../src/training/expert-run.js'
import { publishableCheckpoint } from '../../src/checkpoint/publishable.js'
import { loadExpert } from '../../src/checkpoint/expert.js'
import { readCheckpointFile } from '../../src/checkpoint/file.js'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { useTrainingBackend } from '../utils/backend.js'
import { mnistShards, withTempDir, type TestShards } from './fixtures.js'

let data: TestShards
beforeAll(async () => {
  await useTrainingBackend()
  data = await mnistShards()
})

function job (outDir: string, overrides: Partial<ExpertJob> = {}): ExpertJob {
  return {
    shard: data.train[1],
    preset: 'tiny',
    objective: 'fm',
    outDir,
    training: { steps: 12, batchSize: 8, checkpointEvery: 4, warmupSteps: 3, learningRate: 2e-3, seed: 5 },
    ...overrides
  }
}

function stepLosses (): { losses: Map<number, number>, onProgress: (e: TrainProgressEvents) => void } {
  const losses = new Map<number, number>()
  return { losses, onProgress: e => { if (e.type === 'hddm:train:step') losses.set(e.detail.step, e.detail.loss) } }
}

describe('expert training run', () => {
  for (const objective of ['fm', 'ddpm'] as const) {
    it(`interrupted at N/2 and resumed replays the uninterrupted ${objective} run`, async () => {
      await withTempDir(async dir => {
        const whole = stepLosses()
        const full = await trainExpert(job(`${dir}/full`, { objective }), { onProgress: whole.onProgress })
        expect(full).toMatchObject({ step: 12, aborted: false })

        const controller = new AbortController()
        const first = stepLosses()
        await expect(trainExpert(job(`${dir}/split`, { objective }), {
          signal: controller.signal,
          onProgress: e => {
            first.onProgress(e)
            if (e.type === 'hddm:train:step' && e.detail.step === 6) controller.abort()
          }
        })).rejects.toHaveProperty('name', 'AbortError')
        const interrupted = await readCheckpointFile(`${dir}/split/checkpoint.safetensors`)
        expect(interrupted.metadata.step).toBe(6)

        const second = stepLosses()
        const resume = await readFile(`${dir}/split/checkpoint.safetensors`)
        const resumed = await trainExpert(job(`${dir}/split`, { objective, resume }), { onProgress: second.onProgress })
        expect(resumed).toMatchObject({ step: 12, aborted: false })
        expect([...second.losses.keys()]).toEqual([7, 8, 9, 10, 11, 12])
        for (const [step, loss] of second.losses) {
          const reference = whole.losses.get(step)!
          expect(Math.abs(loss - reference) / reference).toBeLessThan(1e-5)
        }

        const a = await readCheckpointFile(`${dir}/full/checkpoint.safetensors`)
        const b = await readCheckpointFile(`${dir}/split/checkpoint.safetensors`)
        const w = 'blocks.1.mlp.fc2.weight'
        const wa = a.tensors.get(w)!.data
        const wb = b.tensors.get(w)!.data
        const maxDiff = wa.reduce((m, v, i) => Math.max(m, Math.abs(v - wb[i])), 0)
        expect(maxDiff).toBeLessThan(1e-5)
      })
    })
  }

  it('writes EMA, raw and Adam tensors with trainer state; the publishable export keeps only EMA weights', async () => {
    await withTempDir(async dir => {
      const result = await trainExpert(job(dir, { training: { steps: 4, batchSize: 8, checkpointEvery: 2 } }))
      const checkpoint = decodeCheckpoint(await readFile(result.path))
      const names = [...checkpoint.tensors.keys()]
      const weights = names.filter(n => !n.startsWith('raw.') && !n.startsWith('adam.'))
      expect(weights.length).toBeGreaterThan(10)
      for (const prefix of ['raw.', 'adam.m.', 'adam.v.']) {
        expect(names.filter(n => n.startsWith(prefix)).length).toBe(weights.length)
      }
      expect(checkpoint.metadata).toMatchObject({
        network: 'expert', preset: 'tiny', objective: 'fm', cluster: 1, step: 4
      })
      expect(checkpoint.metadata.extra?.trainer).toBeDefined()

      const published = publishableCheckpoint(checkpoint)
      expect([...published.tensors.keys()].sort()).toEqual(weights.sort())
      expect(published.metadata.extra?.trainer).toBeUndefined()
      const expert = loadExpert(published, { preset: 'tiny' })
      expect(expert.objective.name).toBe('fm')
      expert.model.dispose()
      const shapeMismatch = expect.objectContaining({ name: 'ShapeMismatchError' })
      expect(() => loadExpert(published, { preset: 'small' })).toThrow(shapeMismatch)
    })
  })

  it('refuses to resume a checkpoint of another objective or a publishable export', async () => {
    await withTempDir(async dir => {
      const result = await trainExpert(job(dir, { training: { steps: 2, batchSize: 4 } }))
      const bytes = await readFile(result.path)
      const otherObjective = trainExpert(job(dir, { objective: 'ddpm', resume: bytes }))
      await expect(otherObjective).rejects.toHaveProperty('name', 'ResumeMismatchError')
      const otherShard = trainExpert(job(dir, { shard: data.train[2], resume: bytes }))
      await expect(otherShard).rejects.toHaveProperty('name', 'ResumeMismatchError')
      const { encodeCheckpoint } = await import('../../src/checkpoint/format.js')
      const published = encodeCheckpoint(publishableCheckpoint(decodeCheckpoint(bytes)))
      await expect(trainExpert(job(dir, { resume: published }))).rejects.toHaveProperty('name', 'ResumeMismatchError')
    })
  })

  it('does not leak tensors', async () => {
    await withTempDir(async dir => {
      await trainExpert(job(dir, { training: { steps: 2, batchSize: 4 } }))
      const before = tf.memory().numTensors
      await trainExpert(job(dir, { training: { steps: 3, batchSize: 4 } }))
      expect(tf.memory().numTensors).toBe(before)
    })
  })
})
