/**
 * Model checkpoints: a network's named weights plus what is needed to use them, as one
 * safetensors file. Everything descriptive goes into `__metadata__` (strings only, as the
 * format requires): `hddm` holds the JSON of CheckpointMetadata. Extra tensor groups (raw
 * weights next to the EMA ones, optimizer moments) carry a prefix so that the unprefixed
 * names are always the weights to sample with.
 */
import * as tf from '@tensorflow/tfjs'
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js'
import { CorruptCheckpointError, ShapeMismatchError } from './errors.js'
import type { Params } from '../model/params.js'
import { MAX_SCHEDULE_STEPS, SCHEDULE_KINDS, type ScheduleSpec } from '../diffusion/schedule.js'

export const CHECKPOINT_FORMAT = 'hddm-checkpoint/1'

export interface CheckpointMetadata {
  format: typeof CHECKPOINT_FORMAT
  /** 'expert' or 'router'. */
  network: 'expert' | 'router'
  /** The full model config (DiTConfig or RouterConfig) and its preset name if any. */
  config: Record<string, unknown>
  preset?: string
  objective?: 'ddpm' | 'fm'
  /**
   * The DDPM schedule of a DDPM expert and of a DDPM-initialised FM expert (its time input is
   * matched on it). Absent: cosine, T = 1000 (DEFAULT_SCHEDULE); imported DiT experts: linear.
   */
  schedule?: ScheduleSpec
  cluster?: number
  step: number
  run?: string
  dataDigest?: string
  /** Free-form extras (trainer state, held-out loss, ...). */
  extra?: Record<string, unknown>
}

export interface Checkpoint {
  metadata: CheckpointMetadata
  /** Tensor groups by prefix: '' = the weights to sample with, e.g. 'raw.', 'adam.m.'. */
  tensors: Map<string, NamedTensor>
}

/** Reads the current values of a Params map into plain named tensors, under a prefix. */
export function paramsToTensors (
  params: Params, prefix = '', into = new Map<string, NamedTensor>()
): Map<string, NamedTensor> {
  for (const [name, v] of params.variables) {
    into.set(prefix + name, { shape: v.shape, data: v.dataSync() as Float32Array })
  }
  return into
}

/**
 * Assigns named tensors (under a prefix) to a Params map. Every parameter must be present
 * with its exact shape: a checkpoint of another preset is a ShapeMismatchError, never a
 * partial load.
 */
export function assignParams (params: Params, tensors: Map<string, NamedTensor>, prefix = ''): void {
  for (const [name, v] of params.variables) {
    const t = tensors.get(prefix + name)
    if (t === undefined) throw new ShapeMismatchError(`checkpoint has no tensor ${prefix + name}`)
    if (t.shape.length !== v.shape.length || t.shape.some((d, i) => d !== v.shape[i])) {
      const shapes = `checkpoint shape ${JSON.stringify(t.shape)}, model shape ${JSON.stringify(v.shape)}`
      throw new ShapeMismatchError(`tensor ${prefix + name}: ${shapes}`)
    }
  }
  for (const [name, v] of params.variables) {
    const t = tensors.get(prefix + name) as NamedTensor
    tf.tidy(() => { v.assign(tf.tensor(t.data, t.shape)) })
  }
}

/**
 * Refuses a network of `params` parameters when the checkpoint holds fewer values than that:
 * called before the network is built, so a small file whose config names a huge model is
 * refused without allocating it (the tensors' shapes are checked one by one when loading).
 */
export function checkConfigFits (params: number, tensors: Map<string, NamedTensor>): void {
  let held = 0
  for (const t of tensors.values()) held += t.data.length
  if (!(params <= held)) {
    throw new ShapeMismatchError(`its config describes ${params} parameters; the checkpoint holds ${held} values`)
  }
}

/** Runs a config check whose InvalidArgumentError, for a checkpoint's config, means a wrong shape. */
export function checkedShape (check: () => void): void {
  try {
    check()
  } catch (err) {
    if ((err as Error).name === 'InvalidArgumentError') {
      throw new ShapeMismatchError(`its config cannot build a network: ${(err as Error).message}`)
    }
    throw err
  }
}

export function encodeCheckpoint (checkpoint: Checkpoint): Uint8Array {
  return encodeSafetensors({ tensors: checkpoint.tensors, metadata: { hddm: JSON.stringify(checkpoint.metadata) } })
}

export function decodeCheckpoint (bytes: Uint8Array): Checkpoint {
  const { tensors, metadata } = decodeSafetensors(bytes)
  let parsed: unknown
  try {
    parsed = JSON.parse(metadata.hddm ?? '')
  } catch {
    throw new CorruptCheckpointError('missing or invalid hddm metadata')
  }
  const m = parsed as Partial<CheckpointMetadata> | null
  if (m === null || typeof m !== 'object' || m.format !== CHECKPOINT_FORMAT ||
    (m.network !== 'expert' && m.network !== 'router') ||
    typeof m.config !== 'object' || m.config === null || !Number.isSafeInteger(m.step)) {
    throw new CorruptCheckpointError(`metadata is not an ${CHECKPOINT_FORMAT} header`)
  }
  // Callers print and compare these fields: a peer's `"run": {"toString": 1}` made `String(run)`
  // throw a TypeError where a typed refusal belongs. Config values are numbers and names.
  const optional = (v: unknown, type: 'string' | 'number'): boolean => v === undefined || typeof v === type
  const typed = optional(m.run, 'string') && optional(m.preset, 'string') && optional(m.objective, 'string') &&
    optional(m.dataDigest, 'string') && optional(m.cluster, 'number') &&
    Object.values(m.config).every((v) => v === null || typeof v !== 'object') && validSchedule(m.schedule)
  if (!typed) throw new CorruptCheckpointError(`an ${CHECKPOINT_FORMAT} header with a field of the wrong type`)
  return { metadata: m as CheckpointMetadata, tensors }
}

/** Absent, or a kind hddm knows with a step count it can tabulate. */
function validSchedule (s: unknown): boolean {
  if (s === undefined) return true
  const spec = s as Partial<ScheduleSpec> | null
  return spec !== null && typeof spec === 'object' && SCHEDULE_KINDS.includes(spec.kind as ScheduleSpec['kind']) &&
    Number.isInteger(spec.T) && (spec.T as number) >= 2 && (spec.T as number) <= MAX_SCHEDULE_STEPS
}

/** True when every value of every tensor is finite (no NaN or Inf). */
export function allFinite (tensors: Map<string, NamedTensor>): boolean {
  for (const { data } of tensors.values()) {
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return false
  }
  return true
}
