import { describe, it, expect } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { learningRateAt } from '../../src/training/lr-schedule.js'
import { resolveTrainingConfig, TRAINING_DEFAULTS } from '../../src/training/config.js'
import { Ema } from '../../src/training/ema.js'
import { Params } from '../../src/model/params.js'

describe('learning-rate schedule', () => {
  const base = { steps: 110, learningRate: 1e-3, warmupSteps: 10, minLearningRate: 1e-4 }
  it('warms up linearly, then holds (constant) or follows a half cosine to the floor', () => {
    const constant = { ...base, lrSchedule: 'constant' as const }
    expect(learningRateAt(0, constant)).toBeCloseTo(1e-4, 12)
    expect(learningRateAt(9, constant)).toBeCloseTo(1e-3, 12)
    expect(learningRateAt(100, constant)).toBe(1e-3)
    const cosine = { ...base, lrSchedule: 'cosine' as const }
    expect(learningRateAt(10, cosine)).toBeCloseTo(1e-3, 12)
    expect(learningRateAt(109, cosine)).toBeCloseTo(1e-4, 12)
    expect(learningRateAt(59.5, cosine)).toBeCloseTo(5.5e-4, 12)
  })

  it('rejects invalid training configs with InvalidArgumentError', () => {
    expect(resolveTrainingConfig()).toEqual(TRAINING_DEFAULTS)
    const invalid = [
      { steps: 0 }, { batchSize: 1.5 }, { learningRate: -1 },
      { emaDecay: 1 }, { promptDropout: 2 }, { lrSchedule: 'step' as 'constant' }
    ]
    for (const bad of invalid) {
      expect(() => resolveTrainingConfig(bad)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
    }
  })
})

describe('EMA', () => {
  it('warms its decay up and averages toward the weights', () => {
    const params = new Params(1)
    const w = params.zeros('w', [2])
    const ema = new Ema(params, 0.999)
    expect(ema.decayAt(0)).toBeCloseTo(0.1, 12)
    expect(ema.decayAt(1e6)).toBe(0.999)
    w.assign(tf.ones([2]))
    ema.update()                                   // 0.1 * 0 + 0.9 * 1
    expect(Array.from(ema.toTensors().get('w')!.data)).toEqual([Math.fround(0.9), Math.fround(0.9)])
    ema.dispose()
    params.dispose()
  })
})
