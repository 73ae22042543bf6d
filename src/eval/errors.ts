import { HddmError } from '../hddm-error.js'

/** No classifier weights for a dataset, or a classifier file that cannot be read. */
export class ClassifierNotFoundError extends HddmError {
  static override name = 'ClassifierNotFoundError'
  override name = 'ClassifierNotFoundError'
}

/** Too few samples for a statistic (a covariance needs two, a pairwise distance two per prompt). */
export class InsufficientSamplesError extends HddmError {
  static override name = 'InsufficientSamplesError'
  override name = 'InsufficientSamplesError'
}
