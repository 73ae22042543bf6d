import type { ExpertTrainingConfig } from './config.js'

type ScheduleConfig =
  Pick<ExpertTrainingConfig, 'steps' | 'learningRate' | 'warmupSteps' | 'lrSchedule' | 'minLearningRate'>

/**
 * Learning rate of update `step` (0-based): linear warm-up to the peak (the first update
 * already moves, at peak / warmupSteps), then constant or a half cosine to the floor.
 */
export function learningRateAt (step: number, c: ScheduleConfig): number {
  if (step < c.warmupSteps) return c.learningRate * (step + 1) / c.warmupSteps
  if (c.lrSchedule === 'constant') return c.learningRate
  const progress = Math.min(1, (step - c.warmupSteps) / Math.max(1, c.steps - 1 - c.warmupSteps))
  return c.minLearningRate + (c.learningRate - c.minLearningRate) * 0.5 * (1 + Math.cos(Math.PI * progress))
}
