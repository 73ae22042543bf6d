/**
 * The two kinds of expert checkpoint (storage/checkpoint.ts format):
 * - resumable: EMA weights under plain names (what sampling uses), raw weights under `raw.`,
 *   Adam moments under `adam.m.` / `adam.v.`, and the trainer state in `extra.trainer`: every
 *   random stream's position, the batcher's, the EMA and optimizer update counts;
 * - publishable: the EMA weights and the descriptive metadata only (what goes into IPFS).
 */
import { z } from 'zod'
import type { ShardBatcherState } from '../data/batcher.js'
import type { RandomJSON } from '../data/random.js'
import type { Checkpoint, CheckpointMetadata } from '../storage/checkpoint.js'
import type { NamedTensor } from '../storage/safetensors.js'
import { ResumeMismatchError } from './errors.js'
import type { ExpertTrainingConfig } from './config.js'

export const RAW_PREFIX = 'raw.'
const TRAINING_STATE_PREFIXES = [RAW_PREFIX, 'adam.']

export interface TrainerState {
  version: 1
  /** Updates applied. */
  step: number
  adamStep: number
  emaUpdates: number
  /** Positions of the per-step random streams: time draws u and the noise seeds. */
  random: { time: RandomJSON, noise: RandomJSON }
  batcher: ShardBatcherState
  /** Loss of the last update. */
  loss: number
}

const randomJSON = z.object({ s: z.tuple([z.number(), z.number(), z.number(), z.number()]), spare: z.number().nullable() })
const trainerStateSchema = z.object({
  version: z.literal(1),
  step: z.number().int().nonnegative(),
  adamStep: z.number().int().nonnegative(),
  emaUpdates: z.number().int().nonnegative(),
  random: z.object({ time: randomJSON, noise: randomJSON }),
  batcher: z.object({ epoch: z.number().int(), cursor: z.number().int(), epochRandom: randomJSON, dropoutRandom: randomJSON }),
  loss: z.number()
})

/** The trainer state and training config of a resumable checkpoint; a publishable one is a ResumeMismatchError. */
export function readTrainerState (metadata: CheckpointMetadata): { state: TrainerState, training: ExpertTrainingConfig } {
  const extra = metadata.extra ?? {}
  const parsed = trainerStateSchema.safeParse(extra.trainer)
  if (!parsed.success || typeof extra.training !== 'object' || extra.training === null) {
    throw new ResumeMismatchError('checkpoint has no trainer state (a publishable export cannot be resumed)')
  }
  return { state: parsed.data as TrainerState, training: extra.training as ExpertTrainingConfig }
}

/** Only the EMA weights and the descriptive metadata: no raw weights, moments or trainer state. */
export function publishableCheckpoint (checkpoint: Checkpoint): Checkpoint {
  const tensors = new Map<string, NamedTensor>()
  for (const [name, t] of checkpoint.tensors) if (!TRAINING_STATE_PREFIXES.some(p => name.startsWith(p))) tensors.set(name, t)
  const { trainer: _trainer, ...extra } = checkpoint.metadata.extra ?? {}
  return { metadata: { ...checkpoint.metadata, extra }, tensors }
}
