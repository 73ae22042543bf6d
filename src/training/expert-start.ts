/**
 * Where an expert run starts: fresh, from a resumable checkpoint of the same run (its trainer
 * state and training config), or from an init checkpoint (a warm start of the same objective,
 * or DDPM -> FM initialisation).
 */
import { ShapeMismatchError } from '../checkpoint/errors.js'
import type { ExpertExtra } from '../checkpoint/expert.js'
import { decodeCheckpoint, type Checkpoint } from '../checkpoint/format.js'
import type { TimeInput } from '../diffusion/objectives/factory.js'
import type { ScheduleSpec } from '../diffusion/schedule.js'
import { adaptInit, needsAdapting, type AdaptedInit } from '../checkpoint/import/adapt.js'
import type { DiTConfig } from '../model/config.js'
import type { ObjectiveName } from '../diffusion/objectives/objective.js'
import { resolveTrainingConfig, type ExpertTrainingConfig } from './config.js'
import { ResumeMismatchError } from './errors.js'
import { readTrainerState, type TrainerState } from './trainer-state.js'

/** The fields of an expert job (expert-run.ts) that decide its starting point. */
export interface StartJob {
  preset: string
  objective: ObjectiveName
  training?: Partial<ExpertTrainingConfig>
  resume?: Uint8Array
  init?: Uint8Array
  timeInput?: Exclude<TimeInput, 'fm'>
}

export interface ExpertStart {
  training: ExpertTrainingConfig
  timeInput: TimeInput
  /**
   * The DDPM schedule the run's objective uses (a DDPM expert's noise, a DDPM-initialised FM
   * expert's time input): its checkpoint's or its init's; absent means cosine (fresh runs).
   */
  schedule?: ScheduleSpec
  /** A resumed run's checkpoint and trainer state. */
  resume?: { checkpoint: Checkpoint, state: TrainerState }
  /** The init checkpoint whose weights the new model takes. */
  init?: Checkpoint
  /** What the checkpoint records about its init (carried over on resume). */
  initNote?: Record<string, unknown>
}

/** `dataDigest`: the digest of the job's train shard, which a resumed checkpoint must match. */
export function expertStart (job: StartJob, dataDigest: string): ExpertStart {
  const training = resolveTrainingConfig(job.training)
  if (job.resume !== undefined) return resumedStart(job, decodeCheckpoint(job.resume), dataDigest)
  if (job.init !== undefined) return initStart(job, decodeCheckpoint(job.init), training)
  return { training, timeInput: 'fm' }
}

/** The checkpoint's training config wins, except `steps` and `checkpointEvery`. */
function resumedStart (job: StartJob, checkpoint: Checkpoint, dataDigest: string): ExpertStart {
  const { state, training: saved } = readTrainerState(checkpoint.metadata)
  const m = checkpoint.metadata
  const extra = (m.extra ?? {}) as Partial<ExpertExtra>
  if (m.preset !== job.preset || m.objective !== job.objective || m.dataDigest !== dataDigest) {
    const found = `${String(m.preset)} ${String(m.objective)} expert on shard ${String(m.dataDigest).slice(0, 12)}`
    const wanted = `${job.preset} ${job.objective} expert on ${dataDigest.slice(0, 12)}`
    throw new ResumeMismatchError(`checkpoint is a ${found}, not a ${wanted}`)
  }
  const steps = job.training?.steps ?? saved.steps
  const checkpointEvery = job.training?.checkpointEvery ?? saved.checkpointEvery
  return {
    training: resolveTrainingConfig({ ...saved, steps, checkpointEvery }),
    timeInput: extra.timeInput ?? 'fm',
    ...(m.schedule !== undefined ? { schedule: m.schedule } : {}),
    initNote: extra.init as Record<string, unknown> | undefined,
    resume: { checkpoint, state }
  }
}

/** Same objective: a warm start that keeps the init's time input; a DDPM init of an FM expert. */
function initStart (job: StartJob, init: Checkpoint, training: ExpertTrainingConfig): ExpertStart {
  const from = init.metadata.objective
  let timeInput: TimeInput
  if (from === 'ddpm' && job.objective === 'fm') {
    timeInput = job.timeInput ?? 'ddpm-snr'
  } else if (from === job.objective) {
    timeInput = ((init.metadata.extra ?? {}) as Partial<ExpertExtra>).timeInput ?? 'fm'
  } else {
    throw new ResumeMismatchError(`cannot initialise a ${job.objective} expert from a ${String(from)} checkpoint`)
  }
  if (init.metadata.preset !== job.preset) {
    const preset = String(init.metadata.preset)
    throw new ShapeMismatchError(`init checkpoint is of preset "${preset}", expected "${job.preset}"`)
  }
  const { step, dataDigest, cluster, schedule } = init.metadata
  const imported = (init.metadata.extra as { imported?: Record<string, unknown> } | undefined)?.imported
  const initNote = {
    objective: from, step, dataDigest, cluster,
    // An import's provenance (hddm-node import): where the weights came from.
    ...(imported !== undefined
      ? { imported: { from: imported.from, layout: imported.layout, file: imported.file } }
      : {})
  }
  return { training, timeInput, ...(schedule !== undefined ? { schedule } : {}), init, initNote }
}

/**
 * The run's model config: the preset's, with the time frequencies and MLP eps of an import it
 * starts from (its time MLP was trained on them), carried on through its checkpoints and resumes.
 * An init that is not the preset's form (an import, an AdaLN-Zero expert) comes `adapted` to it.
 */
export function runModelConfig (preset: DiTConfig, start: ExpertStart): { config: DiTConfig, adapted?: AdaptedInit } {
  const { init, resume } = start
  if (init !== undefined && needsAdapting(init, preset)) {
    const adapted = adaptInit(init, preset)
    return { config: { ...preset, ...adapted.inherited }, adapted }
  }
  const c = (init ?? resume?.checkpoint)?.metadata.config as Partial<DiTConfig> | undefined
  return {
    config: {
      ...preset,
      ...(c?.timeFrequencyShift !== undefined ? { timeFrequencyShift: c.timeFrequencyShift } : {}),
      ...(c?.mlpNormEps !== undefined ? { mlpNormEps: c.mlpNormEps } : {})
    }
  }
}
