/**
 * A router checkpoint as a posterior over clusters. Loading never guesses: the config comes from
 * the checkpoint's metadata and every tensor must match it (ShapeMismatchError otherwise).
 */
import * as tf from '@tensorflow/tfjs'
import type { Tokenizer } from '../data/tokenizer.js'
import { InvalidArgumentError } from '../hddm-error.js'
import { ROUTER_PRESETS, type RouterConditioning, type RouterConfig, type RouterPresetName } from '../model/config.js'
import { routerParamCount } from '../model/param-count.js'
import { Router } from '../model/router.js'
import { validateDiTConfig } from '../model/validate.js'
import { CorruptCheckpointError } from './errors.js'
import { assignParams, checkConfigFits, checkedShape, type Checkpoint, type CheckpointMetadata } from './format.js'

/** The preset's shape for K experts; a prompt router is sized to the run's tokenizer. */
export function routerConfig (
  preset: string, numExperts: number, conditioning: RouterConditioning = 'none', tokenizer?: Tokenizer
): RouterConfig {
  if (!Object.hasOwn(ROUTER_PRESETS, preset)) {
    const known = Object.keys(ROUTER_PRESETS).join(', ')
    throw new InvalidArgumentError(`unknown router preset "${preset}" (expected one of ${known})`)
  }
  const shape = { ...ROUTER_PRESETS[preset as RouterPresetName], numExperts }
  if (conditioning === 'none') return shape
  if (tokenizer === undefined) throw new InvalidArgumentError('a prompt router needs the run\'s tokenizer')
  return { ...shape, conditioning, vocabSize: tokenizer.vocabSize, promptTokens: tokenizer.maxLength }
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

export function loadRouter (checkpoint: Checkpoint): LoadedRouter {
  if (checkpoint.metadata.network !== 'router') {
    throw new CorruptCheckpointError(`expected a router checkpoint, got a ${checkpoint.metadata.network}`)
  }
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
    posterior: (x, t, tokens) => tf.tidy(() => {
      const time = tf.fill([x.shape[0]], t) as tf.Tensor1D
      return model.posterior(x, time, model.conditioning === 'prompt' ? tokens : undefined)
    }),
    metadata: checkpoint.metadata,
    dispose: () => { model.dispose() }
  }
}
