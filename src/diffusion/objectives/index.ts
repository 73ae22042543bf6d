export type { Objective, ObjectiveName, Predictor, TrainingExample } from './objective.js'
export { ddpm, type DdpmObjective } from './ddpm.js'
export { flowMatching, FLOW_TIME_SCALE, type FlowMatchingOptions } from './flow.js'
export {
  createObjective, PIXEL_X0_CLAMP, DDPM_STEPS, TIME_INPUTS, type ObjectiveOptions, type TimeInput
} from './factory.js'
