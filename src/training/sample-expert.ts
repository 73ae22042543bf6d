/**
 * Sampling from one expert, locally: the expert's own objective turns its network into a
 * velocity field (a DDPM expert through the exact eps -> v conversion), classifier-free
 * guidance is applied to its own prediction, and a flow-space sampler integrates from noise.
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidArgumentError } from '../errors.js'
import { guidedPredictor } from '../diffusion/guidance.js'
import { sampleEuler } from '../diffusion/samplers/euler.js'
import { sampleHeun } from '../diffusion/samplers/heun.js'
import { flowSigmas, type SampleOptions } from '../diffusion/samplers/sampler.js'
import type { LoadedExpert } from './expert-model.js'

export type ExpertSamplerName = 'euler' | 'heun'

export interface SampleExpertRequest {
  /** One row of images per prompt. */
  prompts: string[]
  /** Images per prompt. */
  count: number
  steps: number
  sampler?: ExpertSamplerName
  /** Classifier-free guidance scale (1 = none). */
  guidance?: number
  seed?: number
}

export interface ExpertSamples {
  /** [prompts * count, H, W, C] in [-1, 1], prompt-major. */
  images: Float32Array
  width: number
  height: number
  channels: number
}

export async function sampleExpert (expert: LoadedExpert, request: SampleExpertRequest, options: SampleOptions = {}): Promise<ExpertSamples> {
  const { prompts, count, steps } = request
  const guidance = request.guidance ?? 1
  if (prompts.length === 0) throw new InvalidArgumentError('at least one prompt is needed')
  if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError(`count must be a positive integer, got ${count}`)
  if (!Number.isInteger(steps) || steps < 1) throw new InvalidArgumentError(`steps must be a positive integer, got ${steps}`)
  if (!(guidance >= 0 && Number.isFinite(guidance))) throw new InvalidArgumentError(`guidance must be a non-negative number, got ${guidance}`)
  const sampler = request.sampler ?? 'euler'
  if (sampler !== 'euler' && sampler !== 'heun') throw new InvalidArgumentError(`unknown sampler "${String(sampler)}" (expected euler or heun)`)

  const { model, tokenizer, objective } = expert
  const { imageSize: S, channels: C } = model.config
  const B = prompts.length * count
  const L = tokenizer.maxLength
  const tokens = tf.tensor2d(tokenizer.encodeBatch(prompts.flatMap(p => new Array<string>(count).fill(p))), [B, L], 'int32')
  const nullRow = tokenizer.nullTokens()
  const nullTokens = tf.tensor2d(Int32Array.from({ length: B * L }, (_, i) => nullRow[i % L]), [B, L], 'int32')
  const noise = tf.randomNormal([B, S, S, C], 0, 1, 'float32', request.seed ?? 0) as tf.Tensor4D
  try {
    const predict = guidedPredictor((x, time, tok) => model.apply(x, time, tok), tokens, nullTokens, guidance)
    const field = (x: tf.Tensor4D, t: number): tf.Tensor4D => objective.velocity(predict, x, t)
    const run = sampler === 'heun' ? sampleHeun : sampleEuler
    const x0 = await run(field, noise, flowSigmas(steps), options)
    const images = x0.dataSync() as Float32Array
    x0.dispose()
    return { images, width: S, height: S, channels: C }
  } finally {
    tf.dispose([tokens, nullTokens, noise])
  }
}
