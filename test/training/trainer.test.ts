import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readFile } from 'node:fs/promises'
import { createTrainer, type Trainer } from '../../src/training/trainer.js'
import type { ExpertJob, TrainProgressEvents } from '../../src/training/expert-run.js'
import { readCheckpointFile } from '../../src/checkpoint/file.js'
import { CorruptCheckpointError } from '../../src/checkpoint/errors.js'
import { expertHeldOutLoss } from '../../src/checkpoint/expert-score.js'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { mnistShards, withTempDir, type TestShards } from './fixtures.js'

let data: TestShards
let trainer: Trainer
beforeAll(async () => {
  data = await mnistShards()
  trainer = createTrainer({ backend: (process.env.HDDM_TEST_BACKEND ?? 'auto') as 'auto' })
  await trainer.start()
})
afterAll(async () => { await trainer?.stop() })

function job (outDir: string, steps: number, overrides: Partial<ExpertJob> = {}): ExpertJob {
  return {
    shard: data.train[0], preset: 'tiny', objective: 'ddpm', outDir,
    training: { steps, batchSize: 16, checkpointEvery: 10 }, ...overrides
  }
}

describe('Trainer (worker thread)', () => {
  it('trains in a worker while the main thread keeps running, relaying step, checkpoint and done events', async () => {
    expect(trainer.status).toBe('started')
    expect(trainer.backend?.name).toBeDefined()
    await withTempDir(async dir => {
      const events: TrainProgressEvents[] = []
      let ticks = 0
      let last = performance.now()
      let maxGap = 0
      const timer = setInterval(() => {
        const now = performance.now()
        maxGap = Math.max(maxGap, now - last)
        last = now
        ticks++
      }, 5)
      const started = performance.now()
      const result = await trainer.run(job(dir, 30), { onProgress: e => events.push(e) })
      const total = performance.now() - started
      clearInterval(timer)
      expect(result).toMatchObject({ step: 30, steps: 30, aborted: false })
      const steps = events.filter(e => e.type === 'hddm:train:step')
      expect(steps.map(e => e.detail.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
      for (const e of steps) if (e.type === 'hddm:train:step') expect(e.detail.imagesPerSecond).toBeGreaterThan(0)
      expect(events.filter(e => e.type === 'hddm:train:checkpoint').map(e => e.detail.step)).toEqual([10, 20, 30])
      expect(events.at(-1)?.type).toBe('hddm:train:done')
      // The main loop was never blocked for a sizeable part of the run.
      expect(ticks).toBeGreaterThan(10)
      expect(maxGap).toBeLessThan(total / 4)
      expect((await readCheckpointFile(result.path)).metadata.step).toBe(30)
    })
  })

  it('an abort makes the worker write a last checkpoint, from which a later run resumes', async () => {
    await withTempDir(async dir => {
      const controller = new AbortController()
      await expect(trainer.run(job(dir, 40), {
        signal: controller.signal,
        onProgress: e => { if (e.type === 'hddm:train:step' && e.detail.step === 5) controller.abort() }
      })).rejects.toHaveProperty('name', 'AbortError')
      const checkpoint = await readCheckpointFile(`${dir}/checkpoint.safetensors`)
      expect(checkpoint.metadata.step).toBeGreaterThanOrEqual(5)
      expect(checkpoint.metadata.step).toBeLessThan(40)
      const resumed = await trainer.run(job(dir, 12, { resume: await readFile(`${dir}/checkpoint.safetensors`) }))
      expect(resumed).toMatchObject({ step: 12, aborted: false })
    })
  })

  it('rebuilds typed errors from the worker', async () => {
    await withTempDir(async dir => {
      const corrupt = data.train[0].slice(0, 100)
      await expect(trainer.run(job(dir, 2, { shard: corrupt }))).rejects.toHaveProperty('name', 'InvalidShardError')
      await expect(trainer.run(job(dir, 2, { preset: 'huge' }))).rejects.toHaveProperty('name', 'InvalidArgumentError')
      const garbageResume = job(dir, 2, { resume: new Uint8Array(16) })
      await expect(trainer.run(garbageResume)).rejects.toBeInstanceOf(CorruptCheckpointError)
      const evaluation = { heldOutBatches: 1, batchSize: 8, seed: 5 }
      await expect(trainer.heldOutLoss({ checkpoint: new Uint8Array(16), heldOut: data.heldOut[0], evaluation }))
        .rejects.toBeInstanceOf(CorruptCheckpointError)
    })
  })

  it('computes a checkpoint\'s held-out loss in the worker, to the in-process number', async () => {
    await withTempDir(async dir => {
      const result = await trainer.run(job(dir, 4))
      const bytes = await readFile(result.path)
      const evaluation = { heldOutBatches: 2, batchSize: 8, seed: 5 }
      const inWorker = await trainer.heldOutLoss({ checkpoint: bytes, heldOut: data.heldOut[0], evaluation })
      expect(inWorker).toBeCloseTo(expertHeldOutLoss(decodeCheckpoint(bytes), data.heldOut[0], evaluation), 4)
    })
  })

  it('stop() during a run checkpoints and ends the worker', async () => {
    const own = createTrainer({ backend: (process.env.HDDM_TEST_BACKEND ?? 'auto') as 'auto' })
    await own.start()
    await withTempDir(async dir => {
      let stopping: Promise<void> | undefined
      const run = own.run(job(dir, 200), {
        onProgress: e => { if (e.type === 'hddm:train:step' && e.detail.step === 3) stopping = own.stop() }
      })
      await expect(run).rejects.toHaveProperty('name', 'AbortError')
      await stopping
      expect(own.status).toBe('stopped')
      expect((await readCheckpointFile(`${dir}/checkpoint.safetensors`)).metadata.step).toBeGreaterThanOrEqual(3)
    })
  })
})
