/**
 * The tiny expert and router checkpoints tests use, in one place: random networks of the `tiny`
 * presets for tests that only load or sample them, and an expert trained for a few steps with the
 * training loop itself for tests whose checks look at the loss. The same helper times training,
 * so that multi-process tests can budget their waits by the speed of the machine.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import {
  CHECKPOINT_FORMAT, decodeCheckpoint, encodeCheckpoint, paramsToTensors, type Checkpoint
} from '../../src/checkpoint/format.js'
import { publishableCheckpoint } from '../../src/checkpoint/publishable.js'
import type { Tokenizer } from '../../src/data/tokenizer.js'
import type { ObjectiveName } from '../../src/diffusion/objectives/objective.js'
import { EXPERT_PRESETS, ROUTER_PRESETS } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { Router } from '../../src/model/router.js'
import { trainExpert } from '../../src/training/expert-run.js'

export interface RandomExpertOptions {
  /** The run's tokenizer: the expert's prompt embedding is sized to it. */
  tokenizer: Tokenizer
  objective: ObjectiveName
  cluster: number
  /** Run id recorded in the metadata, if any. */
  run?: string
  /** Weight seed. @default 20 + cluster */
  seed?: number
  /** A NaN in one weight: a checkpoint every check must refuse. */
  poison?: boolean
}

/**
 * A `tiny` expert with random weights at step 1. Its output layer is drawn too (DiT initialises
 * it to zero), so that it predicts something and two experts sample differently.
 */
export function randomExpertCheckpoint (options: RandomExpertOptions): Checkpoint {
  const { tokenizer, objective, cluster, run } = options
  const config = { ...EXPERT_PRESETS.tiny, vocabSize: tokenizer.vocabSize, promptTokens: tokenizer.maxLength }
  const model = new DiT(config, options.seed ?? 20 + cluster)
  try {
    const out = model.params.get('final_layer.linear.weight')
    out.assign(tf.randomNormal(out.shape, 0, 0.05, 'float32', cluster))
    const tensors = paramsToTensors(model.params)
    if (options.poison === true) tensors.get('blocks.0.mlp.fc1.weight')!.data[3] = Number.NaN
    return {
      metadata: {
        format: CHECKPOINT_FORMAT,
        network: 'expert',
        config: { ...config },
        preset: 'tiny',
        objective,
        schedule: { kind: 'cosine', T: 1000 },
        cluster,
        step: 1,
        run,
        extra: { tokenizer: tokenizer.toJSON() }
      },
      tensors
    }
  } finally {
    model.dispose()
  }
}

/** A `router-tiny` router over `numExperts` clusters with random weights at step 1, reading no prompt. */
export function randomRouterCheckpoint (options: { numExperts: number, run?: string, seed?: number }): Checkpoint {
  const config = { ...ROUTER_PRESETS['router-tiny'], numExperts: options.numExperts }
  const router = new Router(config, options.seed ?? 3)
  try {
    return {
      metadata: { format: CHECKPOINT_FORMAT, network: 'router', config: { ...config }, step: 1, run: options.run },
      tensors: paramsToTensors(router.params)
    }
  } finally {
    router.dispose()
  }
}

export interface TrainTinyExpertOptions {
  /** Encoded train shard of the expert's cluster. */
  shard: Uint8Array
  objective: ObjectiveName
  steps: number
  /** @default 'tiny' */
  preset?: string
  /** @default 3 */
  seed?: number
  run?: string
  /** Called as each step ends, with `performance.now()` then. */
  onStep?: (step: number, at: number) => void
}

/**
 * The publishable export of an expert trained for `steps` steps (batch 16, warm-up 2, EMA 0.9)
 * with the training loop itself, in this process; 30 steps pass the default bounds.
 */
export async function trainTinyExpert (options: TrainTinyExpertOptions): Promise<Uint8Array> {
  const { shard, objective, steps, run } = options
  const dir = await mkdtemp(join(tmpdir(), 'hddm-tiny-expert-'))
  try {
    const result = await trainExpert({
      shard,
      preset: options.preset ?? 'tiny',
      objective,
      outDir: dir,
      run,
      training: {
        steps, batchSize: 16, learningRate: 1e-3, warmupSteps: 2, checkpointEvery: steps, emaDecay: 0.9,
        seed: options.seed ?? 3
      }
    }, {
      onProgress: (evt) => { if (evt.type === 'hddm:train:step') options.onStep?.(evt.detail.step, performance.now()) }
    })
    return encodeCheckpoint(publishableCheckpoint(decodeCheckpoint(await readFile(result.path))))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
