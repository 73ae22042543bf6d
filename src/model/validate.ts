import { InvalidArgumentError } from '../hddm-error.js'
import type { TransformerShape } from './config.js'

/**
 * The largest value each field may take: above the paper's XL/2 shape with room, far below what
 * would exhaust memory. A config from a peer's checkpoint is checked against these before any
 * network is built.
 */
export const MAX_SHAPE = {
  imageSize: 1024, channels: 16, patchSize: 64, hidden: 8192, depth: 128, heads: 128, mlpRatio: 16
} as const

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
