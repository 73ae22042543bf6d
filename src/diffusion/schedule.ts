/**
 * DDPM noise schedules, indexed s = 0 .. T-1 with abar_s = prod_{i<=s} (1 - beta_i):
 *   cosine  Nichol & Dhariwal (2021), eq. 17: abar(s) = f(s) / f(0),
 *           f(s) = cos(((s/T + 0.008) / 1.008) * pi/2)^2, discretised through betas clipped at
 *           0.999 as in improved-diffusion. Every expert hddm trains from scratch uses it.
 *   linear  Ho et al. (2020) as DiT's get_named_beta_schedule('linear'): betas evenly spaced
 *           from 1e-4 to 0.02 (both times 1000/T), float64. Public DiT checkpoints use it.
 * Between integer steps abar is linear in s: the networks take fractional steps, and the
 * SNR-matched step of a flow time is fractional. A checkpoint records its schedule as a
 * ScheduleSpec (metadata `schedule`); an absent one is cosine with T = 1000.
 */
import { InvalidArgumentError } from '../hddm-error.js'

export type ScheduleKind = 'cosine' | 'linear'
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['cosine', 'linear']

/** A schedule as checkpoints store it. */
export interface ScheduleSpec {
  kind: ScheduleKind
  T: number
}

/** The schedule of every checkpoint that names none (all written before linear schedules existed). */
export const DEFAULT_SCHEDULE: ScheduleSpec = { kind: 'cosine', T: 1000 }

/** A larger T is no schedule anyone trains with; the bound keeps a hostile spec from sizing a table. */
export const MAX_SCHEDULE_STEPS = 100_000

export interface Schedule {
  readonly kind: ScheduleKind
  readonly T: number
  /** abar_s for s = 0 .. T-1, strictly decreasing. */
  readonly alphasCumprod: Float64Array
  /** abar at a fractional step, s clamped to [0, T-1]. */
  abarAt: (s: number) => number
  /** The fractional step whose abar equals `abar`, clamped to [0, T-1]; the exact inverse of abarAt. */
  stepForAbar: (abar: number) => number
}

function checkSteps (kind: ScheduleKind, T: number): void {
  if (!Number.isInteger(T) || T < 2 || T > MAX_SCHEDULE_STEPS) {
    throw new InvalidArgumentError(`${kind} schedule: T must be an integer in [2, ${MAX_SCHEDULE_STEPS}], got ${T}`)
  }
}

export function cosineSchedule (T = 1000): Schedule {
  checkSteps('cosine', T)
  const f = (s: number): number => Math.cos(((s / T + 0.008) / 1.008) * Math.PI / 2) ** 2
  const alphasCumprod = new Float64Array(T)
  let abar = 1
  for (let i = 0; i < T; i++) {
    const beta = Math.min(1 - f(i + 1) / f(i), 0.999)
    abar *= 1 - beta
    alphasCumprod[i] = abar
  }
  return tableSchedule('cosine', alphasCumprod)
}

/** DiT's linear schedule (gaussian_diffusion.py): np.linspace(1e-4 k, 0.02 k, T), k = 1000 / T. */
export function linearSchedule (T = 1000): Schedule {
  checkSteps('linear', T)
  const scale = 1000 / T
  const start = scale * 0.0001
  const end = scale * 0.02
  const step = (end - start) / (T - 1)
  const alphasCumprod = new Float64Array(T)
  let abar = 1
  for (let i = 0; i < T; i++) {
    // numpy's linspace: start + i step, with the last value exactly `end`.
    const beta = i === T - 1 ? end : start + i * step
    abar *= 1 - beta
    alphasCumprod[i] = abar
  }
  return tableSchedule('linear', alphasCumprod)
}

/** The schedule a checkpoint's spec names (absent: DEFAULT_SCHEDULE); a bad spec is an InvalidArgumentError. */
export function scheduleFromSpec (spec: ScheduleSpec = DEFAULT_SCHEDULE): Schedule {
  const s = spec as Partial<ScheduleSpec> | null
  if (s === null || typeof s !== 'object' || !SCHEDULE_KINDS.includes(s.kind as ScheduleKind)) {
    const expected = `expected kind ${SCHEDULE_KINDS.join(' or ')}`
    throw new InvalidArgumentError(`unknown schedule ${JSON.stringify(spec)} (${expected})`)
  }
  return s.kind === 'linear' ? linearSchedule(s.T) : cosineSchedule(s.T)
}

/** abarAt and its inverse over a strictly decreasing abar table. */
function tableSchedule (kind: ScheduleKind, alphasCumprod: Float64Array): Schedule {
  const T = alphasCumprod.length
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

  return { kind, T, alphasCumprod, abarAt, stepForAbar }
}
