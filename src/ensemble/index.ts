export { adaptExpert, loadRouter, type LoadedExpert as EnsembleExpertNetwork, type LoadedRouter } from './load.js'
export { sampleEnsemble, sampleExpert, type EnsembleMember, type SampleEnsembleRequest, type SampleEnsembleResult, type SampleExpertRequest, type SamplerName } from './sample.js'
export { resolveEnsemble, type LoadedEnsemble, type ResolveEnsembleOptions } from './resolve.js'
export { ensembleSampleHandler, type EnsembleSampleHandler, type EnsembleSampleHandlerInit } from './serve.js'
