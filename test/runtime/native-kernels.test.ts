/**
 * Every overridden kernel against tfjs's own cpu kernel, on shapes with broadcasts, transposes
 * and batch layouts. Each case also checks that the native kernel produced the output (a silent
 * fallback to tfjs would make the comparison meaningless).
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { disposeBackend } from '../../src/runtime/backend.js'
import { nativeOutputs, on, relErr, tensor } from './helpers.js'

type Case = [string, () => tf.Tensor | tf.Tensor[]]

/** tfjs cpu results of every case, computed once before the native runs. */
const reference = new Map<() => tf.Tensor | tf.Tensor[], Float32Array[]>()

async function expectSameAsCpu (fn: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const ref = reference.get(fn) as Float32Array[]
  const before = nativeOutputs()
  const got = await on('native', fn)
  expect(nativeOutputs() - before).toBeGreaterThan(0)
  got.forEach((g, i) => { expect(relErr(g, ref[i])).toBeLessThanOrEqual(1e-5) })
}

const matmuls: Case[] = [
  ['2-D', () => tf.matMul(tensor([33, 17], 1), tensor([17, 29], 2))],
  ['transposeA', () => tf.matMul(tensor([17, 33], 1), tensor([17, 29], 2), true, false)],
  ['transposeB', () => tf.matMul(tensor([33, 17], 1), tensor([29, 17], 2), false, true)],
  ['both transposed', () => tf.matMul(tensor([17, 33], 1), tensor([29, 17], 2), true, true)],
  ['batched', () => tf.matMul(tensor([4, 9, 16], 1), tensor([4, 16, 7], 2))],
  ['batched, transposeB (attention logits)',
    () => tf.matMul(tensor([8, 49, 32], 1), tensor([8, 49, 32], 2), false, true)],
  ['batched, transposeA', () => tf.matMul(tensor([3, 16, 9], 1), tensor([3, 16, 7], 2), true, false)],
  ['B broadcast over the batch', () => tf.matMul(tensor([2, 3, 9, 16], 1), tensor([1, 1, 16, 7], 2))],
  ['A broadcast over the batch', () => tf.matMul(tensor([1, 9, 16], 1), tensor([5, 7, 16], 2), false, true)],
  ['fused, bias', () => tf.fused.matMul({ a: tensor([33, 17], 1), b: tensor([17, 29], 2), bias: tensor([29], 3) })],
  ['fused, bias [1, N] and relu', () => tf.fused.matMul({
    a: tensor([33, 17], 1), b: tensor([17, 29], 2), bias: tensor([1, 29], 3), activation: 'relu'
  })],
  ['fused, transposed, no bias', () => tf.fused.matMul({
    a: tensor([17, 33], 1), b: tensor([29, 17], 2), transposeA: true, transposeB: true
  })]
]

const broadcasts: Array<[number[], number[]]> = [
  [[2, 3, 4], [2, 3, 4]], [[2, 3, 4], [4]], [[2, 1, 4], [1, 3, 1]], [[5, 7], []], [[], [5, 7]],
  [[3, 1], [1, 5]], [[2, 3, 4, 5], [3, 1, 5]], [[64, 49, 128], [64, 1, 128]], [[6, 1, 1, 5], [6, 4, 3, 1]]
]
const binaries: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
  ['add', tf.add], ['sub', tf.sub], ['mul', tf.mul], ['div', tf.div], ['maximum', tf.maximum],
  ['minimum', tf.minimum], ['squaredDifference', tf.squaredDifference]
]
const binaryCases: Case[] = binaries.flatMap(([name, op]) => broadcasts.map(([sa, sb]): Case =>
  [`${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, () => op(tensor(sa, 1), tensor(sb, 2, 0.5, 2))]))

const unaries: Array<[string, (x: tf.Tensor) => tf.Tensor, number, number]> = [
  ['neg', tf.neg, -3, 3], ['exp', tf.exp, -30, 30], ['tanh', tf.tanh, -9, 9], ['sigmoid', tf.sigmoid, -20, 20],
  ['sqrt', tf.sqrt, 0, 10], ['rsqrt', tf.rsqrt, 0.01, 10], ['square', tf.square, -3, 3], ['log', tf.log, 0.001, 100],
  ['abs', tf.abs, -3, 3], ['relu', tf.relu, -3, 3], ['reciprocal', tf.reciprocal, 0.1, 5]
]
const unaryCases: Case[] = unaries.map(([name, op, lo, hi]): Case => [name, () => op(tensor([7, 300], 4, lo, hi))])

const reductions: Array<[string, (x: tf.Tensor, axis?: number | number[], keep?: boolean) => tf.Tensor]> = [
  ['sum', tf.sum], ['mean', tf.mean], ['max', tf.max], ['min', tf.min]
]
const axesList: Array<number[] | undefined> = [[-1], [0], [1], [1, 2], undefined]
const reduceCases: Case[] = reductions.flatMap(([name, op]) => axesList.flatMap(axes =>
  [false, true].map((keep): Case =>
    [`${name} axes ${JSON.stringify(axes)} keepDims ${keep}`, () => op(tensor([6, 49, 40], 5, 0.5, 1.5), axes, keep)])))

const layoutCases: Case[] = [
  ['transpose 2-D', () => tf.transpose(tensor([37, 71], 6))],
  ['transpose [0,2,1]', () => tf.transpose(tensor([5, 37, 41], 6), [0, 2, 1])],
  ['transpose 4-D [0,2,1,3]', () => tf.transpose(tensor([4, 7, 6, 8], 6), [0, 2, 1, 3])],
  ['transpose 5-D [2,0,3,1,4]', () => tf.transpose(tensor([4, 7, 3, 4, 8], 6), [2, 0, 3, 1, 4])],
  ['transpose 6-D patchify', () => tf.transpose(tensor([3, 7, 4, 7, 4, 1], 6), [0, 1, 3, 2, 4, 5])],
  ['transpose with size-1 axes', () => tf.transpose(tensor([1, 9, 1, 5], 6), [3, 2, 0, 1])],
  ['softmax rows', () => tf.softmax(tensor([64, 49], 7, -8, 8))],
  ['softmax 3-D', () => tf.softmax(tensor([4, 49, 49], 7, -8, 8))],
  ['split into 3 on the last axis', () => tf.split(tensor([4, 9, 24], 8), 3, 2)],
  ['split by sizes with -1 on axis 1', () => tf.split(tensor([4, 9, 24], 8), [2, -1, 3], 1)],
  ['split on axis 0', () => tf.split(tensor([6, 5], 8), 2, 0)],
  ['concat on the last axis', () => tf.concat([tensor([4, 9, 8], 8), tensor([4, 9, 3], 9)], 2)],
  ['concat on axis 1', () => tf.concat([tensor([4, 2, 8], 8), tensor([4, 5, 8], 9), tensor([4, 1, 8], 10)], 1)],
  ['concat on axis 0', () => tf.concat([tensor([2, 5], 8), tensor([3, 5], 9)], 0)]
]

const gradientCases: Case[] = [
  ['gradient through matmul, broadcast add, softmax, split, concat and reductions', () => {
    const a = tensor([24, 8], 11)
    const w = tensor([8, 12], 12)
    const f = (x: tf.Tensor, k: tf.Tensor): tf.Scalar => {
      const h = tf.add(tf.matMul(x, k), tensor([12], 13))
      const [p, q] = tf.split(h, 2, 1)
      const s = tf.softmax(tf.concat([tf.tanh(p), tf.sigmoid(q)], 1))
      return tf.mean(tf.mul(s, tf.sum(tf.square(h), -1, true)))
    }
    return tf.grads(f)([a, w])
  }]
]

describe('native kernels match tfjs cpu kernels', () => {
  const groups = [
    ['matMul', matmuls], ['binary', binaryCases], ['unary', unaryCases],
    ['reductions', reduceCases], ['layout', layoutCases], ['gradients', gradientCases]
  ] as const
  beforeAll(async () => {
    for (const [, cases] of groups) for (const [, fn] of cases) reference.set(fn, await on('cpu', fn))
  })
  afterAll(async () => { await disposeBackend() })
  for (const [group, cases] of groups) {
    describe(group, () => {
      it.each(cases)('%s', async (_, fn) => { await expectSameAsCpu(fn) })
    })
  }

  it('falls back to tfjs for what it does not handle (int32 add) and still computes it', async () => {
    const fn = (): tf.Tensor => tf.add(tf.tensor1d([1, 2, 3], 'int32'), tf.tensor1d([4, 5, 6], 'int32'))
    const got = await on('native', fn)
    expect(Array.from(got[0])).toEqual([5, 7, 9])
  })

  it('rejects a call with arrays too short for the shape with a RangeError, not a crash', async () => {
    const { loadNative } = await import('../../src/runtime/native/addon.js')
    const loaded = loadNative()
    if (!loaded.ok) throw new Error(loaded.reason)
    const a = new Float32Array(4)
    const b = new Float32Array(4)
    const out = new Float32Array(2)
    expect(() => { loaded.addon.batchMatMul(a, b, out, 1, 1, 2, 2, 2, false, false) }).toThrow(RangeError)
  })
})
