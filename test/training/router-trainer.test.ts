import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { trainRouter, routerCheckpoint } from '../../src/training/router-trainer.js'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/checkpoint/format.js'
import { useTrainingBackend } from '../utils/backend.js'
import { mnistShards, type TestShards } from './fixtures.js'

let data: TestShards
beforeAll(async () => {
  await useTrainingBackend()
  data = await mnistShards(4, 3000)
})

describe('router training on real MNIST clusters (K=4)', () => {
  it('beats the majority baseline at low noise after a short run, less so as noise grows',
    { timeout: 120_000 }, async () => {
    const before = tf.memory().numTensors
    const result = await trainRouter({
      shards: data.train, heldOut: data.heldOut, preset: 'router-tiny',
      training: { steps: 150, batchSize: 32, learningRate: 2e-3, seed: 3 }
    })
    const { buckets, majority } = result.evaluation!
    expect(buckets).toHaveLength(5)
    expect(result.pi.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10)
    const mean = (a: number[]): number => a.reduce((x, y) => x + y) / a.length
    expect(mean(result.losses.slice(-20))).toBeLessThan(mean(result.losses.slice(0, 20)))
    // Low noise: the clusters are visible, far above always answering the largest one.
    expect(buckets[0].accuracy).toBeGreaterThan(majority + 0.2)
    // Accuracy falls as noise hides the image.
    expect(buckets[0].accuracy).toBeGreaterThan(buckets[4].accuracy)

    const checkpoint = decodeCheckpoint(encodeCheckpoint(routerCheckpoint(result, 'router-tiny')))
    expect(checkpoint.metadata).toMatchObject({ network: 'router', preset: 'router-tiny', step: 150 })
    expect(checkpoint.metadata.config.numExperts).toBe(4)
    result.router.dispose()
    expect(tf.memory().numTensors).toBe(before)
  })

  it('a prompt router keeps p(k | c)\'s accuracy at t near 1, where a prompt-blind one falls to the prior\'s',
    { timeout: 180_000 }, async () => {
    const before = tf.memory().numTensors
    const training = { steps: 200, batchSize: 32, learningRate: 2e-3, seed: 3, promptDropout: 0.2 }
    const prompt = await trainRouter({
      shards: data.train, heldOut: data.heldOut, preset: 'router-tiny', conditioning: 'prompt', training
    })
    const blind = await trainRouter({
      shards: data.train, heldOut: data.heldOut, preset: 'router-tiny', conditioning: 'none', training
    })
    const p = prompt.evaluation!
    const b = blind.evaluation!
    expect(p.conditioning).toBe('prompt')
    expect(b.conditioning).toBe('none')
    expect(b.unconditional).toBeUndefined()
    // The clusters follow the digits enough that the prompt alone names the cluster far more
    // often than the largest cluster's share (what the prior alone scores).
    expect(p.promptBaseline).toBeGreaterThan(p.majority + 0.2)
    const high = (e: typeof p): number => e.buckets[e.buckets.length - 1].accuracy   // t in [0.8, 1)
    expect(high(p)).toBeGreaterThan(p.promptBaseline - 0.1)
    expect(high(b)).toBeLessThan(p.promptBaseline - 0.15)
    // The same network with the null prompt is a prompt-blind router: near the prior at high noise.
    expect(p.unconditional![p.unconditional!.length - 1].accuracy).toBeLessThan(p.promptBaseline - 0.15)
    // It stores the run's tokenizer, so a verifier can check its prompt vocabulary.
    const checkpoint = decodeCheckpoint(encodeCheckpoint(routerCheckpoint(prompt, 'router-tiny')))
    expect(checkpoint.metadata.config).toMatchObject({
      conditioning: 'prompt', vocabSize: prompt.tokenizer!.vocabSize, promptTokens: prompt.tokenizer!.maxLength
    })
    expect(checkpoint.metadata.extra?.tokenizer).toEqual(prompt.tokenizer!.toJSON())
    prompt.router.dispose()
    blind.router.dispose()
    expect(tf.memory().numTensors).toBe(before)
  })

  it('rejects fewer than two clusters and unknown presets', async () => {
    const oneCluster = trainRouter({ shards: data.train.slice(0, 1), preset: 'router-tiny' })
    await expect(oneCluster).rejects.toHaveProperty('name', 'InvalidArgumentError')
    const unknownPreset = trainRouter({ shards: data.train, preset: 'router-huge' })
    await expect(unknownPreset).rejects.toHaveProperty('name', 'InvalidArgumentError')
  })
})
