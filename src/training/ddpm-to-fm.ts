/**
 * DDPM -> flow-matching initialisation (the paper's contribution 2): an FM expert starts from a
 * trained DDPM expert. Patch and position embeddings, the time MLP, t_block, the text layers
 * and every block keep their trained weights; the final layer (its modulation table and the
 * zero-initialised output linear) starts fresh, because it maps features to eps and the FM
 * expert regresses v = eps - x0, a different target.
 *
 * The time MLP was trained on DDPM steps s, so the FM expert keeps reading DDPM steps: flow
 * time t is fed as the SNR-matched step s*(t) (default, `ddpm-snr`) or the paper's round(999 t)
 * (`ddpm-naive`). The choice is stored as `extra.timeInput` and honoured at training and
 * sampling by createObjective() (diffusion/objectives/factory.ts).
 */
import * as tf from '@tensorflow/tfjs'
import type { DiT } from '../model/dit.js'
import type { Checkpoint } from '../checkpoint/format.js'
import { ShapeMismatchError } from '../checkpoint/errors.js'
import { InvalidArgumentError } from '../hddm-error.js'
import type { NamedTensor } from '../checkpoint/safetensors.js'
import type { AdaptedInit } from '../checkpoint/import/adapt.js'

export const REINITIALISED_PREFIX = 'final_layer.'

/**
 * Copies every weight except the final layer's from a DDPM expert checkpoint (its EMA weights)
 * into `model`; with `adapted` (an import brought to the model's preset, checkpoint/import/),
 * its tensors, leaving its `fresh` ones (a class import's text path) as initialised.
 */
export function initFlowFromDdpm (model: DiT, ddpmCheckpoint: Checkpoint, adapted?: AdaptedInit): void {
  const { metadata } = ddpmCheckpoint
  if (metadata.network !== 'expert' || metadata.objective !== 'ddpm') {
    const got = `${metadata.objective ?? metadata.network} ${metadata.network}`
    throw new InvalidArgumentError(`DDPM -> FM initialisation needs a DDPM expert checkpoint, got a ${got}`)
  }
  const fresh = adapted?.fresh ?? (() => false)
  const keep = (name: string): boolean => !name.startsWith(REINITIALISED_PREFIX) && !fresh(name)
  copyWeights(model, adapted?.tensors ?? ddpmCheckpoint.tensors, keep)
}

/** Copies every weight from an expert checkpoint of the same objective (a warm start). */
export function initFromCheckpoint (model: DiT, checkpoint: Checkpoint, adapted?: AdaptedInit): void {
  const fresh = adapted?.fresh ?? (() => false)
  copyWeights(model, adapted?.tensors ?? checkpoint.tensors, name => !fresh(name))
}

function copyWeights (model: DiT, tensors: Map<string, NamedTensor>, keep: (name: string) => boolean): void {
  const kept = [...model.params.variables].filter(([name]) => keep(name))
  for (const [name, v] of kept) {
    const t = tensors.get(name)
    if (t === undefined || t.shape.length !== v.shape.length || t.shape.some((d, i) => d !== v.shape[i])) {
      const shapes = `is missing or has shape ${JSON.stringify(t?.shape)}, model has ${JSON.stringify(v.shape)}`
      throw new ShapeMismatchError(`init checkpoint tensor ${name} ${shapes}`)
    }
  }
  for (const [name, v] of kept) {
    const t = tensors.get(name) as NamedTensor
    tf.tidy(() => { v.assign(tf.tensor(t.data, t.shape)) })
  }
}
