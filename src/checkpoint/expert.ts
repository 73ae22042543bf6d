/**
 * An expert checkpoint as a usable network: its DiT config (a preset sized to the run's
 * tokenizer), its objective (with the time input a DDPM-initialised flow expert reads), and
 * its tokenizer. Sampling, evaluation and the ensemble all load experts through here.
 */
import { EXPERT_PRESETS, type DiTConfig, type ExpertPresetName } from '../model/config.js'
import { DiT } from '../model/dit.js'
import { naiveStep, snrMatchedStep } from '../diffusion/convert.js'
import { cosineSchedule } from '../diffusion/schedule.js'
import { ddpm } from '../diffusion/objectives/ddpm.js'
import { flowMatching } from '../diffusion/objectives/flow.js'
import type { Objective, ObjectiveName } from '../diffusion/objectives/objective.js'
import { InvalidArgumentError } from '../errors.js'
import { expertParamCount } from '../model/param-count.js'
import { validateDiTConfig } from '../model/validate.js'
import { assignParams, checkConfigFits, checkedShape, type Checkpoint, type CheckpointMetadata } from '../storage/checkpoint.js'
import { CorruptCheckpointError, ShapeMismatchError } from '../storage/checkpoint-errors.js'
import { Tokenizer, type TokenizerJSON } from '../data/tokenizer.js'

/**
 * What a flow-matching expert's network reads as time: `fm` is 1000 t (a fresh FM expert);
 * an FM expert initialised from a DDPM checkpoint keeps reading DDPM steps, either the step
 * with the same SNR as t (`ddpm-snr`, the default) or the paper's round(999 t) (`ddpm-naive`).
 */
export type TimeInput = 'fm' | 'ddpm-snr' | 'ddpm-naive'
export const TIME_INPUTS: readonly TimeInput[] = ['fm', 'ddpm-snr', 'ddpm-naive']

/** The preset's shape with the prompt length and vocabulary of the run's tokenizer. */
export function expertConfig (preset: string, tokenizer: Tokenizer): DiTConfig {
  if (!Object.hasOwn(EXPERT_PRESETS, preset)) {
    throw new InvalidArgumentError(`unknown expert preset "${preset}" (expected one of ${Object.keys(EXPERT_PRESETS).join(', ')})`)
  }
  return { ...EXPERT_PRESETS[preset as ExpertPresetName], vocabSize: tokenizer.vocabSize, promptTokens: tokenizer.maxLength }
}

/**
 * hddm's images are scaled to [-1, 1] (src/data/batcher.ts), so a clean image never leaves that
 * range and the eps -> v conversion clamps its x0 estimate there. DESIGN's +-20 suits unbounded
 * latents; on pixels it let one poor eps estimate near t = 1 saturate whole samples (measured:
 * a tiny DDPM expert sampled to values of +-21 with it, within [-2.0, 2.6] with 1).
 */
export const PIXEL_X0_CLAMP = 1

/**
 * The objective an expert trains and samples with. `minSnrGamma` > 0 weights a DDPM expert's
 * training loss (it changes nothing at sampling time).
 */
export function expertObjective (objective: ObjectiveName, timeInput: TimeInput = 'fm', minSnrGamma = 0): Objective {
  if (objective === 'ddpm') {
    if (timeInput !== 'fm') throw new InvalidArgumentError(`time input "${timeInput}" applies to flow-matching experts only`)
    return ddpm(cosineSchedule(1000), { x0Clamp: PIXEL_X0_CLAMP }, minSnrGamma > 0 ? { minSnrGamma } : {})
  }
  if (timeInput === 'fm') return flowMatching()
  const schedule = cosineSchedule(1000)
  return flowMatching({ timeInput: timeInput === 'ddpm-snr' ? t => snrMatchedStep(schedule, t) : naiveStep })
}

/** The `extra` block of an expert checkpoint's metadata (JSON). */
export interface ExpertExtra {
  tokenizer: TokenizerJSON
  timeInput?: TimeInput
  /** Present in resumable checkpoints only (see expert-checkpoint.ts). */
  trainer?: unknown
  training?: unknown
  [key: string]: unknown
}

export interface LoadedExpert {
  model: DiT
  objective: Objective
  tokenizer: Tokenizer
  metadata: CheckpointMetadata
  timeInput: TimeInput
}

export interface LoadExpertOptions {
  /** Refuse a checkpoint of another preset (ShapeMismatchError). */
  preset?: string
  /** Tensor group to load: '' (EMA, the default) or 'raw.'. */
  prefix?: string
}

/** Builds the DiT a checkpoint describes and loads its weights (EMA by default). */
export function loadExpert (checkpoint: Checkpoint, options: LoadExpertOptions = {}): LoadedExpert {
  const { metadata } = checkpoint
  if (metadata.network !== 'expert') throw new ShapeMismatchError(`checkpoint holds a ${metadata.network}, not an expert`)
  if (metadata.objective !== 'ddpm' && metadata.objective !== 'fm') throw new CorruptCheckpointError('expert checkpoint names no objective')
  if (options.preset !== undefined && metadata.preset !== options.preset) {
    throw new ShapeMismatchError(`checkpoint is of preset "${String(metadata.preset)}", expected "${options.preset}"`)
  }
  const extra = (metadata.extra ?? {}) as Partial<ExpertExtra>
  const tokenizer = Tokenizer.fromJSON(extra.tokenizer)
  const timeInput = extra.timeInput ?? 'fm'
  if (!TIME_INPUTS.includes(timeInput)) throw new CorruptCheckpointError(`unknown time input "${String(timeInput)}"`)
  const config = metadata.config as unknown as DiTConfig
  if (config.vocabSize !== tokenizer.vocabSize || config.promptTokens !== tokenizer.maxLength) {
    throw new CorruptCheckpointError('the model config does not match the checkpoint\'s tokenizer')
  }
  checkedShape(() => { validateDiTConfig(config) })
  checkConfigFits(expertParamCount(config).total, checkpoint.tensors)
  const model = new DiT(config)
  try {
    assignParams(model.params, checkpoint.tensors, options.prefix ?? '')
  } catch (err) {
    model.dispose()
    throw err
  }
  return { model, objective: expertObjective(metadata.objective, timeInput), tokenizer, metadata, timeInput }
}
