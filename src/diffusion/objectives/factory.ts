/**
 * The one way hddm builds an objective by name: training, loading, sampling and evaluation all
 * call createObjective, so the clamp and time input an expert trains with are the ones it is
 * sampled and scored with. The constructors ddpm() and flowMatching() stay for the conversion's
 * own tests, which probe other clamps and time maps on purpose.
 */
import { InvalidArgumentError } from '../../hddm-error.js'
import { naiveStep, snrMatchedStep } from '../convert.js'
import { scheduleFromSpec, type ScheduleSpec } from '../schedule.js'
import { ddpm } from './ddpm.js'
import { flowMatching } from './flow.js'
import type { Objective } from './objective.js'

/**
 * hddm's images are scaled to [-1, 1] (src/data/batcher.ts), so a clean image never leaves that
 * range and the eps -> v conversion clamps its x0 estimate there. DESIGN's +-20 suits unbounded
 * latents; on pixels it let one poor eps estimate near t = 1 saturate whole samples (measured:
 * a tiny DDPM expert sampled to values of +-21 with it, within [-2.0, 2.6] with 1).
 */
export const PIXEL_X0_CLAMP = 1

/** DDPM's step count on the cosine schedule, for every expert hddm trains from scratch. */
export const DDPM_STEPS = 1000

/**
 * What a flow-matching expert's network reads as time: `fm` is 1000 t (a fresh FM expert);
 * an FM expert initialised from a DDPM checkpoint keeps reading DDPM steps, either the step
 * with the same SNR as t (`ddpm-snr`, the default) or the paper's round(999 t) (`ddpm-naive`).
 */
export type TimeInput = 'fm' | 'ddpm-snr' | 'ddpm-naive'
export const TIME_INPUTS: readonly TimeInput[] = ['fm', 'ddpm-snr', 'ddpm-naive']

export interface ObjectiveOptions {
  /** Flow-matching experts only. @default 'fm' */
  timeInput?: TimeInput
  /** > 0: Min-SNR-gamma weighting of a DDPM expert's training loss (changes nothing at sampling). */
  minSnrGamma?: number
  /**
   * The DDPM schedule: a DDPM expert's noise levels, and the table a DDPM-initialised FM
   * expert's `ddpm-snr` time input is matched on. @default cosine, 1000 steps (DEFAULT_SCHEDULE)
   */
  schedule?: ScheduleSpec
}

/** `ddpm` (eps-prediction on its schedule, x0 clamped to the pixel range) or `fm` (velocity). */
export function createObjective (name: string, options: ObjectiveOptions = {}): Objective {
  const timeInput = options.timeInput ?? 'fm'
  if (!TIME_INPUTS.includes(timeInput)) throw new InvalidArgumentError(`unknown time input "${String(timeInput)}"`)
  if (name === 'ddpm') {
    if (timeInput !== 'fm') {
      throw new InvalidArgumentError(`time input "${timeInput}" applies to flow-matching experts only`)
    }
    const gamma = options.minSnrGamma ?? 0
    const schedule = scheduleFromSpec(options.schedule)
    return ddpm(schedule, { x0Clamp: PIXEL_X0_CLAMP }, gamma > 0 ? { minSnrGamma: gamma } : {})
  }
  if (name !== 'fm') throw new InvalidArgumentError(`unknown objective "${name}" (expected "ddpm" or "fm")`)
  if (timeInput === 'fm') return flowMatching()
  const schedule = scheduleFromSpec(options.schedule)
  return flowMatching({ timeInput: timeInput === 'ddpm-snr' ? t => snrMatchedStep(schedule, t) : naiveStep })
}
