/**
 * Networks from checkpoints: an expert becomes a conditional network plus its objective, a
 * router becomes a posterior over clusters. Loading never guesses: the config comes from the
 * checkpoint's metadata and every tensor must match it (ShapeMismatchError otherwise).
 */
import * as tf from '@tensorflow/tfjs'
import { Router } from '../model/router.js'
import type { RouterConfig } from '../model/config.js'
import type { ConditionalNetwork } from '../diffusion/guidance.js'
import { routerParamCount } from '../model/param-count.js'
import { validateDiTConfig } from '../model/validate.js'
import { assignParams, checkConfigFits, checkedShape, type Checkpoint, type CheckpointMetadata } from '../storage/checkpoint.js'
import { CorruptCheckpointError } from '../storage/checkpoint-errors.js'
import { loadExpert as loadTrainedExpert, type LoadedExpert as TrainedExpert, type LoadExpertOptions } from '../training/expert-model.js'

/** An expert ready for the ensemble: training's loaded expert plus its network as a function. */
export interface LoadedExpert extends TrainedExpert {
  network: ConditionalNetwork
  dispose: () => void
}

export interface LoadedRouter {
  model: Router
  /**
   * p(k | x_t, t, c) over the router's K clusters: x [B, H, W, C], prompt tokens [B, L] -> [B, K].
   * A prompt-blind router ignores the tokens (p(k | x_t, t)).
   */
  posterior: (x: tf.Tensor4D, t: number, tokens?: tf.Tensor2D) => tf.Tensor2D
  metadata: CheckpointMetadata
  dispose: () => void
}

/**
 * Loads an expert with training's loader (which honours the checkpoint's tokenizer and the time
 * input of DDPM-initialised flow experts) and binds its network for sampling.
 */
export function loadExpert (checkpoint: Checkpoint, options: LoadExpertOptions = {}): LoadedExpert {
  return adaptExpert(loadTrainedExpert(checkpoint, options))
}

/** Binds an already loaded expert's network for sampling (disposing it disposes the model). */
export function adaptExpert (expert: TrainedExpert): LoadedExpert {
  return {
    ...expert,
    network: (x, time, tokens) => expert.model.apply(x, time, tokens),
    dispose: () => { expert.model.dispose() }
  }
}

export function loadRouter (checkpoint: Checkpoint): LoadedRouter {
  if (checkpoint.metadata.network !== 'router') throw new CorruptCheckpointError(`expected a router checkpoint, got a ${checkpoint.metadata.network}`)
  const config = checkpoint.metadata.config as unknown as RouterConfig
  checkedShape(() => { validateDiTConfig(config) })
  checkConfigFits(routerParamCount(config), checkpoint.tensors)
  const model = new Router(config)
  try {
    assignParams(model.params, checkpoint.tensors)
  } catch (err) {
    model.dispose()
    throw err
  }
  return {
    model,
    posterior: (x, t, tokens) => tf.tidy(() => model.posterior(x, tf.fill([x.shape[0]], t) as tf.Tensor1D, model.conditioning === 'prompt' ? tokens : undefined)),
    metadata: checkpoint.metadata,
    dispose: () => { model.dispose() }
  }
}
