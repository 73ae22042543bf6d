import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadMnist, subsetDataset, takeDataset, type Dataset } from '../../src/data/index.js'
import {
  classifierAccuracy, classifyImages, decodeClassifier, encodeClassifier, evaluateSamples, featureStatistics,
  frechetDistance, loadClassifier, referenceStatistics, ClassifierNotFoundError, type FeatureClassifier
} from '../../src/eval/index.js'
import { Random } from '../../src/data/random.js'
import { disposeBackend } from '../../src/runtime/index.js'
import { useTrainingBackend } from '../utils/backend.js'

let classifier: FeatureClassifier
let test: Dataset

beforeAll(async () => {
  await useTrainingBackend()
  classifier = await loadClassifier('mnist')
  test = takeDataset(await loadMnist({ split: 'test' }), 4000)
})

afterAll(async () => {
  classifier?.dispose()
  await disposeBackend()
})

describe('the committed MNIST classifier', () => {
  it('records how it was made and classifies the test split at >= 98%', () => {
    expect(classifier.info.dataset).toBe('mnist')
    expect(classifier.info.command).toMatch(/train-classifier\.ts/)
    expect(classifier.info.testAccuracy).toBeGreaterThanOrEqual(0.98)
    // the first 4000 test digits, recomputed from the committed weights
    expect(classifierAccuracy(classifier, test)).toBeGreaterThanOrEqual(0.975)
  })

  it('round-trips through safetensors bit for bit', () => {
    const copy = decodeClassifier(encodeClassifier(classifier))
    try {
      const a = classifyImages(classifier, test.pixels.subarray(0, 50 * 784))
      const b = classifyImages(copy, test.pixels.subarray(0, 50 * 784))
      expect(b.features).toEqual(a.features)
    } finally {
      copy.dispose()
    }
  })

  it('gives a small FID between two halves of the test split and a large one against noise', () => {
    const random = new Random(5)
    const order = random.permutation(test.count)
    const half = test.count / 2
    const a = subsetDataset(test, order.subarray(0, half))
    const b = subsetDataset(test, order.subarray(half))
    const fa = classifyImages(classifier, a.pixels)
    const fb = classifyImages(classifier, b.pixels)
    const statsA = featureStatistics(fa.features, fa.featureSize)
    const same = frechetDistance(statsA, featureStatistics(fb.features, fb.featureSize))
    const noise = Float32Array.from({ length: half * 784 }, () => Math.max(-1, Math.min(1, random.normal())))
    const fn = classifyImages(classifier, noise)
    const far = frechetDistance(statsA, featureStatistics(fn.features, fn.featureSize))
    expect(same).toBeGreaterThan(0)
    expect(far).toBeGreaterThan(50 * same)
  })

  it('scores real images as a near-perfect sample set, without leaking tensors', () => {
    const reference = referenceStatistics(classifier, test)
    const before = tf.memory().numTensors
    const slice = takeDataset(test, 500)
    const prompts = Array.from(slice.labels!, l => slice.classNames![l])
    const metrics = evaluateSamples({ classifier, reference, images: slice.pixels, prompts })
    expect(tf.memory().numTensors).toBe(before)
    expect(metrics.count).toBe(500)
    expect(metrics.promptAccuracy.accuracy).toBeGreaterThan(0.97)
    expect(metrics.diversity.prompts).toBe(10)
    expect(metrics.diversity.mean).toBeGreaterThan(0)
    expect(reference.diversity).toBeGreaterThan(0)
  })

  it('names the missing weights of an unknown dataset', async () => {
    await expect(loadClassifier('cifar-10')).rejects.toBeInstanceOf(ClassifierNotFoundError)
  })
})
