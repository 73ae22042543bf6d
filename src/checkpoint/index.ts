/**
 * Checkpoints: where a file or a CID's bytes become a network and a held-out score.
 * safetensors codec -> checkpoint format (metadata, params) -> expert / router loading ->
 * held-out scoring of experts and routers; files on disk are written atomically.
 */
export * from './errors.js'
export {
  decodeSafetensors, encodeSafetensors, headerLength, parseHeader, MAX_HEADER_BYTES,
  type NamedTensor, type SafetensorsContents
} from './safetensors.js'
export {
  CHECKPOINT_FORMAT, encodeCheckpoint, decodeCheckpoint, paramsToTensors, assignParams, allFinite,
  type Checkpoint, type CheckpointMetadata
} from './format.js'
export { writeFileAtomic, readCheckpointFile, readCheckpointBytes, readCheckpointStep } from './file.js'
export { publishableCheckpoint, RAW_PREFIX, ADAM_PREFIX } from './publishable.js'
export {
  expertConfig, loadExpert, buildExpertModel, type ExpertExtra, type LoadedExpert, type LoadExpertOptions
} from './expert.js'
export {
  importCheckpoint, importTensors, adaptInit, adaLNZeroToSingle, IMPORT_SOURCES, IMPORTED_SCHEDULE, DIT_HEADS,
  type ImportOptions, type ImportNote, type ImportSource, type AdaptedInit, type AdaLNSingleOptions
} from './import/index.js'
export { routerConfig, loadRouter, type LoadedRouter } from './router.js'
export {
  expertHeldOutLoss, scoreExpert, pixelMoments,
  type HeldOutEval, type ExpertScore, type ScoreSettings, type PixelMoments
} from './expert-score.js'
export {
  evaluateRouter, meanAccuracy, routerHeldOutError, scoreRouter,
  type BucketAccuracy, type RouterEvaluation, type RouterScoreOptions
} from './router-score.js'
