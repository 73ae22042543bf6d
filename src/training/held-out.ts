/**
 * The held-out loss announced with each expert checkpoint: the objective's loss of the EMA
 * weights on the task's held-out shard, with every random draw fixed by the run's eval seed,
 * so any peer recomputes the same number from the same checkpoint (DESIGN section 6).
 */
import * as tf from '@tensorflow/tfjs'
import { ShardBatcher } from '../data/batcher.js'
import { Random } from '../data/random.js'
import { decodeShard } from '../data/shard.js'
import { loadExpert } from './expert-model.js'
import type { ResolvedRunManifest } from '../protocol/run-manifest.js'
import type { Checkpoint } from '../storage/checkpoint.js'

export type HeldOutEval = Pick<ResolvedRunManifest['eval'], 'heldOutBatches' | 'batchSize' | 'seed'>

export function expertHeldOutLoss (checkpoint: Checkpoint, heldOutShard: Uint8Array, evaluation: HeldOutEval): number {
  const expert = loadExpert(checkpoint)
  try {
    const { model, objective } = expert
    const shard = decodeShard(heldOutShard)
    const batcher = new ShardBatcher(shard, { batchSize: evaluation.batchSize, seed: evaluation.seed, tokenizer: expert.tokenizer })
    const times = Random.derive(evaluation.seed, 'held-out/time')
    const { imageSize, channels, promptTokens } = model.config
    const B = evaluation.batchSize
    let total = 0
    for (let b = 0; b < evaluation.heldOutBatches; b++) {
      const batch = batcher.next()
      const u = Float32Array.from({ length: B }, () => times.nextFloat())
      total += tf.tidy(() => {
        const x0 = tf.tensor4d(batch.images, [B, imageSize, imageSize, channels])
        // tfjs takes a seed of 0 as "no seed" (Math.random): +1 keeps batch 0 of eval seed 0 seeded.
        const eps = tf.randomNormal([B, imageSize, imageSize, channels], 0, 1, 'float32', evaluation.seed * 7919 + b + 1) as tf.Tensor4D
        const example = objective.trainingExample(x0, eps, u)
        const tokens = tf.tensor2d(batch.tokens, [B, promptTokens], 'int32')
        return objective.loss(model.apply(example.input, example.time, tokens), example.target).dataSync()[0]
      })
    }
    return total / evaluation.heldOutBatches
  } finally {
    expert.model.dispose()
  }
}
