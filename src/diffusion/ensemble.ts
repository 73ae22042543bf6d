/**
 * The heterogeneous ensemble as one velocity field (DESIGN section 4). Per sampler call:
 *   1. router posterior p(k | x_t, t, c)                    [B, K]   (p(k | x_t, t) if prompt-blind)
 *   2. routing: full, top-k or threshold, renormalised      weights [B, K]
 *   3. each selected expert, on its selected rows only: classifier-free guidance on its own
 *      prediction, then conversion to velocity (DDPM experts through convert.ts)
 *   4. v = sum_k w_k v_k                                     [B, H, W, C]
 * Experts may use either objective; the field never asks which, it asks each objective.
 * With full routing, guidance 1 and the exact posterior p(k | x_t, t, c) this is the exact
 * conditional field v(x_t | c) = sum_k p(k | x_t, t, c) v_k(x_t | c) (docs/MODEL.md section 4).
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidArgumentError } from '../hddm-error.js'
import { guidedPredictor, type ConditionalNetwork } from './guidance.js'
import { routingWeights, type Routing } from './routing.js'
import type { Objective } from './objectives/objective.js'
import type { VelocityField } from './samplers/sampler.js'

export interface EnsembleExpert {
  objective: Objective
  network: ConditionalNetwork
}

/**
 * p(k | x_t, t, c) for a batch: x [B, H, W, C], prompt tokens [B, L] -> [B, K], rows sum to 1.
 * A prompt-blind router ignores the tokens and gives p(k | x_t, t).
 */
export type Posterior = (x: tf.Tensor4D, t: number, tokens: tf.Tensor2D) => tf.Tensor2D

export interface EnsembleFieldInit {
  experts: EnsembleExpert[]
  posterior: Posterior
  routing: Routing
  /** Prompt tokens [B, L] and the null prompt [B, L] for guidance. */
  tokens: tf.Tensor2D
  nullTokens: tf.Tensor2D
  guidance: number
}

export interface EnsembleUsage {
  /** Field evaluations so far. */
  calls: number
  /** Per expert: images it was evaluated on (a guided evaluation counts once). */
  expertEvaluations: number[]
  /** Per expert: routed weight summed over images and calls; divide by calls x B for the mean. */
  weightSums: number[]
  /** Router evaluations (one per call, on the whole batch). */
  routerEvaluations: number
}

export interface EnsembleField {
  field: VelocityField
  usage: EnsembleUsage
}

export function ensembleField (init: EnsembleFieldInit): EnsembleField {
  const K = init.experts.length
  if (K === 0) throw new InvalidArgumentError('an ensemble needs at least one expert')
  const usage: EnsembleUsage = {
    calls: 0,
    expertEvaluations: new Array(K).fill(0),
    weightSums: new Array(K).fill(0),
    routerEvaluations: 0
  }

  const field: VelocityField = (x, t) => {
    const B = x.shape[0]
    const posterior = tf.tidy(() => init.posterior(x, t, init.tokens))
    if (posterior.shape[1] !== K) {
      throw new InvalidArgumentError(`router scores ${posterior.shape[1]} experts, the ensemble has ${K}`)
    }
    const weights = routingWeights(posterior.dataSync() as Float32Array, B, K, init.routing)
    posterior.dispose()
    usage.calls += 1
    usage.routerEvaluations += 1

    return tf.tidy(() => {
      let v = tf.zerosLike(x) as tf.Tensor4D
      for (let k = 0; k < K; k++) {
        const rows: number[] = []
        for (let b = 0; b < B; b++) if (weights[b * K + k] > 0) rows.push(b)
        if (rows.length === 0) continue
        usage.expertEvaluations[k] += rows.length
        const all = rows.length === B
        const idx = tf.tensor1d(rows, 'int32')
        const pick = <T extends tf.Tensor>(a: T): T => (all ? a : tf.gather(a, idx)) as T
        const expert = init.experts[k]
        const predict = guidedPredictor(expert.network, pick(init.tokens), pick(init.nullTokens), init.guidance)
        const vk = expert.objective.velocity(predict, pick(x), t) // [R, H, W, C]
        const w = tf.tensor4d(rows.map(b => weights[b * K + k]), [rows.length, 1, 1, 1])
        for (const b of rows) usage.weightSums[k] += weights[b * K + k]
        const contribution = tf.mul(vk, w) as tf.Tensor4D
        v = tf.add(v, all ? contribution : tf.scatterND(tf.reshape(idx, [-1, 1]), contribution, x.shape)) as tf.Tensor4D
      }
      return v
    })
  }
  return { field, usage }
}
