/**
 * Evaluation (DESIGN section 7): a committed classifier per dataset whose penultimate
 * features define FID and intra-prompt diversity and whose argmax scores prompt accuracy; the
 * expert x cluster held-out loss matrix; and {@link evaluateEnsemble}, which samples an
 * ensemble under one routing rule and scores it. How the numbers are made and what they
 * mean at small N: docs/RESULTS.md ("Evaluation").
 *
 * @example
 * ```ts
 * const classifier = await loadClassifier('mnist')
 * const reference = referenceStatistics(classifier, await loadDataset('mnist:test'))
 * const { evaluation } = await evaluateEnsemble({ members, router, tokenizer, routing: { kind: 'top', k: 1 },
 *   classifier, reference, samples: 300, steps: 20, guidance: 2, seed: 1 })
 * console.log(evaluation.fid, evaluation.diversity.mean, evaluation.promptAccuracy.accuracy)
 * ```
 */
export * from './errors.js'
export {
  FeatureClassifier, classifyImages, encodeClassifier, decodeClassifier, loadClassifier, classifierPath, datasetFamily,
  toUnitRange, CLASSIFIER_FORMAT, CLASSIFIER_FILES, DEFAULT_CLASSIFIER_CONFIG, type ClassifierConfig,
  type ClassifierInfo, type ClassifiedImages
} from './classifier.js'
export {
  trainClassifier, classifierAccuracy, CLASSIFIER_TRAINING_DEFAULTS, type ClassifierTrainingConfig,
  type ClassifierProgressEvents, type TrainClassifierOptions, type TrainClassifierResult
} from './train-classifier.js'
export {
  featureStatistics, frechetDistance, frechetDistanceTo, symmetricSqrt, traceSqrtProduct, type FeatureStatistics
} from './fid.js'
export { intraPromptDiversity, promptAccuracy, type DiversityResult, type PromptAccuracy } from './diversity.js'
export {
  referenceStatistics, evaluateSamples, balancedPrompts, type ReferenceStatistics, type SampleMetrics,
  type EvaluateSamplesInput
} from './metrics.js'
export { expertClusterLossMatrix, formatLossMatrix, LOSS_MATRIX_EVAL, type LossMatrix } from './loss-matrix.js'
export {
  evaluateEnsemble, type EvaluateEnsembleInput, type EnsembleEvaluation, type EvaluateEnsembleResult,
  type EvaluateProgressEvents
} from './evaluate.js'
export { precisionRecall, type PrecisionRecall } from './precision-recall.js'
export { promptGrid } from './sample-grid.js'
export { strokePieces, strokeStatistics, type StrokeStatistics } from './strokes.js'
export {
  cssColor, lineChartSpec, linePlot, renderSvg, type LinePlotOptions, type PlotColor, type PlotSeries
} from './plot.js'
