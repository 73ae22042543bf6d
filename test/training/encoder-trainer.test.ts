import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { loadMnist, subsetDataset, takeDataset } from '../../src/data/index.js'
import { trainEncoder } from '../../src/training/encoder-trainer.js'
import { useTrainingBackend } from '../utils/backend.js'

beforeAll(async () => { await useTrainingBackend() })

describe('clustering encoder training', async () => {
  const mnist = await loadMnist({ split: 'train' })
  const train = takeDataset(mnist, 2000)
  const probe = {
    reference: subsetDataset(mnist, Array.from({ length: 500 }, (_, i) => 2000 + i)),
    queries: subsetDataset(mnist, Array.from({ length: 200 }, (_, i) => 2500 + i)),
    every: 60
  }
  const small = {
    steps: 60, batchSize: 32, warmupSteps: 5, learningRate: 2e-3,
    encoder: { inputSize: 784, hidden: [128], featureDim: 16, projectionDim: 16 }
  }

  for (const objective of ['simclr', 'supcon'] as const) {
    it(`${objective}: the loss falls, the probe beats chance, and no tensor leaks`, { timeout: 120_000 }, async () => {
      const before = tf.memory().numTensors
      const probes: number[] = []
      const { encoder, losses } = await trainEncoder(train, {
        training: { ...small, objective },
        probe,
        onProgress: (e) => { if (e.type === 'hddm:train:encoder:probe') probes.push(e.detail.knnAccuracy) }
      })
      const mean = (a: number[]): number => a.reduce((x, y) => x + y) / a.length
      expect(losses).toHaveLength(60)
      expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 10)))
      expect(probes).toHaveLength(1)
      expect(probes[0]).toBeGreaterThan(0.5)
      encoder.dispose()
      expect(tf.memory().numTensors).toBe(before)
    })
  }

  it('stops on abort and needs labels for supcon', async () => {
    const controller = new AbortController()
    controller.abort()
    const aborted = trainEncoder(train, { training: small, signal: controller.signal })
    await expect(aborted).rejects.toHaveProperty('name', 'AbortError')
    const unlabelled = { ...train, labels: undefined }
    const supcon = trainEncoder(unlabelled, { training: { ...small, objective: 'supcon' } })
    await expect(supcon).rejects.toHaveProperty('name', 'InvalidArgumentError')
  })
})
