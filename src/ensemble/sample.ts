/**
 * Sampling an ensemble locally: prompts in, images out, with the expert usage and the FLOPs
 * the routing cost. The same function serves the CLI and the remote sample protocol, so a
 * remote request and a local one with the same seed give the same images.
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidArgumentError } from '../hddm-error.js'
import { ensembleField, type EnsembleExpert, type Posterior } from '../diffusion/ensemble.js'
import type { Routing } from '../diffusion/routing.js'
import { flowSigmas, type SampleOptions } from '../diffusion/samplers/sampler.js'
import { sampleEuler } from '../diffusion/samplers/euler.js'
import { sampleHeun } from '../diffusion/samplers/heun.js'
import { expertForwardFlops, routerForwardFlops } from '../model/param-count.js'
import { checkDeviceFit } from '../model/buffer-fit.js'
import type { Tokenizer } from '../data/tokenizer.js'
import type { LoadedRouter } from '../checkpoint/router.js'
import type { LoadedExpert } from '../checkpoint/expert.js'

export interface EnsembleMember {
  cluster: number
  expert: LoadedExpert
}

export interface SampleEnsembleRequest extends SampleOptions {
  members: EnsembleMember[]
  /** Absent only for a single member (weight 1). */
  router?: LoadedRouter
  tokenizer: Tokenizer
  /** One entry per image to draw (repeat a prompt to draw it several times). */
  prompts: string[]
  steps: number
  seed: number
  routing: Routing
  guidance: number
  sampler?: SamplerName
}

export interface SampleEnsembleResult {
  /** [N, H, W, C] in [-1, 1]. */
  images: Float32Array
  shape: [number, number, number, number]
  /** Per member: mean routed weight over images and steps, and images evaluated. */
  usage: Array<{ cluster: number, meanWeight: number, evaluations: number }>
  /** Matrix-product FLOPs spent: router, experts, and per image. */
  flops: { router: number, experts: number, perImage: number }
}

/** The router's posterior (given the prompts) restricted to the clusters present, renormalised: [B, members]. */
function memberPosterior (router: LoadedRouter | undefined, clusters: number[]): Posterior {
  if (router === undefined) {
    if (clusters.length !== 1) {
      throw new InvalidArgumentError(`an ensemble of ${clusters.length} experts needs a router`)
    }
    return (x) => tf.ones([x.shape[0], 1]) as tf.Tensor2D
  }
  const K = router.model.config.numExperts
  for (const c of clusters) {
    if (!(Number.isInteger(c) && c >= 0 && c < K)) {
      throw new InvalidArgumentError(`cluster ${c} is outside the router's ${K} clusters`)
    }
  }
  return (x, t, tokens) => tf.tidy(() => {
    const p = tf.gather(router.posterior(x, t, tokens), tf.tensor1d(clusters, 'int32'), 1)
    return tf.div(p, tf.sum(p, 1, true)) as tf.Tensor2D
  })
}

export type SamplerName = 'euler' | 'heun'

export async function sampleEnsemble (request: SampleEnsembleRequest): Promise<SampleEnsembleResult> {
  const { members, prompts, tokenizer, steps, guidance } = request
  if (members.length === 0) throw new InvalidArgumentError('no experts to sample from')
  if (prompts.length === 0) throw new InvalidArgumentError('no prompts')
  if (!Number.isInteger(steps) || steps < 1) {
    throw new InvalidArgumentError(`steps must be a positive integer, got ${steps}`)
  }
  if (!(guidance >= 0 && Number.isFinite(guidance))) {
    throw new InvalidArgumentError(`guidance must be a non-negative number, got ${guidance}`)
  }
  if (!Number.isSafeInteger(request.seed)) {
    throw new InvalidArgumentError(`seed must be an integer, got ${request.seed}`)
  }
  const sampler = request.sampler ?? 'euler'
  if (sampler !== 'euler' && sampler !== 'heun') {
    throw new InvalidArgumentError(`unknown sampler "${String(sampler)}" (expected euler or heun)`)
  }
  const config = members[0].expert.model.config
  for (const m of members) {
    const c = m.expert.model.config
    if (c.imageSize !== config.imageSize || c.channels !== config.channels || c.promptTokens !== config.promptTokens) {
      const differs = `expert of cluster ${m.cluster} has another image or prompt shape`
      throw new InvalidArgumentError(`${differs} than cluster ${members[0].cluster}`)
    }
  }
  const N = prompts.length
  // On webgpu: guidance evaluates the prompted and the null rows as one batch of 2N.
  for (const m of members) checkDeviceFit(m.expert.model.config, 2 * N)
  const L = config.promptTokens
  const shape: [number, number, number, number] = [N, config.imageSize, config.imageSize, config.channels]
  const tokenRows = new Int32Array(N * L)
  const nullRows = new Int32Array(N * L)
  prompts.forEach((p, i) => {
    tokenRows.set(tokenizer.encode(p).subarray(0, L), i * L)
    nullRows.set(tokenizer.nullTokens().subarray(0, L), i * L)
  })
  const tokens = tf.tensor2d(tokenRows, [N, L], 'int32')
  const nullTokens = tf.tensor2d(nullRows, [N, L], 'int32')
  const experts: EnsembleExpert[] = members.map(m => ({ objective: m.expert.objective, network: m.expert.network }))
  const posterior = memberPosterior(request.router, members.map(m => m.cluster))
  const { field, usage } = ensembleField({
    experts, posterior, routing: request.routing, tokens, nullTokens, guidance: request.guidance
  })
  // tfjs takes a seed of 0 as "no seed" (Math.random); 2^53 is no safe integer, so no other seed maps there.
  const noise = tf.randomNormal(shape, 0, 1, 'float32', request.seed === 0 ? 2 ** 53 : request.seed) as tf.Tensor4D
  try {
    const sample = sampler === 'heun' ? sampleHeun : sampleEuler
    const out = await sample(field, noise, flowSigmas(request.steps), request)
    const images = out.dataSync() as Float32Array
    out.dispose()
    const guidanceFactor = request.guidance === 1 ? 1 : 2
    const expertFlops = members.reduce((sum, m, k) => {
      return sum + usage.expertEvaluations[k] * guidanceFactor * expertForwardFlops(m.expert.model.config)
    }, 0)
    const router = request.router
    const routerFlops = router !== undefined ? usage.routerEvaluations * N * routerForwardFlops(router.model.config) : 0
    return {
      images,
      shape,
      usage: members.map((m, k) => ({
        cluster: m.cluster,
        meanWeight: usage.weightSums[k] / Math.max(1, usage.calls * N),
        evaluations: usage.expertEvaluations[k]
      })),
      flops: { router: routerFlops, experts: expertFlops, perImage: (routerFlops + expertFlops) / N }
    }
  } finally {
    tf.dispose([tokens, nullTokens, noise])
  }
}

export interface SampleExpertRequest extends SampleOptions {
  /** One row of `count` images per prompt, prompt-major. */
  prompts: string[]
  count: number
  steps: number
  sampler?: SamplerName
  /** Classifier-free guidance scale (1 = none). */
  guidance?: number
  seed?: number
}

/** One expert alone: an ensemble of one member, no router. */
export async function sampleExpert (expert: LoadedExpert, request: SampleExpertRequest): Promise<SampleEnsembleResult> {
  if (!Number.isInteger(request.count) || request.count < 1) {
    throw new InvalidArgumentError(`count must be a positive integer, got ${request.count}`)
  }
  return await sampleEnsemble({
    ...request,
    members: [{ cluster: expert.metadata.cluster ?? 0, expert }],
    tokenizer: expert.tokenizer,
    prompts: request.prompts.flatMap(p => new Array<string>(request.count).fill(p)),
    seed: request.seed ?? 0,
    guidance: request.guidance ?? 1,
    routing: { kind: 'full' }
  })
}
