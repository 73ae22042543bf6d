/**
 * An expert's training hyperparameters: one typed object with its defaults in one place
 * (minGPT's trainer config). It is stored in every checkpoint, so a resumed run trains with
 * the values it started with.
 */
import { InvalidArgumentError } from '../hddm-error.js'

export type LrSchedule = 'constant' | 'cosine'

export interface ExpertTrainingConfig {
  /** Optimizer updates in the whole run. */
  steps: number
  batchSize: number
  /** Peak learning rate, reached after `warmupSteps` linear steps from 0. */
  learningRate: number
  warmupSteps: number
  /** After warm-up: constant, or a half cosine down to `minLearningRate` at the last step. */
  lrSchedule: LrSchedule
  minLearningRate: number
  beta1: number
  beta2: number
  epsilon: number
  /** Decoupled weight decay (AdamW); 0 = plain Adam. */
  weightDecay: number
  /** Global gradient-norm clip; Infinity disables it. */
  clipNorm: number
  /** EMA decay ceiling; early updates use min(decay, (1 + n) / (10 + n)) so the EMA tracks the fast start. */
  emaDecay: number
  /** Probability of training a batch row on the null prompt (classifier-free guidance). */
  promptDropout: number
  /** Seeds the model init, the batch order, the prompt dropout, the time draws and the noise. */
  seed: number
  /** A resumable checkpoint is written every this many steps, and at the end. */
  checkpointEvery: number
  /**
   * DDPM experts only: min-SNR-gamma loss weighting (Hang et al., 2023), each step's eps loss
   * times min(SNR, gamma) / SNR. 0 = the plain eps MSE of Ho et al. (the paper's).
   */
  minSnrGamma: number
}

export const TRAINING_DEFAULTS: ExpertTrainingConfig = {
  steps: 1000,
  batchSize: 32,
  learningRate: 5e-4,
  warmupSteps: 100,
  lrSchedule: 'constant',
  minLearningRate: 5e-5,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  weightDecay: 0,
  clipNorm: 1,
  emaDecay: 0.999,
  promptDropout: 0.1,
  seed: 1,
  checkpointEvery: 500,
  minSnrGamma: 0
}

/** Defaults filled in and every field checked; bad values are InvalidArgumentErrors. */
export function resolveTrainingConfig (partial: Partial<ExpertTrainingConfig> = {}): ExpertTrainingConfig {
  const c: ExpertTrainingConfig = { ...TRAINING_DEFAULTS, ...stripUndefined(partial) }
  const positiveInts = ['steps', 'batchSize', 'checkpointEvery'] as const
  const check = (ok: boolean, key: keyof ExpertTrainingConfig, what: string): void => {
    if (!ok) fail(key, what, c[key])
  }
  for (const key of positiveInts) check(Number.isSafeInteger(c[key]) && c[key] >= 1, key, 'a positive integer')
  check(Number.isSafeInteger(c.warmupSteps) && c.warmupSteps >= 0, 'warmupSteps', 'a non-negative integer')
  check(Number.isInteger(c.seed), 'seed', 'an integer')
  check(c.learningRate > 0 && Number.isFinite(c.learningRate), 'learningRate', 'a positive number')
  check(c.minLearningRate >= 0 && c.minLearningRate <= c.learningRate, 'minLearningRate', 'in [0, learningRate]')
  check(c.lrSchedule === 'constant' || c.lrSchedule === 'cosine', 'lrSchedule', '"constant" or "cosine"')
  for (const key of ['beta1', 'beta2', 'emaDecay'] as const) check(c[key] >= 0 && c[key] < 1, key, 'in [0, 1)')
  check(c.promptDropout >= 0 && c.promptDropout <= 1, 'promptDropout', 'in [0, 1]')
  check(c.epsilon > 0, 'epsilon', 'positive')
  check(c.weightDecay >= 0, 'weightDecay', 'non-negative')
  check(c.clipNorm > 0, 'clipNorm', 'positive (Infinity disables clipping)')
  check(c.minSnrGamma >= 0 && Number.isFinite(c.minSnrGamma), 'minSnrGamma', 'a non-negative number (0 = off)')
  return c
}

function fail (key: string, what: string, value: unknown): never {
  throw new InvalidArgumentError(`training config: ${key} must be ${what}, got ${String(value)}`)
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
