/**
 * How large a file a peer's message may make this node fetch (docs/SECURITY.md, "Bounded
 * downloads"). Every fetch a gossip message, a coverage map or a sample request causes is capped
 * by what the run can hold: the preset's checkpoint size, the shard sizes the resolved manifest
 * states. A CID that names a larger file is refused before its data moves (Storage checks the
 * root's declared size, then the bytes as they stream).
 */
import { expertParamCount, routerParamCount } from '../model/param-count.js'
import {
  EXPERT_PRESETS, ROUTER_PRESETS, type DiTConfig, type ExpertPresetName, type RouterPresetName
} from '../model/config.js'
import type { ResolvedRunManifest } from './run-manifest.js'

/** Resumable checkpoints hold the EMA weights, the raw weights and two Adam moments. */
const TENSOR_GROUPS = 4
/** A safetensors header (names, shapes, metadata with the tokenizer) fits in far less. */
const CHECKPOINT_HEADER_BYTES = 16 << 20
/** A vocabulary this large is generous for any run's tokenizer (the real one is only known after decoding). */
const MAX_VOCABULARY = 1 << 16
/** A shard's header (tokenizer, prompt list) and its per-item index arrays, beyond the pixels. */
const SHARD_HEADER_BYTES = 8 << 20
const SHARD_BYTES_PER_ITEM = 12

/**
 * The largest checkpoint a node verifies, serves from or loads for an ensemble it did not assemble
 * itself (`serveAny`): an xl2 expert's EMA weights with room for its header.
 */
export const MAX_ENSEMBLE_CHECKPOINT_BYTES = 4 * 700_000_000 + CHECKPOINT_HEADER_BYTES

/** The largest file that can be a checkpoint (resumable or published) of the run's presets. */
export function maxCheckpointBytes (manifest: Pick<ResolvedRunManifest, 'model' | 'k' | 'tasks'>): number {
  const expertPreset = EXPERT_PRESETS[manifest.model.expert as ExpertPresetName]
  const expert = expertParamCount({ ...expertPreset, vocabSize: MAX_VOCABULARY } as DiTConfig).total
  const routerPreset = ROUTER_PRESETS[manifest.model.router as RouterPresetName]
  const router = routerParamCount({
    ...routerPreset, numExperts: manifest.k, conditioning: 'prompt', vocabSize: MAX_VOCABULARY
  })
  return 4 * TENSOR_GROUPS * Math.max(expert, router) + CHECKPOINT_HEADER_BYTES
}

/** The largest file that can be the run's train or held-out shard of `cluster`. */
export function maxShardBytes (
  manifest: Pick<ResolvedRunManifest, 'model' | 'resolved'>, cluster: number, split: 'train' | 'heldOut'
): number {
  const preset = EXPERT_PRESETS[manifest.model.expert as ExpertPresetName]
  const entry = manifest.resolved.shards[cluster]
  const count = split === 'train' ? entry.trainCount : entry.heldOutCount
  return count * (preset.imageSize * preset.imageSize * preset.channels + SHARD_BYTES_PER_ITEM) + SHARD_HEADER_BYTES
}
