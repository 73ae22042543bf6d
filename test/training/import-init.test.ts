import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as tf from '@tensorflow/tfjs'
import { trainExpert, type ExpertJob, type TrainProgressEvents } from '../../src/training/expert-run.js'
import { importCheckpoint } from '../../src/checkpoint/import/import.js'
import { adaptInit } from '../../src/checkpoint/import/adapt.js'
import { encodeCheckpoint, type Checkpoint } from '../../src/checkpoint/format.js'
import { readCheckpointFile } from '../../src/checkpoint/file.js'
import { loadExpert, expertConfig } from '../../src/checkpoint/expert.js'
import { RAW_PREFIX } from '../../src/checkpoint/publishable.js'
import { decodeShard } from '../../src/data/shard.js'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { linearSchedule } from '../../src/diffusion/schedule.js'
import { snrMatchedStep } from '../../src/diffusion/convert.js'
import { runTorchScript } from '../utils/python-torch.js'
import { useTrainingBackend } from '../utils/backend.js'
import { mnistShards, type TestShards } from './fixtures.js'

const REFERENCE = fileURLToPath(new URL('../model/reference_dit.py', import.meta.url))
let data: TestShards
let dir: string
let imported: Checkpoint

beforeAll(async () => {
  await useTrainingBackend()
  data = await mnistShards()
  dir = await mkdtemp(join(tmpdir(), 'hddm-import-init-'))
  // A class-conditional DiT of the `tiny` preset's shape (28x28x1, patch 7, D 64, 2 blocks, 2 heads), 10 labels.
  runTorchScript(REFERENCE, ['--out', dir, '--input-size', '28', '--channels', '1', '--patch', '7', '--heads', '2'])
  imported = await importCheckpoint(join(dir, 'weights.safetensors'), { from: 'dit', heads: 2 })
}, 180_000)
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

function job (outDir: string, overrides: Partial<ExpertJob>): ExpertJob {
  return {
    shard: data.train[0], preset: 'tiny', objective: 'fm', outDir, init: encodeCheckpoint(imported),
    training: { steps: 3, batchSize: 8, warmupSteps: 1, learningRate: 1e-3, seed: 3 }, ...overrides
  }
}

describe('train --init <an imported DiT>', () => {
  it('is a tiny-preset import (the shape decides) that `train` takes as it takes a DDPM checkpoint', () => {
    expect(imported.metadata).toMatchObject({ preset: 'tiny', objective: 'ddpm', schedule: { kind: 'linear' } })
  })

  it('starts an FM expert from the mapped weights: AdaLN-Single, text path and final layer fresh', async () => {
    const out = join(dir, 'fm')
    // One step at a negligible learning rate leaves the starting weights in the checkpoint's raw group.
    const still = { steps: 1, batchSize: 8, learningRate: 1e-12, minLearningRate: 0, warmupSteps: 0 }
    await trainExpert(job(out, { training: still }))
    const checkpoint = await readCheckpointFile(join(out, 'checkpoint.safetensors'))
    const config = expertConfig('tiny', Tokenizer.fromJSON(decodeShard(data.train[0]).header.tokenizer))
    const adapted = adaptInit(imported, config)
    let compared = 0
    for (const [name, t] of adapted.tensors) {
      if (name.startsWith('final_layer.')) continue   // re-initialised for v = eps - x0
      const raw = checkpoint.tensors.get(RAW_PREFIX + name)?.data ?? new Float32Array()
      expect(raw.length, name).toBe(t.data.length)
      expect(Math.max(...raw.map((v, i) => Math.abs(v - t.data[i]))), name).toBeLessThan(1e-9)
      compared += 1
    }
    expect(compared).toBeGreaterThan(20)
    expect(checkpoint.metadata).toMatchObject({
      objective: 'fm', preset: 'tiny', schedule: { kind: 'linear', T: 1000 },
      config: { adaln: 'single' },
      extra: { timeInput: 'ddpm-snr', init: { objective: 'ddpm', imported: { from: 'dit' } } }
    })
    expect(checkpoint.metadata.config.conditioning).toBeUndefined()
    // Sampling and scoring read the linear schedule back: the network's time input is the SNR-matched linear step.
    const expert = loadExpert(checkpoint)
    const u = new Float32Array([0.25, 0.75])
    const example = expert.objective.trainingExample(tf.zeros([2, 28, 28, 1]), tf.ones([2, 28, 28, 1]), u)
    const times = example.time.dataSync()
    u.forEach((t, i) => expect(times[i]).toBeCloseTo(snrMatchedStep(linearSchedule(1000), t), 2))
    tf.dispose([example.input, example.time, example.target])
    expert.dispose()
  })

  it('trains FM from it with finite, falling loss; a DDPM warm start keeps the linear schedule', { timeout: 120_000 },
    async () => {
      const losses: number[] = []
      const onProgress = (e: TrainProgressEvents): void => {
        if (e.type === 'hddm:train:step') losses.push(e.detail.loss)
      }
      await trainExpert(job(join(dir, 'fm-train'), { training: { steps: 12, batchSize: 16, warmupSteps: 2, seed: 1 } }),
        { onProgress })
      expect(losses.every(Number.isFinite)).toBe(true)
      expect(Math.min(...losses.slice(-4))).toBeLessThan(losses[0])
      await trainExpert(job(join(dir, 'ddpm'), { objective: 'ddpm' }))
      const ddpm = await readCheckpointFile(join(dir, 'ddpm', 'checkpoint.safetensors'))
      expect(ddpm.metadata).toMatchObject({ objective: 'ddpm', schedule: { kind: 'linear', T: 1000 } })
      expect(ddpm.metadata.extra?.timeInput).toBeUndefined()
    })
})
