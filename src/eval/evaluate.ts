/**
 * One ensemble (or one expert) under one routing rule, evaluated end to end: draw N samples
 * with balanced prompts (every class name in turn), in chunks so that memory stays bounded,
 * then score them with the classifier against the reference split. Also reports what the
 * samples cost: matrix-product GFLOPs per sample (router + the experts the routing evaluated,
 * x2 for classifier-free guidance) and the mean routed weight of each expert.
 */
import { InvalidArgumentError, throwIfAborted } from '../hddm-error.js'
import { formatRouting, type Routing } from '../diffusion/routing.js'
import { sampleEnsemble, type EnsembleMember, type SamplerName } from '../ensemble/sample.js'
import type { LoadedRouter } from '../checkpoint/router.js'
import type { Tokenizer } from '../data/tokenizer.js'
import { CustomProgressEvent, type AbortOptions, type ProgressEvent, type ProgressOptions } from '../progress.js'
import type { FeatureClassifier } from './classifier.js'
import { balancedPrompts, evaluateSamples, type ReferenceStatistics, type SampleMetrics } from './metrics.js'

export type EvaluateProgressEvents =
  | ProgressEvent<'hddm:eval:samples', { done: number, total: number }>

export interface EvaluateEnsembleInput extends AbortOptions, ProgressOptions<EvaluateProgressEvents> {
  members: EnsembleMember[]
  router?: LoadedRouter
  tokenizer: Tokenizer
  routing: Routing
  classifier: FeatureClassifier
  reference: ReferenceStatistics
  /** The prompts to cycle through (default: the classifier's class names). */
  prompts?: readonly string[]
  samples: number
  steps: number
  guidance: number
  seed: number
  sampler?: SamplerName
  /** Images per sampler call (default 100). */
  chunk?: number
}

export interface EnsembleEvaluation extends SampleMetrics {
  routing: string
  steps: number
  guidance: number
  seed: number
  sampler: SamplerName
  /** Matrix-product GFLOPs per sample, router included. */
  gflopsPerSample: number
  usage: Array<{ cluster: number, meanWeight: number, evaluations: number }>
  seconds: number
}

export interface EvaluateEnsembleResult {
  evaluation: EnsembleEvaluation
  /** [N, H, W, C] in [-1, 1], prompt i = prompts[i]. */
  images: Float32Array
  shape: [number, number, number, number]
  prompts: string[]
}

export async function evaluateEnsemble (input: EvaluateEnsembleInput): Promise<EvaluateEnsembleResult> {
  const N = input.samples
  const prompts = balancedPrompts(input.prompts ?? input.classifier.info.classNames, N)
  const chunk = input.chunk ?? 100
  if (!Number.isInteger(chunk) || chunk < 1) {
    throw new InvalidArgumentError(`chunk must be a positive integer, got ${chunk}`)
  }
  const started = performance.now()
  let images: Float32Array | undefined
  let shape: [number, number, number, number] | undefined
  let flops = 0
  const usage = input.members.map(m => ({ cluster: m.cluster, weight: 0, evaluations: 0 }))
  for (let start = 0, c = 0; start < N; start += chunk, c++) {
    throwIfAborted(input.signal)
    const part = prompts.slice(start, start + chunk)
    const result = await sampleEnsemble({
      members: input.members,
      router: input.router,
      tokenizer: input.tokenizer,
      prompts: part,
      steps: input.steps,
      seed: input.seed * 1000 + c,
      routing: input.routing,
      guidance: input.guidance,
      sampler: input.sampler,
      signal: input.signal
    })
    const size = result.images.length / part.length
    images ??= new Float32Array(N * size)
    shape ??= [N, result.shape[1], result.shape[2], result.shape[3]]
    images.set(result.images, start * size)
    flops += result.flops.perImage * part.length
    result.usage.forEach((u, k) => {
      usage[k].weight += u.meanWeight * part.length
      usage[k].evaluations += u.evaluations
    })
    input.onProgress?.(new CustomProgressEvent('hddm:eval:samples', { done: Math.min(N, start + chunk), total: N }))
  }
  const { classifier, reference } = input
  const metrics = evaluateSamples({ classifier, reference, images: images!, prompts })
  return {
    evaluation: {
      ...metrics,
      routing: formatRouting(input.routing),
      steps: input.steps,
      guidance: input.guidance,
      seed: input.seed,
      sampler: input.sampler ?? 'euler',
      gflopsPerSample: flops / N / 1e9,
      usage: usage.map(u => ({ cluster: u.cluster, meanWeight: u.weight / N, evaluations: u.evaluations })),
      seconds: (performance.now() - started) / 1000
    },
    images: images!,
    shape: shape!,
    prompts
  }
}
