/**
 * Exponential moving average of a network's weights, the weights an expert samples with and
 * publishes. The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates (TensorFlow's
 * ExponentialMovingAverage with num_updates): early on the average follows the fast-moving
 * weights instead of staying anchored to the random init.
 */
import * as tf from '@tensorflow/tfjs'
import { ShapeMismatchError } from '../checkpoint/errors.js'
import type { Params } from '../model/params.js'
import type { NamedTensor } from '../checkpoint/safetensors.js'

export class Ema {
  /** Updates applied so far (part of the trainer state). */
  updates = 0
  private readonly shadow = new Map<string, tf.Variable>()

  constructor (private readonly params: Params, readonly decay: number) {
    for (const [name, v] of params.variables) this.shadow.set(name, tf.variable(v, false))
  }

  decayAt (updates: number): number {
    return Math.min(this.decay, (1 + updates) / (10 + updates))
  }

  update (): void {
    const d = this.decayAt(this.updates)
    tf.tidy(() => {
      for (const [name, s] of this.shadow) s.assign(tf.add(tf.mul(s, d), tf.mul(this.params.get(name), 1 - d)))
    })
    this.updates += 1
  }

  /** The averaged weights as named tensors (under a prefix), e.g. for a checkpoint. */
  toTensors (prefix = '', into = new Map<string, NamedTensor>()): Map<string, NamedTensor> {
    for (const [name, s] of this.shadow) into.set(prefix + name, { shape: s.shape, data: s.dataSync() as Float32Array })
    return into
  }

  /** Restores the averaged weights from named tensors; every name and shape must match. */
  load (tensors: Map<string, NamedTensor>, prefix = ''): void {
    for (const [name, s] of this.shadow) {
      const t = tensors.get(prefix + name)
      if (t === undefined || t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
        throw new ShapeMismatchError(`EMA tensor ${prefix + name} is missing or has another shape`)
      }
    }
    for (const [name, s] of this.shadow) {
      const t = tensors.get(prefix + name) as NamedTensor
      tf.tidy(() => { s.assign(tf.tensor(t.data, t.shape)) })
    }
  }

  dispose (): void {
    for (const s of this.shadow.values()) s.dispose()
    this.shadow.clear()
  }
}
