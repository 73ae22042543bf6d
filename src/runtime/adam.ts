/**
 * Adam with decoupled weight decay (AdamW), a drop-in tf.Optimizer for the trainer.
 *
 * On the native backend each step is one fused in-place pass over parameter, gradient and both
 * moments (tf.train.adam issues about ten small ops per variable). Elsewhere it runs the same
 * formula as tfjs ops, so the two paths agree to float rounding:
 *
 *   p *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),   bc_i = 1 - b_i^step      (torch.optim.AdamW)
 *
 * Buffers are updated in place only while nobody else can see them (adam-step.ts), so a
 * tensor or array someone else holds never changes under them. Other optimizers (the trainer's
 * own) can use the same fused step through `adamStepNative`.
 *
 * Checkpoints: getWeights() returns copies named 'iter', '<variable>/m', '<variable>/v';
 * setWeights() takes them back by name, before or after the first step.
 *
 * @example
 * ```ts
 * const opt = new AdamW({ learningRate: 1e-4 })
 * opt.minimize(() => loss(model), false, model.trainableVariables())
 * ```
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidArgumentError } from '../hddm-error.js'
import { adamStepNative } from './adam-step.js'

export interface AdamWInit {
  learningRate: number
  beta1?: number
  beta2?: number
  /** Added to sqrt(v); 1e-8 as in PyTorch (tf.train.adam uses 1e-7). */
  epsilon?: number
  /** Decoupled weight decay (AdamW); 0 gives plain Adam. */
  weightDecay?: number
}

interface Moments { m: tf.Variable, v: tf.Variable }

/** tfjs's NamedTensor (not re-exported by @tensorflow/tfjs). */
export interface NamedTensor { name: string, tensor: tf.Tensor }

export class AdamW extends tf.Optimizer {
  static get className (): string { return 'HddmAdam' }
  /** May be changed between steps (learning-rate schedules). */
  learningRate: number
  readonly beta1: number
  readonly beta2: number
  readonly epsilon: number
  readonly weightDecay: number
  private step = 0
  private readonly moments = new Map<string, Moments>()
  /** Moments restored by setWeights for variables this optimizer has not seen yet. */
  private readonly pending = new Map<string, { m?: tf.Tensor, v?: tf.Tensor }>()

  constructor (init: AdamWInit) {
    super()
    this.learningRate = init.learningRate
    this.beta1 = init.beta1 ?? 0.9
    this.beta2 = init.beta2 ?? 0.999
    this.epsilon = init.epsilon ?? 1e-8
    this.weightDecay = init.weightDecay ?? 0
    const valid = this.learningRate > 0 && this.beta1 >= 0 && this.beta1 < 1 && this.beta2 >= 0 && this.beta2 < 1 && this.epsilon > 0 && this.weightDecay >= 0
    if (!valid) throw new InvalidArgumentError(`invalid Adam settings ${JSON.stringify(init)}`)
  }

  override applyGradients (variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const grads = Array.isArray(variableGradients)
      ? variableGradients
      : Object.entries(variableGradients).map(([name, tensor]) => ({ name, tensor }))
    this.step++
    this.incrementIterations()
    const bc1 = 1 - this.beta1 ** this.step
    const bc2 = 1 - this.beta2 ** this.step
    for (const { name, tensor: grad } of grads) {
      const variable = tf.engine().registeredVariables[name]
      if (variable === undefined) throw new InvalidArgumentError(`no variable named ${name}`)
      if (!variable.trainable) continue
      if (grad.dtype !== 'float32' || variable.dtype !== 'float32' || grad.size !== variable.size) {
        throw new InvalidArgumentError(`gradient for ${name} must be float32 of shape ${variable.shape}`)
      }
      const moments = this.momentsFor(name, variable)
      const hyper = { ...this.hyper(), biasCorrection1: bc1, biasCorrection2: bc2 }
      if (!adamStepNative(variable, grad, moments.m, moments.v, hyper)) this.stepTfjs(variable, grad, moments, bc1, bc2)
    }
  }

  private hyper (): { learningRate: number, beta1: number, beta2: number, epsilon: number, weightDecay: number } {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, weightDecay: this.weightDecay }
  }

  private stepTfjs (variable: tf.Variable, grad: tf.Tensor, moments: Moments, bc1: number, bc2: number): void {
    const { beta1: b1, beta2: b2 } = this
    tf.tidy(() => {
      const m = tf.add(tf.mul(moments.m, b1), tf.mul(grad, 1 - b1))
      const v = tf.add(tf.mul(moments.v, b2), tf.mul(tf.square(grad), 1 - b2))
      moments.m.assign(m)
      moments.v.assign(v)
      const denom = tf.add(tf.mul(tf.sqrt(v), 1 / Math.sqrt(bc2)), this.epsilon)
      const decayed = this.weightDecay > 0 ? tf.mul(variable, 1 - this.learningRate * this.weightDecay) : variable
      variable.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), this.learningRate / bc1)))
    })
  }

  private momentsFor (name: string, variable: tf.Variable): Moments {
    let moments = this.moments.get(name)
    if (moments === undefined) {
      const restored = this.pending.get(name)
      this.pending.delete(name)
      for (const t of [restored?.m, restored?.v]) {
        if (t !== undefined && t.size !== variable.size) throw new InvalidArgumentError(`restored Adam moments for ${name} have the wrong size`)
      }
      moments = tf.tidy(() => ({
        m: tf.variable(restored?.m ?? tf.zerosLike(variable), false),
        v: tf.variable(restored?.v ?? tf.zerosLike(variable), false)
      }))
      restored?.m?.dispose()
      restored?.v?.dispose()
      this.moments.set(name, moments)
    }
    return moments
  }

  override async getWeights (): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [{ name: 'iter', tensor: tf.scalar(this.step, 'int32') }]
    for (const [name, { m, v }] of this.moments) {
      out.push({ name: `${name}/m`, tensor: tf.add(m, 0) }, { name: `${name}/v`, tensor: tf.add(v, 0) })
    }
    return out
  }

  override async setWeights (weights: NamedTensor[]): Promise<void> {
    for (const { name, tensor } of weights) {
      if (name === 'iter') {
        this.step = (await tensor.data())[0]
        this.iterations_ = this.step
        continue
      }
      const match = /^(.*)\/(m|v)$/.exec(name)
      if (match === null) throw new InvalidArgumentError(`unexpected Adam weight ${name}`)
      const [, variable, which] = match as unknown as [string, string, 'm' | 'v']
      const existing = this.moments.get(variable)
      if (existing !== undefined) {
        if (existing[which].size !== tensor.size) throw new InvalidArgumentError(`Adam weight ${name} has the wrong size`)
        existing[which].assign(tensor)
      } else {
        const copy = tf.keep(tf.add(tensor, 0))
        const slot = this.pending.get(variable) ?? {}
        slot[which]?.dispose()
        slot[which] = copy
        this.pending.set(variable, slot)
      }
    }
  }

  override getConfig (): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, weightDecay: this.weightDecay }
  }

  override dispose (): void {
    super.dispose()
    for (const { m, v } of this.moments.values()) { m.dispose(); v.dispose() }
    for (const { m, v } of this.pending.values()) { m?.dispose(); v?.dispose() }
    this.moments.clear()
    this.pending.clear()
  }
}
