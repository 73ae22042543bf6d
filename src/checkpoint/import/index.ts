/**
 * Public diffusion transformers brought into hddm: facebookresearch/DiT (through
 * scripts/convert-dit-pt.py), diffusers' DiTTransformer2DModel and PixArt-alpha (diffusers or
 * PixArt.py names) -> an hddm expert checkpoint, and an import -> the starting weights of a
 * preset (`train --init`), AdaLN-Zero -> AdaLN-Single included. docs/MODEL.md, "Importing".
 */
export {
  importCheckpoint, importTensors, IMPORTED_SCHEDULE, DIT_HEADS, type ImportOptions, type ImportNote
} from './import.js'
export { IMPORT_SOURCES, type ImportSource } from './layout.js'
export { adaptInit, needsAdapting, type AdaptedInit } from './adapt.js'
export { adaLNZeroToSingle, timeEmbedding, DEFAULT_REFERENCE_STEP, type AdaLNSingleOptions } from './adaln-single.js'
export { readFloatSafetensors, type FloatSafetensors } from './read.js'
