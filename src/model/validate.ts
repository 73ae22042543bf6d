import { InvalidArgumentError } from '../errors.js'
import type { TransformerShape } from './config.js'

/** Shapes that cannot build a network fail early with a typed error, not deep inside tfjs. */
export function validateDiTConfig (c: TransformerShape): void {
  const positive = ['imageSize', 'channels', 'patchSize', 'hidden', 'depth', 'heads', 'mlpRatio'] as const
  for (const key of positive) {
    if (!Number.isInteger(c[key]) || c[key] <= 0) throw new InvalidArgumentError(`model config: ${key} must be a positive integer, got ${c[key]}`)
  }
  if (c.imageSize % c.patchSize !== 0) throw new InvalidArgumentError(`model config: imageSize ${c.imageSize} is not a multiple of patchSize ${c.patchSize}`)
  if (c.hidden % c.heads !== 0) throw new InvalidArgumentError(`model config: hidden ${c.hidden} is not a multiple of heads ${c.heads}`)
  if (c.hidden % 4 !== 0) throw new InvalidArgumentError(`model config: hidden ${c.hidden} must be a multiple of 4 (2-D sin-cos positions)`)
}
