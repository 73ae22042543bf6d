/**
 * A 2-D Gaussian mixture where everything has a closed form: the per-cluster eps-expert,
 * the per-cluster and global velocity fields, and the cluster posterior. Points are
 * [B, 1, 1, 2] tensors so that the library's image-shaped code runs on them unchanged.
 *   p(x0) = sum_k pi_k N(mu_k, sigma_k^2 I)
 *   FM:   x_t | k ~ N((1-t) mu_k, s_k^2 I),  s_k^2 = (1-t)^2 sigma_k^2 + t^2
 *   DDPM: x_s | k ~ N(a mu_k, (a^2 sigma_k^2 + b^2) I),  a^2 = abar_s, b^2 = 1 - abar_s
 */
import * as tf from '@tensorflow/tfjs'
import type { Schedule } from '../../src/diffusion/schedule.js'

export const MIXTURE = {
  pi: [0.5, 0.3, 0.2],
  mu: [[-2, 0], [2, 1], [0, -2]],
  sigma: [0.3, 0.5, 0.4]
}
const K = MIXTURE.pi.length

const meanTensor = (k: number, scale: number): tf.Tensor4D =>
  tf.tensor4d(MIXTURE.mu[k].map(m => m * scale), [1, 1, 1, 2])

/** E[v | x_t, k] = E[eps | x_t, k] - E[x0 | x_t, k]. */
export function clusterVelocity (k: number, x: tf.Tensor4D, t: number): tf.Tensor4D {
  return tf.tidy(() => {
    const s2 = (1 - t) ** 2 * MIXTURE.sigma[k] ** 2 + t * t
    const centred = tf.sub(x, meanTensor(k, 1 - t))
    const epsMean = tf.mul(centred, t / s2)
    const x0Mean = tf.add(meanTensor(k, 1), tf.mul(centred, (1 - t) * MIXTURE.sigma[k] ** 2 / s2))
    return tf.sub(epsMean, x0Mean) as tf.Tensor4D
  })
}

/** E[eps | x_s, k] for the DDPM state at (fractional) step s. */
export function clusterEps (k: number, x: tf.Tensor4D, step: number, schedule: Schedule): tf.Tensor4D {
  return tf.tidy(() => {
    const abar = schedule.abarAt(step)
    const a = Math.sqrt(abar)
    const b = Math.sqrt(1 - abar)
    return tf.mul(tf.sub(x, meanTensor(k, a)), b / (a * a * MIXTURE.sigma[k] ** 2 + b * b)) as tf.Tensor4D
  })
}

/** p(k | x) for x ~ sum_k w_k N(scale mu_k, var_k I): [B, K] (w = pi by default). */
function posteriorOf (x: tf.Tensor4D, scale: number, variances: number[], weights: number[] = MIXTURE.pi): tf.Tensor2D {
  return tf.tidy(() => {
    const flat = tf.reshape(x, [-1, 2])
    const logits = tf.stack(weights.map((p, k) => {
      const d2 = tf.sum(tf.square(tf.sub(flat, tf.tensor1d(MIXTURE.mu[k].map(m => m * scale)))), 1)
      return tf.sub(Math.log(p) - Math.log(variances[k]), tf.div(d2, 2 * variances[k]))
    }), 1)
    return tf.softmax(logits) as tf.Tensor2D
  })
}

export function flowPosterior (x: tf.Tensor4D, t: number): tf.Tensor2D {
  return posteriorOf(x, 1 - t, MIXTURE.sigma.map(s => (1 - t) ** 2 * s * s + t * t))
}

export function ddpmPosterior (x: tf.Tensor4D, step: number, schedule: Schedule): tf.Tensor2D {
  const abar = schedule.abarAt(step)
  return posteriorOf(x, Math.sqrt(abar), MIXTURE.sigma.map(s => abar * s * s + 1 - abar))
}

/** The global field: sum_k p(k | x_t, t) v_k. */
export function globalVelocity (x: tf.Tensor4D, t: number): tf.Tensor4D {
  return tf.tidy(() => {
    const p = flowPosterior(x, t)
    let v = tf.zerosLike(x)
    for (let k = 0; k < K; k++) {
      const weight = tf.reshape(tf.slice(p, [0, k], [-1, 1]), [-1, 1, 1, 1])
      v = tf.add(v, tf.mul(clusterVelocity(k, x, t), weight))
    }
    return v as tf.Tensor4D
  })
}

/** Points spread over every cluster's FM marginal at time t (seeded). */
export function marginalSamples (t: number, perCluster: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => tf.concat(MIXTURE.mu.map((_, k) => {
    const noise = tf.randomNormal([perCluster, 1, 1, 2], 0, 1, 'float32', seed + k)
    const x0 = tf.add(meanTensor(k, 1), tf.mul(noise, MIXTURE.sigma[k]))
    const eps = tf.randomNormal([perCluster, 1, 1, 2], 0, 1, 'float32', seed + 100 + k)
    return tf.add(tf.mul(x0, 1 - t), tf.mul(eps, t))
  })) as tf.Tensor4D)
}

export function relativeError (a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.div(tf.norm(tf.sub(a, b)), tf.norm(b)).dataSync()[0])
}

/**
 * Two classes (prompts) c in {0, 1}, p(c) = 1/2 each, with class-dependent cluster weights
 * p(k | c) whose average is MIXTURE.pi: within a cluster the data does not depend on c, so
 * p(x0 | c) = sum_k p(k | c) N(mu_k, sigma_k^2 I).
 */
export const CLASS_WEIGHTS = [[0.8, 0.15, 0.05], [0.2, 0.45, 0.35]]

/** p(k | x_t, t, c): [B, K], c per row. */
export function conditionalPosterior (x: tf.Tensor4D, t: number, classes: number[]): tf.Tensor2D {
  return tf.tidy(() => {
    const variances = MIXTURE.sigma.map(s => (1 - t) ** 2 * s * s + t * t)
    const rows = classes.map((c, b) => {
      const row = tf.slice(x, [b, 0, 0, 0], [1, 1, 1, 2])
      return posteriorOf(row, 1 - t, variances, CLASS_WEIGHTS[c])
    })
    return tf.concat(rows) as tf.Tensor2D
  })
}

/**
 * The conditional field from the score alone, independently of the per-cluster formulas:
 * E[eps | x_t, c] = -t grad log p_t(x | c) (Tweedie), and x_t = (1-t) E[x0] + t E[eps], so
 * v = E[eps] - E[x0] = (E[eps | x_t, c] - x) / (1 - t). Valid for t < 1.
 */
export function conditionalVelocityFromScore (x: tf.Tensor4D, t: number, classes: number[]): tf.Tensor4D {
  return tf.tidy(() => {
    const weights = tf.tensor2d(classes.map(c => CLASS_WEIGHTS[c]))                        // [B, K]
    const logDensity = (xs: tf.Tensor): tf.Scalar => {
      const flat = tf.reshape(xs, [-1, 2])
      const perCluster = tf.stack(MIXTURE.mu.map((mu, k) => {
        const v = (1 - t) ** 2 * MIXTURE.sigma[k] ** 2 + t * t
        const d2 = tf.sum(tf.square(tf.sub(flat, tf.tensor1d(mu.map(m => m * (1 - t))))), 1)
        // log N(x; (1-t) mu_k, v I), 2-D
        return tf.sub(tf.mul(-1, tf.div(d2, 2 * v)), Math.log(2 * Math.PI * v))
      }), 1)                                                                                   // [B, K]
      return tf.sum(tf.logSumExp(tf.add(perCluster, tf.log(weights)), 1)) as tf.Scalar      // rows are independent
    }
    const score = tf.grad(logDensity)(x) as tf.Tensor4D
    const epsMean = tf.mul(score, -t)
    return tf.div(tf.sub(epsMean, x), 1 - t) as tf.Tensor4D
  })
}
