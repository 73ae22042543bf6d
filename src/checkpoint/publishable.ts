/**
 * The two kinds of expert checkpoint (format.ts):
 * - resumable: EMA weights under plain names (what sampling uses), raw weights under `raw.`,
 *   Adam moments under `adam.m.` / `adam.v.`, and the trainer state in `extra.trainer`
 *   (src/training/trainer-state.ts);
 * - publishable: the EMA weights and the descriptive metadata only (what goes into IPFS).
 */
import type { Checkpoint } from './format.js'
import type { NamedTensor } from './safetensors.js'

export const RAW_PREFIX = 'raw.'
/** Adam's first and second moments, one tensor per parameter (src/training/adam.ts). */
export const ADAM_PREFIX = { m: 'adam.m.', v: 'adam.v.' } as const
const TRAINING_STATE_PREFIXES = [RAW_PREFIX, ADAM_PREFIX.m, ADAM_PREFIX.v]

/** Only the EMA weights and the descriptive metadata: no raw weights, moments or trainer state. */
export function publishableCheckpoint (checkpoint: Checkpoint): Checkpoint {
  const tensors = new Map<string, NamedTensor>()
  const isTrainingState = (name: string): boolean => TRAINING_STATE_PREFIXES.some(p => name.startsWith(p))
  for (const [name, t] of checkpoint.tensors) if (!isTrainingState(name)) tensors.set(name, t)
  const { trainer: _trainer, ...extra } = checkpoint.metadata.extra ?? {}
  return { metadata: { ...checkpoint.metadata, extra }, tensors }
}
