/**
 * Adam(W) whose whole state is named after the parameters (moments `adam.m.<name>`,
 * `adam.v.<name>`, plus the update count), so that a checkpoint restores it exactly. The bias
 * corrections are computed from the update count in float64, never accumulated in a tensor:
 * a resumed run applies bit-identical updates. On the native and webgpu backends each update is
 * the runtime's fused in-place step; elsewhere the same formula in tfjs ops (torch.optim.AdamW):
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p = p (1 - lr wd) - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),   bc_i = 1 - b_i^n
 */
import * as tf from '@tensorflow/tfjs'
import { ADAM_PREFIX } from '../checkpoint/publishable.js'
import { adamStepNative } from '../runtime/adam-step.js'
import { adamStepWebGpu } from '../runtime/webgpu/kernels-adam.js'
import { ShapeMismatchError } from '../checkpoint/errors.js'
import type { Params } from '../model/params.js'
import type { NamedTensor } from '../checkpoint/safetensors.js'
import type { StepOptimizer } from './train-step.js'

export interface AdamInit {
  learningRate: number
  beta1: number
  beta2: number
  epsilon: number
  weightDecay: number
}

export class Adam implements StepOptimizer {
  /** Set before each update by the trainer's schedule. */
  learningRate: number
  /** Updates applied so far. */
  step = 0
  private readonly byVariable = new Map<string, { param: tf.Variable, m: tf.Variable, v: tf.Variable }>()

  constructor (private readonly params: Params, private readonly init: AdamInit) {
    this.learningRate = init.learningRate
    for (const p of params.variables.values()) {
      const [m, v] = tf.tidy(() => [tf.variable(tf.zerosLike(p), false), tf.variable(tf.zerosLike(p), false)])
      this.byVariable.set(p.name, { param: p, m, v })
    }
  }

  /** Gradients keyed by tfjs variable name (what tf.variableGrads returns). */
  applyGradients (grads: tf.NamedTensorMap): void {
    const { beta1: b1, beta2: b2, epsilon, weightDecay } = this.init
    const n = this.step + 1
    const lr = this.learningRate
    const bc1 = 1 - b1 ** n
    const bc2 = 1 - b2 ** n
    const hyper = {
      learningRate: lr, beta1: b1, beta2: b2, epsilon, weightDecay, biasCorrection1: bc1, biasCorrection2: bc2
    }
    const stepSize = lr / bc1
    const invSqrtBc2 = 1 / Math.sqrt(bc2)
    tf.tidy(() => {
      for (const [name, g] of Object.entries(grads)) {
        const slot = this.byVariable.get(name)
        if (slot === undefined) throw new Error(`Adam: gradient for unknown variable ${name}`)
        const { param, m: mSlot, v: vSlot } = slot
        if (adamStepNative(param, g, mSlot, vSlot, hyper) || adamStepWebGpu(param, g, mSlot, vSlot, hyper)) continue
        const m = tf.add(tf.mul(slot.m, b1), tf.mul(g, 1 - b1))
        const v = tf.add(tf.mul(slot.v, b2), tf.mul(tf.square(g), 1 - b2))
        slot.m.assign(m)
        slot.v.assign(v)
        const decayed = weightDecay > 0 ? tf.mul(slot.param, 1 - lr * weightDecay) : slot.param
        slot.param.assign(tf.sub(decayed, tf.mul(tf.div(m, tf.add(tf.mul(tf.sqrt(v), invSqrtBc2), epsilon)), stepSize)))
      }
    })
    this.step = n
  }

  /** Moments as named tensors, by parameter name. */
  toTensors (into = new Map<string, NamedTensor>()): Map<string, NamedTensor> {
    for (const [name, p] of this.params.variables) {
      const slot = this.byVariable.get(p.name)!
      into.set(ADAM_PREFIX.m + name, { shape: p.shape, data: slot.m.dataSync() as Float32Array })
      into.set(ADAM_PREFIX.v + name, { shape: p.shape, data: slot.v.dataSync() as Float32Array })
    }
    return into
  }

  load (tensors: Map<string, NamedTensor>, step: number): void {
    for (const [name, p] of this.params.variables) {
      for (const prefix of Object.values(ADAM_PREFIX)) {
        const t = tensors.get(prefix + name)
        if (t === undefined || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
          throw new ShapeMismatchError(`optimizer tensor ${prefix + name} is missing or has another shape`)
        }
      }
    }
    for (const [name, p] of this.params.variables) {
      const slot = this.byVariable.get(p.name)!
      const m = tensors.get(ADAM_PREFIX.m + name)!
      const v = tensors.get(ADAM_PREFIX.v + name)!
      tf.tidy(() => {
        slot.m.assign(tf.tensor(m.data, m.shape))
        slot.v.assign(tf.tensor(v.data, v.shape))
      })
    }
    this.step = step
  }

  dispose (): void {
    for (const slot of this.byVariable.values()) tf.dispose([slot.m, slot.v])
    this.byVariable.clear()
  }
}
