/**
 * An expert checkpoint as a usable network: its DiT config (a preset sized to the run's
 * tokenizer), its objective (with the time input a DDPM-initialised flow expert reads), and
 * its tokenizer. Training's resume, sampling, scoring and the ensemble all load experts here.
 */
import { EXPERT_PRESETS, type DiTConfig, type ExpertPresetName } from '../model/config.js'
import { DiT } from '../model/dit.js'
import { createObjective, TIME_INPUTS, type TimeInput } from '../diffusion/objectives/factory.js'
import type { ConditionalNetwork } from '../diffusion/guidance.js'
import type { Objective } from '../diffusion/objectives/objective.js'
import { InvalidArgumentError } from '../hddm-error.js'
import { expertParamCount } from '../model/param-count.js'
import { validateExpertConfig } from '../model/validate.js'
import { assignParams, checkConfigFits, checkedShape, type Checkpoint, type CheckpointMetadata } from './format.js'
import { CorruptCheckpointError, ShapeMismatchError } from './errors.js'
import { Tokenizer, type TokenizerJSON } from '../data/tokenizer.js'

/** The preset's shape with the prompt length and vocabulary of the run's tokenizer. */
export function expertConfig (preset: string, tokenizer: Tokenizer): DiTConfig {
  if (!Object.hasOwn(EXPERT_PRESETS, preset)) {
    const known = Object.keys(EXPERT_PRESETS).join(', ')
    throw new InvalidArgumentError(`unknown expert preset "${preset}" (expected one of ${known})`)
  }
  const shape = EXPERT_PRESETS[preset as ExpertPresetName]
  return { ...shape, vocabSize: tokenizer.vocabSize, promptTokens: tokenizer.maxLength }
}

/** The `extra` block of an expert checkpoint's metadata (JSON). */
export interface ExpertExtra {
  tokenizer: TokenizerJSON
  timeInput?: TimeInput
  /** Present in resumable checkpoints only (publishable.ts, training/trainer-state.ts). */
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
  /** The model as the sampler calls it: (x [B, H, W, C], time [B], tokens [B, L]) -> [B, H, W, C]. */
  network: ConditionalNetwork
  /** Frees the model's weights. */
  dispose: () => void
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
  if (metadata.network !== 'expert') {
    throw new ShapeMismatchError(`checkpoint holds a ${metadata.network}, not an expert`)
  }
  if (metadata.objective !== 'ddpm' && metadata.objective !== 'fm') {
    throw new CorruptCheckpointError('expert checkpoint names no objective')
  }
  if (options.preset !== undefined && metadata.preset !== options.preset) {
    throw new ShapeMismatchError(`checkpoint is of preset "${String(metadata.preset)}", expected "${options.preset}"`)
  }
  const extra = (metadata.extra ?? {}) as Partial<ExpertExtra>
  const config = metadata.config as unknown as DiTConfig
  if (config.conditioning === 'class') {
    // Its tokens are ImageNet labels, not prompts: no sampler or scorer here could feed it.
    throw new ShapeMismatchError('a class-conditional expert (an import) starts a run (`train --init`); it is none')
  }
  const tokenizer = Tokenizer.fromJSON(extra.tokenizer)
  const timeInput = extra.timeInput ?? 'fm'
  if (!TIME_INPUTS.includes(timeInput)) throw new CorruptCheckpointError(`unknown time input "${String(timeInput)}"`)
  if (config.vocabSize !== tokenizer.vocabSize || config.promptTokens !== tokenizer.maxLength) {
    throw new CorruptCheckpointError('the model config does not match the checkpoint\'s tokenizer')
  }
  const model = buildExpertModel(checkpoint, options.prefix)
  return {
    model,
    objective: createObjective(metadata.objective, { timeInput, schedule: metadata.schedule }),
    tokenizer,
    metadata,
    timeInput,
    network: (x, time, tokens) => model.apply(x, time, tokens),
    dispose: () => { model.dispose() }
  }
}

/**
 * The DiT of an expert checkpoint with its weights (tensor group `prefix`, default EMA): the
 * config is checked before anything is allocated, and every tensor's name and shape before
 * any is assigned. Used by loadExpert and for imported (class-conditional) experts.
 */
export function buildExpertModel (checkpoint: Checkpoint, prefix = ''): DiT {
  const config = checkpoint.metadata.config as unknown as DiTConfig
  checkedShape(() => { validateExpertConfig(config) })
  checkConfigFits(expertParamCount(config).total, checkpoint.tensors)
  const model = new DiT(config)
  try {
    assignParams(model.params, checkpoint.tensors, prefix)
  } catch (err) {
    model.dispose()
    throw err
  }
  return model
}
