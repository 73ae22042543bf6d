import { HddmError } from '../hddm-error.js'

/**
 * A checkpoint that cannot continue this run: another preset, objective, shard or
 * training configuration, or no trainer state (a publishable export).
 */
export class ResumeMismatchError extends HddmError {
  static override name = 'ResumeMismatchError'
  override name = 'ResumeMismatchError'
}

/** The training worker died without reporting a typed error (crash, out of memory, killed). */
export class TrainerWorkerError extends HddmError {
  static override name = 'TrainerWorkerError'
  override name = 'TrainerWorkerError'
}

/** The loss became NaN or infinite: training stops instead of writing a poisoned checkpoint. */
export class NonFiniteLossError extends HddmError {
  static override name = 'NonFiniteLossError'
  override name = 'NonFiniteLossError'
}
