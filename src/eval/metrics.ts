/**
 * The sample metrics of DESIGN section 7 on one set of generated images: FID against a
 * reference split, intra-prompt diversity and prompt accuracy, all in the feature space of the
 * dataset's classifier. The sample count is part of every result: FID is biased upwards at
 * small N, so only numbers with the same N (and the same reference) compare.
 */
import type { Dataset } from '../data/dataset.js'
import { InvalidArgumentError } from '../hddm-error.js'
import { classifyImages, type FeatureClassifier } from './classifier.js'
import { intraPromptDiversity, promptAccuracy } from './diversity.js'
import { featureStatistics, frechetDistance, type FeatureStatistics } from './fid.js'

export interface ReferenceStatistics extends FeatureStatistics {
  /** What the reference is (e.g. "mnist-test", 10000 images). */
  name: string
  /** Mean intra-class diversity of the reference images (what a perfect model would score). */
  diversity?: number
}

/** Feature statistics of a real split (the held-out test set), and its own intra-class diversity. */
export function referenceStatistics (
  classifier: FeatureClassifier, data: Dataset, options: { diversityPerClass?: number } = {}
): ReferenceStatistics {
  const { features, featureSize } = classifyImages(classifier, data.pixels)
  const stats = featureStatistics(features, featureSize)
  let diversity: number | undefined
  if (data.labels !== undefined && data.classNames !== undefined) {
    // Diversity of real images with as many per class as a sample set would hold, so the two compare.
    const perClass = options.diversityPerClass ?? 50
    const rows: number[] = []
    const taken = new Array<number>(data.classNames.length).fill(0)
    for (let i = 0; i < data.count; i++) if (taken[data.labels[i]]++ < perClass) rows.push(i)
    const sub = new Float32Array(rows.length * featureSize)
    rows.forEach((r, j) => sub.set(features.subarray(r * featureSize, (r + 1) * featureSize), j * featureSize))
    diversity = intraPromptDiversity(sub, featureSize, rows.map(r => data.classNames![data.labels![r]])).mean
  }
  return { ...stats, name: data.name, ...(diversity !== undefined ? { diversity } : {}) }
}

export interface SampleMetrics {
  /** Samples evaluated. */
  count: number
  fid: number
  reference: { name: string, count: number }
  diversity: { mean: number, std: number, prompts: number, perPrompt: Record<string, number> }
  promptAccuracy: { accuracy: number, count: number, perPrompt: Record<string, number> }
}

export interface EvaluateSamplesInput {
  classifier: FeatureClassifier
  reference: ReferenceStatistics
  /** [N, H, W, C] in [-1, 1] (sampler output) or 0-255 bytes. */
  images: Float32Array | Uint8Array
  /** One prompt per image. */
  prompts: readonly string[]
  /** Class names in label order (default: the classifier's). */
  classNames?: readonly string[]
}

export function evaluateSamples (input: EvaluateSamplesInput): SampleMetrics {
  const { classifier, reference, images, prompts } = input
  const classified = classifyImages(classifier, images)
  if (classified.count !== prompts.length) {
    throw new InvalidArgumentError(`${classified.count} images for ${prompts.length} prompts`)
  }
  const fid = frechetDistance(featureStatistics(classified.features, classified.featureSize), reference)
  const diversity = intraPromptDiversity(classified.features, classified.featureSize, prompts)
  const accuracy = promptAccuracy(classified.predictions, prompts, input.classNames ?? classifier.info.classNames)
  return {
    count: classified.count,
    fid,
    reference: { name: reference.name, count: reference.count },
    diversity: { mean: diversity.mean, std: diversity.std, prompts: diversity.prompts, perPrompt: diversity.perPrompt },
    promptAccuracy: { accuracy: accuracy.accuracy, count: accuracy.count, perPrompt: accuracy.perPrompt }
  }
}

/** `count` prompts cycling through the class names: balanced classes, prompt-major runs of equal size. */
export function balancedPrompts (classNames: readonly string[], count: number): string[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new InvalidArgumentError(`sample count must be a positive integer, got ${count}`)
  }
  return Array.from({ length: count }, (_, i) => classNames[i % classNames.length])
}
