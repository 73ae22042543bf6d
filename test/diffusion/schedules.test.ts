import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { cosineSchedule, linearSchedule, scheduleFromSpec, type Schedule } from '../../src/diffusion/schedule.js'
import { snrMatchedStep } from '../../src/diffusion/convert.js'
import { ddpm, type DdpmObjective } from '../../src/diffusion/objectives/ddpm.js'
import { flowMatching } from '../../src/diffusion/objectives/flow.js'
import { createObjective } from '../../src/diffusion/objectives/factory.js'
import { ensembleField, type EnsembleExpert } from '../../src/diffusion/ensemble.js'
import {
  clusterEps, clusterVelocity, flowPosterior, globalVelocity, marginalSamples, relativeError
} from './gaussian-mixture.js'

beforeAll(async () => { await tf.setBackend('cpu') })

const cosine = cosineSchedule(1000)
const linear = linearSchedule(1000)

describe('linear schedule (DiT)', () => {
  it('is numpy\'s cumprod(1 - linspace(1e-4, 0.02, 1000)) (values from numpy, float64)', () => {
    const numpy: Array<[number, number]> = [
      [0, 0.9999], [1, 0.9997800920720721], [499, 0.07858724288177824],
      [998, 4.118193638138445e-05], [999, 4.035829765375676e-05]
    ]
    for (const [s, abar] of numpy) expect(linear.alphasCumprod[s] / abar - 1).toBeLessThan(1e-13)
    expect(linear.kind).toBe('linear')
  })

  it('inverts abar exactly at fractional steps, as the cosine schedule does', () => {
    for (const s of [0, 0.25, 17.5, 400.125, 998.5, 999]) expect(linear.stepForAbar(linear.abarAt(s))).toBeCloseTo(s, 6)
  })

  it('sits below the cosine schedule in the middle: the same flow time maps to earlier linear steps', () => {
    expect(linear.abarAt(500)).toBeLessThan(cosine.abarAt(500))
    expect(snrMatchedStep(linear, 0.5)).toBeLessThan(snrMatchedStep(cosine, 0.5))
  })

  it('is what a spec names; absent is cosine 1000; an unknown kind or T is an InvalidArgumentError', () => {
    expect(scheduleFromSpec().alphasCumprod).toEqual(cosine.alphasCumprod)
    expect(scheduleFromSpec({ kind: 'linear', T: 1000 }).alphasCumprod).toEqual(linear.alphasCumprod)
    const invalid = expect.objectContaining({ name: 'InvalidArgumentError' })
    expect(() => scheduleFromSpec({ kind: 'sqrt' as 'linear', T: 1000 })).toThrow(invalid)
    expect(() => scheduleFromSpec({ kind: 'linear', T: 1e9 })).toThrow(invalid)
    expect(() => linearSchedule(1)).toThrow(invalid)
  })

  it('createObjective uses the schedule it is given, for DDPM noise and for the ddpm-snr time input', () => {
    const objective = createObjective('ddpm', { schedule: { kind: 'linear', T: 1000 } }) as DdpmObjective
    expect(objective.schedule.alphasCumprod).toEqual(linear.alphasCumprod)
    const fm = createObjective('fm', { timeInput: 'ddpm-snr', schedule: { kind: 'linear', T: 1000 } })
    const u = new Float32Array([0.2, 0.7])
    const example = fm.trainingExample(tf.zeros([2, 1, 1, 2]), tf.ones([2, 1, 1, 2]), u)
    const times = example.time.dataSync()
    u.forEach((t, i) => expect(times[i]).toBeCloseTo(snrMatchedStep(linear, t), 2))
    tf.dispose([example.input, example.time, example.target])
  })
})

/** The step a DDPM-initialised FM network read, back to flow time: abar = (1-t)^2 / ((1-t)^2 + t^2). */
function flowTimeOfStep (schedule: Schedule, step: number): number {
  const abar = schedule.abarAt(step)
  return 1 / (1 + Math.sqrt(abar / (1 - abar)))
}

/**
 * Three experts of the mixture on three time conventions: cluster 0 an eps-expert on the cosine
 * schedule (hddm's own), cluster 1 an eps-expert on DiT's linear schedule (an import), cluster 2
 * a velocity expert initialised from a linear-schedule DDPM expert (it reads SNR-matched linear
 * steps). `cluster1Schedule` is the schedule the ensemble believes expert 1 was trained on.
 */
function mixedScheduleExperts (cluster1Schedule: Schedule): EnsembleExpert[] {
  const eps = (k: number, schedule: Schedule) => (x: tf.Tensor4D, time: tf.Tensor1D) =>
    clusterEps(k, x, time.dataSync()[0], schedule)
  return [
    { objective: ddpm(cosine), network: eps(0, cosine) },
    { objective: ddpm(cluster1Schedule), network: eps(1, linear) },
    {
      objective: flowMatching({ timeInput: t => snrMatchedStep(linear, t) }),
      network: (x, time) => clusterVelocity(2, x, flowTimeOfStep(linear, time.dataSync()[0]))
    }
  ]
}

describe('an ensemble of DDPM experts on different schedules', () => {
  const tokens = tf.zeros([48, 1], 'int32') as tf.Tensor2D

  /** Relative error of the full-routing ensemble's velocity against the exact global one, at flow time t. */
  function ensembleError (cluster1Schedule: Schedule, t: number): number {
    const x = marginalSamples(t, 16, 7)
    const { field } = ensembleField({
      experts: mixedScheduleExperts(cluster1Schedule), posterior: flowPosterior, routing: { kind: 'full' },
      tokens, nullTokens: tokens, guidance: 1
    })
    const mixed = field(x, t)
    const exact = globalVelocity(x, t)
    const error = relativeError(mixed, exact)
    tf.dispose([x, mixed, exact])
    return error
  }

  it('mixes to the exact global velocity when each expert converts with its own schedule', () => {
    for (const t of [0.05, 0.3, 0.6, 0.9, 0.98]) expect(ensembleError(linear, t), `t = ${t}`).toBeLessThan(1e-4)
  })

  it('is measurably wrong when the linear-schedule expert is converted on the cosine schedule', () => {
    const errors = [0.3, 0.6, 0.9].map(t => ensembleError(cosine, t))
    // Measured 20%, 86% and 60% off at t = 0.3, 0.6, 0.9.
    expect(Math.min(...errors)).toBeGreaterThan(0.1)
  })
})
