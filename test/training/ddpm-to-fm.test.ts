import { describe, it, expect, beforeAll } from 'vitest'
import { readFile } from 'node:fs/promises'
import * as tf from '@tensorflow/tfjs'
import { trainExpert, type ExpertJob, type TrainProgressEvents } from '../../src/training/expert-run.js'
import { createObjective } from '../../src/diffusion/objectives/factory.js'
import { readCheckpointFile } from '../../src/checkpoint/file.js'
import { cosineSchedule, snrMatchedStep } from '../../src/diffusion/index.js'
import { useTrainingBackend } from '../utils/backend.js'
import { mnistShards, withTempDir, type TestShards } from './fixtures.js'

let data: TestShards
beforeAll(async () => {
  await useTrainingBackend()
  data = await mnistShards()
})

function job (outDir: string, overrides: Partial<ExpertJob>): ExpertJob {
  return {
    shard: data.train[0], preset: 'tiny', objective: 'fm', outDir,
    training: { steps: 30, batchSize: 16, warmupSteps: 5, learningRate: 2e-3, seed: 9 }, ...overrides
  }
}

async function fmLosses (j: ExpertJob): Promise<number[]> {
  const losses: number[] = []
  const onProgress = (e: TrainProgressEvents): void => { if (e.type === 'hddm:train:step') losses.push(e.detail.loss) }
  await trainExpert(j, { onProgress })
  return losses
}

const mean = (a: number[]): number => a.reduce((x, y) => x + y) / a.length

describe('DDPM -> FM initialisation', () => {
  it('feeds the network the SNR-matched DDPM step (or round(999 t)) instead of 1000 t', () => {
    const u = new Float32Array([0.1, 0.5, 0.9])
    const x0 = tf.zeros([3, 2, 2, 1]) as tf.Tensor4D
    const eps = tf.ones([3, 2, 2, 1]) as tf.Tensor4D
    const schedule = cosineSchedule(1000)
    const times = (timeInput: 'fm' | 'ddpm-snr' | 'ddpm-naive'): number[] => {
      const example = createObjective('fm', { timeInput }).trainingExample(x0, eps, u)
      const out = Array.from(example.time.dataSync())
      tf.dispose([example.input, example.time, example.target])
      return out
    }
    expect(times('fm')).toEqual(Array.from(u, t => Math.fround(t) * 1000).map(v => Math.fround(v)))
    expect(times('ddpm-naive')).toEqual(Array.from(u, t => Math.round(999 * t)))
    const snr = times('ddpm-snr')
    Array.from(u).forEach((t, i) => expect(snr[i]).toBeCloseTo(snrMatchedStep(schedule, t), 2))
    tf.dispose([x0, eps])
  })

  it('a converted DDPM expert learns FM faster than a fresh one on the same batches',
    { timeout: 180_000 }, async () => {
    await withTempDir(async dir => {
      const ddpmTraining = { steps: 150, batchSize: 16, warmupSteps: 10, learningRate: 2e-3, seed: 2 }
      await trainExpert(job(`${dir}/ddpm`, { objective: 'ddpm', training: ddpmTraining }))
      const ddpmBytes = await readFile(`${dir}/ddpm/checkpoint.safetensors`)

      const fresh = await fmLosses(job(`${dir}/fresh`, {}))
      const converted = await fmLosses(job(`${dir}/converted`, { init: ddpmBytes }))
      // Both start at the same loss (the re-initialised final layer outputs zero), then the
      // converted expert's trained features make it descend faster.
      expect(converted[0]).toBeCloseTo(fresh[0], 2)
      expect(mean(converted.slice(10))).toBeLessThan(mean(fresh.slice(10)))

      const checkpoint = await readCheckpointFile(`${dir}/converted/checkpoint.safetensors`)
      expect(checkpoint.metadata.extra).toMatchObject({ timeInput: 'ddpm-snr', init: { objective: 'ddpm', step: 150 } })
      expect(checkpoint.metadata.objective).toBe('fm')

      const naive = await fmLosses(job(`${dir}/naive`, {
        init: ddpmBytes, timeInput: 'ddpm-naive', training: { steps: 3, batchSize: 16 }
      }))
      expect(naive).toHaveLength(3)
      const naiveCheckpoint = await readCheckpointFile(`${dir}/naive/checkpoint.safetensors`)
      expect(naiveCheckpoint.metadata.extra?.timeInput).toBe('ddpm-naive')
    })
  })

  it('refuses to initialise a DDPM expert from an FM checkpoint', async () => {
    await withTempDir(async dir => {
      await trainExpert(job(dir, { training: { steps: 1, batchSize: 4 } }))
      const fm = await readFile(`${dir}/checkpoint.safetensors`)
      const ddpmFromFm = trainExpert(job(`${dir}/x`, { objective: 'ddpm', init: fm }))
      await expect(ddpmFromFm).rejects.toHaveProperty('name', 'ResumeMismatchError')
      const otherPreset = trainExpert(job(`${dir}/y`, { preset: 'small', init: fm }))
      await expect(otherPreset).rejects.toHaveProperty('name', 'ShapeMismatchError')
    })
  })
})
