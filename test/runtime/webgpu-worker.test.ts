/**
 * The Trainer's worker thread on webgpu: the worker starts the backend the trainer was given
 * (dawn in a worker thread, with the fused kernels), trains an expert there, and scores the
 * held-out loss there; both equal a native trainer's run of the same job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile } from 'node:fs/promises'
import { createTrainer, type Trainer } from '../../src/training/trainer.js'
import type { ExpertJob, TrainProgressEvents } from '../../src/training/expert-run.js'
import { mnistShards, withTempDir, type TestShards } from '../training/fixtures.js'
import { webGpuEnv, WEBGPU_INSTALL } from './webgpu-env.js'

let data: TestShards
const trainers: Trainer[] = []

beforeAll(async () => {
  webGpuEnv()   // before the worker starts: it copies the environment
  data = await mnistShards(2, 600)
})
afterAll(async () => { for (const t of trainers) await t.stop() })

/** Trains 4 steps of `tiny` (FM) in a trainer on `backend`, then scores the held-out shard there. */
async function runOn (backend: 'native' | 'webgpu'): Promise<{ losses: number[], heldOut: number, name?: string }> {
  const trainer = createTrainer({ backend, threads: 1 })
  trainers.push(trainer)
  try {
    await trainer.start()
  } catch (err) {
    throw new Error(`${(err as Error).message}; ${WEBGPU_INSTALL}`)
  }
  return await withTempDir(async dir => {
    const job: ExpertJob = {
      shard: data.train[0], preset: 'tiny', objective: 'fm', outDir: dir,
      training: { steps: 4, batchSize: 8, checkpointEvery: 4, seed: 5 }
    }
    const losses: number[] = []
    const onProgress = (e: TrainProgressEvents): void => {
      if (e.type === 'hddm:train:step') losses.push(e.detail.loss)
    }
    const result = await trainer.run(job, { onProgress })
    const evaluation = { batchSize: 8, heldOutBatches: 2, seed: 3 }
    const checkpoint = await readFile(result.path)
    const heldOut = await trainer.heldOutLoss({ checkpoint, heldOut: data.heldOut[0], evaluation })
    await trainer.stop()
    return { losses, heldOut, name: trainer.backend?.name }
  })
}

describe('Trainer worker on webgpu', () => {
  it('trains and scores in its worker on webgpu, equal to the native worker', async () => {
    const native = await runOn('native')
    const gpu = await runOn('webgpu')
    expect(gpu.name).toBe('webgpu')
    expect(gpu.losses).toHaveLength(4)
    gpu.losses.forEach((l, i) => { expect(Math.abs(l - native.losses[i]) / native.losses[i]).toBeLessThan(1e-4) })
    expect(Math.abs(gpu.heldOut - native.heldOut) / native.heldOut).toBeLessThan(1e-4)
  }, 240_000)
})
