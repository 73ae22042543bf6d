/**
 * The trainer state of a resumable expert checkpoint (its tensors: src/checkpoint/publishable.ts):
 * every random stream's position, the batcher's, the EMA and optimizer update counts, so a
 * resumed run continues draw for draw.
 */
import { z } from 'zod'
import type { ShardBatcherState } from '../data/batcher.js'
import type { RandomJSON } from '../data/random.js'
import type { CheckpointMetadata } from '../checkpoint/format.js'
import { ResumeMismatchError } from './errors.js'
import type { ExpertTrainingConfig } from './config.js'

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

const randomJSON = z.object({
  s: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  spare: z.number().nullable()
})
const trainerStateSchema = z.object({
  version: z.literal(1),
  step: z.number().int().nonnegative(),
  adamStep: z.number().int().nonnegative(),
  emaUpdates: z.number().int().nonnegative(),
  random: z.object({ time: randomJSON, noise: randomJSON }),
  batcher: z.object({
    epoch: z.number().int(), cursor: z.number().int(), epochRandom: randomJSON, dropoutRandom: randomJSON
  }),
  loss: z.number()
})

/** The trainer state and training config of a resumable checkpoint; a publishable one is a ResumeMismatchError. */
export function readTrainerState (
  metadata: CheckpointMetadata
): { state: TrainerState, training: ExpertTrainingConfig } {
  const extra = metadata.extra ?? {}
  const parsed = trainerStateSchema.safeParse(extra.trainer)
  if (!parsed.success || typeof extra.training !== 'object' || extra.training === null) {
    throw new ResumeMismatchError('checkpoint has no trainer state (a publishable export cannot be resumed)')
  }
  return { state: parsed.data as TrainerState, training: extra.training as ExpertTrainingConfig }
}
