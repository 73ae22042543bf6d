import { InvalidArgumentError } from '../../errors.js'
import { ddpm } from './ddpm.js'
import { flowMatching } from './flow.js'
import type { Objective, ObjectiveName } from './objective.js'

export type { Objective, ObjectiveName, Predictor, TrainingExample } from './objective.js'
export { ddpm, type DdpmObjective } from './ddpm.js'
export { flowMatching, FLOW_TIME_SCALE, type FlowMatchingOptions } from './flow.js'

export function objectiveByName (name: string): Objective {
  if (name === 'fm') return flowMatching()
  if (name === 'ddpm') return ddpm()
  throw new InvalidArgumentError(`unknown objective "${name}" (expected "ddpm" or "fm")`)
}
