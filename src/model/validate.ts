import { InvalidArgumentError } from '../hddm-error.js'
import type { DiTConfig, TransformerShape } from './config.js'

/**
 * The largest value each field may take: above the paper's XL/2 shape with room, far below what
 * would exhaust memory. A config from a peer's checkpoint is checked against these before any
 * network is built.
 */
export const MAX_SHAPE = {
  imageSize: 1024, channels: 16, patchSize: 64, hidden: 8192, depth: 128, heads: 128, mlpRatio: 16
} as const

/** Class-conditional experts: ImageNet-21k has 21841 classes; room above it. */
export const MAX_CLASSES = 100_000

/** Shapes that cannot build a network fail early with a typed error, not deep inside tfjs. */
export function validateDiTConfig (c: TransformerShape): void {
  const positive = ['imageSize', 'channels', 'patchSize', 'hidden', 'depth', 'heads', 'mlpRatio'] as const
  for (const key of positive) {
    if (!Number.isInteger(c[key]) || c[key] <= 0) {
      throw new InvalidArgumentError(`model config: ${key} must be a positive integer, got ${c[key]}`)
    }
    if (c[key] > MAX_SHAPE[key]) {
      throw new InvalidArgumentError(`model config: ${key} ${c[key]} is above the largest supported, ${MAX_SHAPE[key]}`)
    }
  }
  if (c.imageSize % c.patchSize !== 0) {
    const sizes = `imageSize ${c.imageSize} is not a multiple of patchSize ${c.patchSize}`
    throw new InvalidArgumentError(`model config: ${sizes}`)
  }
  if (c.hidden % c.heads !== 0) {
    throw new InvalidArgumentError(`model config: hidden ${c.hidden} is not a multiple of heads ${c.heads}`)
  }
  if (c.hidden % 4 !== 0) {
    throw new InvalidArgumentError(`model config: hidden ${c.hidden} must be a multiple of 4 (2-D sin-cos positions)`)
  }
}

const positiveInteger = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0

/**
 * An expert's whole config: the shape, and the fields that say what it reads and writes. A
 * checkpoint's config is untrusted JSON, so every optional field is checked for its type too.
 */
export function validateExpertConfig (c: DiTConfig): void {
  validateDiTConfig(c)
  const fail = (why: string): never => { throw new InvalidArgumentError(`model config: ${why}`) }
  if (c.adaln !== 'single' && c.adaln !== 'zero') fail(`adaln must be "single" or "zero", got ${String(c.adaln)}`)
  if (c.conditioning === 'class') {
    if (!positiveInteger(c.numClasses) || (c.numClasses as number) > MAX_CLASSES) {
      fail(`numClasses must be an integer in [1, ${MAX_CLASSES}], got ${String(c.numClasses)}`)
    }
    if (c.promptTokens !== 1) fail(`a class-conditional expert reads one label (promptTokens 1), got ${c.promptTokens}`)
  } else if (c.conditioning === undefined || c.conditioning === 'text') {
    for (const key of ['promptTokens', 'vocabSize', 'textDim'] as const) {
      if (!positiveInteger(c[key])) fail(`${key} must be a positive integer, got ${String(c[key])}`)
    }
    if (c.numClasses !== undefined) fail('numClasses applies to class-conditional experts only')
  } else {
    fail(`conditioning must be "text" or "class", got ${String(c.conditioning)}`)
  }
  if (c.learnSigma !== undefined && typeof c.learnSigma !== 'boolean') fail('learnSigma must be a boolean')
  if (c.timeFrequencyShift !== undefined && c.timeFrequencyShift !== 0 && c.timeFrequencyShift !== 1) {
    fail(`timeFrequencyShift must be 0 or 1, got ${String(c.timeFrequencyShift)}`)
  }
  const eps = c.mlpNormEps
  if (eps !== undefined && !(typeof eps === 'number' && eps > 0 && eps <= 1e-2)) {
    fail(`mlpNormEps must be in (0, 0.01], got ${String(eps)}`)
  }
}
