/**
 * Named, seeded parameters. Every weight of a network lives in one `Params` map under its
 * checkpoint name (`blocks.3.attn.qkv.weight`), so saving, loading and counting are one loop.
 * Linear weights are stored [in, out] (the orientation tf.matMul consumes without a transpose);
 * this is the transpose of torch.nn.Linear's [out, in] and is documented in docs/MODEL.md.
 */
import * as tf from '@tensorflow/tfjs'

let variableSerial = 0

export class Params {
  readonly variables = new Map<string, tf.Variable>()
  private counter = 0

  constructor (private readonly seed: number) {}

  /** Next deterministic seed for an initializer: the same model seed gives the same weights. */
  private nextSeed (): number {
    this.counter += 1
    return (this.seed * 1_000_003 + this.counter * 7919) % 2_147_483_647
  }

  private add (name: string, value: tf.Tensor): tf.Variable {
    if (this.variables.has(name)) throw new Error(`duplicate parameter ${name}`)
    // tfjs variable names are global: a serial keeps two models with the same names apart.
    variableSerial += 1
    const v = tf.variable(value, true, `${name}#${variableSerial}`)
    value.dispose()
    this.variables.set(name, v)
    return v
  }

  zeros (name: string, shape: number[]): tf.Variable {
    return this.add(name, tf.zeros(shape))
  }

  normal (name: string, shape: number[], std: number): tf.Variable {
    return this.add(name, tf.randomNormal(shape, 0, std, 'float32', this.nextSeed()))
  }

  /** Xavier/Glorot uniform for a [in, out] matrix, as DiT initialises every nn.Linear. */
  xavier (name: string, shape: [number, number]): tf.Variable {
    const limit = Math.sqrt(6 / (shape[0] + shape[1]))
    return this.add(name, tf.randomUniform(shape, -limit, limit, 'float32', this.nextSeed()))
  }

  fromValues (name: string, values: tf.Tensor): tf.Variable {
    return this.add(name, values)
  }

  get (name: string): tf.Variable {
    const v = this.variables.get(name)
    if (v === undefined) throw new Error(`unknown parameter ${name}`)
    return v
  }

  count (filter: (name: string) => boolean = () => true): number {
    let n = 0
    for (const [name, v] of this.variables) if (filter(name)) n += v.size
    return n
  }

  dispose (): void {
    for (const v of this.variables.values()) v.dispose()
    this.variables.clear()
  }
}

/** A linear layer's parameters: weight [in, out] and bias [out]. */
export interface LinearParams {
  weight: tf.Variable
  bias: tf.Variable
}

export type LinearInit = 'xavier' | 'zeros' | { std: number }

export function linearParams (
  params: Params, name: string, inDim: number, outDim: number, init: LinearInit = 'xavier'
): LinearParams {
  const weight = init === 'xavier'
    ? params.xavier(`${name}.weight`, [inDim, outDim])
    : init === 'zeros'
      ? params.zeros(`${name}.weight`, [inDim, outDim])
      : params.normal(`${name}.weight`, [inDim, outDim], init.std)
  return { weight, bias: params.zeros(`${name}.bias`, [outDim]) }
}
