/**
 * Networks from checkpoints: an expert becomes a conditional network plus its objective, a
 * router becomes a posterior over clusters. Loading never guesses: the config comes from the
 * checkpoint's metadata and every tensor must match it (ShapeMismatchError otherwise).
 */
import * as tf from '@tensorflow/tfjs'
import { DiT } from '../model/dit.js'
import { Router } from '../model/router.js'
import type { DiTConfig, RouterConfig } from '../model/config.js'
import { ddpm, flowMatching, type Objective } from '../diffusion/objectives/index.js'
import { cosineSchedule } from '../diffusion/schedule.js'
import type { ConditionalNetwork } from '../diffusion/guidance.js'
import { assignParams, type Checkpoint, type CheckpointMetadata } from '../storage/checkpoint.js'
import { CorruptCheckpointError } from '../storage/checkpoint-errors.js'

export interface LoadedExpert {
  model: DiT
  objective: Objective
  network: ConditionalNetwork
  metadata: CheckpointMetadata
  dispose: () => void
}

export interface LoadedRouter {
  model: Router
  /** p(k | x_t, t) over the router's K clusters: x [B, H, W, C] -> [B, K]. */
  posterior: (x: tf.Tensor4D, t: number) => tf.Tensor2D
  metadata: CheckpointMetadata
  dispose: () => void
}

export function objectiveOf (metadata: CheckpointMetadata): Objective {
  if (metadata.objective === 'fm') return flowMatching()
  if (metadata.objective === 'ddpm') return ddpm(cosineSchedule(metadata.schedule?.T ?? 1000))
  throw new CorruptCheckpointError(`expert checkpoint names no known objective (${String(metadata.objective)})`)
}

export function loadExpert (checkpoint: Checkpoint): LoadedExpert {
  if (checkpoint.metadata.network !== 'expert') throw new CorruptCheckpointError(`expected an expert checkpoint, got a ${checkpoint.metadata.network}`)
  const objective = objectiveOf(checkpoint.metadata)
  const model = new DiT(checkpoint.metadata.config as unknown as DiTConfig)
  try {
    assignParams(model.params, checkpoint.tensors)
  } catch (err) {
    model.dispose()
    throw err
  }
  return {
    model,
    objective,
    network: (x, time, tokens) => model.apply(x, time, tokens),
    metadata: checkpoint.metadata,
    dispose: () => { model.dispose() }
  }
}

export function loadRouter (checkpoint: Checkpoint): LoadedRouter {
  if (checkpoint.metadata.network !== 'router') throw new CorruptCheckpointError(`expected a router checkpoint, got a ${checkpoint.metadata.network}`)
  const model = new Router(checkpoint.metadata.config as unknown as RouterConfig)
  try {
    assignParams(model.params, checkpoint.tensors)
  } catch (err) {
    model.dispose()
    throw err
  }
  return {
    model,
    posterior: (x, t) => tf.tidy(() => model.posterior(x, tf.fill([x.shape[0]], t) as tf.Tensor1D)),
    metadata: checkpoint.metadata,
    dispose: () => { model.dispose() }
  }
}
