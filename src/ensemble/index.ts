export { adaptExpert, loadRouter, type LoadedExpert as EnsembleExpertNetwork, type LoadedRouter } from './load.js'
export { sampleEnsemble, sampleExpert, type EnsembleMember, type SampleEnsembleRequest, type SampleEnsembleResult, type SampleExpertRequest, type SamplerName } from './sample.js'
