export {
  cosineSchedule, linearSchedule, scheduleFromSpec, DEFAULT_SCHEDULE, SCHEDULE_KINDS,
  type Schedule, type ScheduleKind, type ScheduleSpec
} from './schedule.js'
export {
  abarFromFlowTime, snrMatchedStep, naiveStep, inputRescale, epsToVelocity, velocityToEps, velocityToX0,
  X0_CLAMP, X0_DENOMINATOR_FLOOR, type EpsModel, type EpsToVelocityOptions, type TimeMap
} from './convert.js'
export * from './objectives/index.js'
export {
  flowSigmas, type Sampler, type SampleOptions, type SampleStepEvent, type VelocityField
} from './samplers/sampler.js'
export { sampleEuler } from './samplers/euler.js'
export { sampleHeun } from './samplers/heun.js'
export { sampleDdim } from './samplers/ddim.js'
export { parseRouting, formatRouting, routingWeights, type Routing } from './routing.js'
export { guidedPredictor, type ConditionalNetwork } from './guidance.js'
export {
  ensembleField, type EnsembleExpert, type EnsembleField, type EnsembleFieldInit, type EnsembleUsage, type Posterior
} from './ensemble.js'
