export {
  sampleEnsemble, sampleExpert, type EnsembleMember, type SampleEnsembleRequest, type SampleEnsembleResult,
  type SampleExpertRequest, type SamplerName
} from './sample.js'
export { resolveEnsemble, type LoadedEnsemble, type ResolveEnsembleOptions } from './resolve.js'
export { ensembleSampleHandler, type EnsembleSampleHandler, type EnsembleSampleHandlerInit } from './serve.js'
export {
  verifyCheckpoints, ensembleFromVerification, type CheckpointCandidate, type CheckpointVerdict, type Verification,
  type VerifiedCheckpoint, type VerifyCheckpointsInit, type VerifyCheckpointsOptions, type VerifyProgressEvents
} from './verify.js'
export { candidatesFromCoverage } from './candidates.js'
