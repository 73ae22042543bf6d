/**
 * The DDPM noise schedule: the cosine schedule of Nichol & Dhariwal (2021), eq. 17,
 *   abar(s) = f(s) / f(0),  f(s) = cos(((s/T + 0.008) / 1.008) * pi/2)^2,
 * discretised through betas clipped at 0.999 as in improved-diffusion, indexed s = 0 .. T-1
 * (abar_s = prod_{i<=s} (1 - beta_i)). Between integer steps abar is linear in s: the
 * networks take fractional steps, and the SNR-matched step of a flow time is fractional.
 */
import { InvalidArgumentError } from '../hddm-error.js'

export interface Schedule {
  readonly kind: 'cosine'
  readonly T: number
  /** abar_s for s = 0 .. T-1, strictly decreasing. */
  readonly alphasCumprod: Float64Array
  /** abar at a fractional step, s clamped to [0, T-1]. */
  abarAt: (s: number) => number
  /** The fractional step whose abar equals `abar`, clamped to [0, T-1]; the exact inverse of abarAt. */
  stepForAbar: (abar: number) => number
}

export function cosineSchedule (T = 1000): Schedule {
  if (!Number.isInteger(T) || T < 2) {
    throw new InvalidArgumentError(`cosine schedule: T must be an integer >= 2, got ${T}`)
  }
  const f = (s: number): number => Math.cos(((s / T + 0.008) / 1.008) * Math.PI / 2) ** 2
  const alphasCumprod = new Float64Array(T)
  let abar = 1
  for (let i = 0; i < T; i++) {
    const beta = Math.min(1 - f(i + 1) / f(i), 0.999)
    abar *= 1 - beta
    alphasCumprod[i] = abar
  }

  const abarAt = (s: number): number => {
    const c = Math.min(Math.max(s, 0), T - 1)
    const i = Math.min(Math.floor(c), T - 2)
    const frac = c - i
    return alphasCumprod[i] * (1 - frac) + alphasCumprod[i + 1] * frac
  }

  const stepForAbar = (target: number): number => {
    if (target >= alphasCumprod[0]) return 0
    if (target <= alphasCumprod[T - 1]) return T - 1
    // alphasCumprod is decreasing: find i with abar_i >= target > abar_{i+1}.
    let lo = 0
    let hi = T - 1
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1
      if (alphasCumprod[mid] >= target) lo = mid
      else hi = mid
    }
    return lo + (alphasCumprod[lo] - target) / (alphasCumprod[lo] - alphasCumprod[hi])
  }

  return { kind: 'cosine', T, alphasCumprod, abarAt, stepForAbar }
}
