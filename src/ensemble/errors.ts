import { HddmError } from '../hddm-error.js'

/**
 * Why a candidate checkpoint may not enter an ensemble (docs/PROTOCOL.md section 7.1), a bounded
 * set so that it can label output and metrics:
 * - `fetch-timeout`: no peer supplied the bytes in time;
 * - `corrupt`: not a checkpoint (not a UnixFS file, not safetensors, no hddm header, too large);
 * - `wrong-run`: its metadata names another run;
 * - `wrong-task`: another network, objective or cluster than the task it was offered for;
 * - `wrong-shape`: another config, tokenizer or tensor shapes than the run's preset;
 * - `non-finite`: NaN or Inf values;
 * - `held-out-loss`: its recomputed held-out loss is above the run manifest's bound, or not
 *   below the trivial (per-pixel Gaussian) predictor's, with the prompt or the null prompt; for a
 *   router, its held-out accuracy does not beat the majority baseline by the run's margin;
 * - `held-out-overfit`: its held-out loss is well below its loss on the train shard, the mark of
 *   a checkpoint trained on the held-out data it is judged by.
 */
export type RefusalReason =
  | 'fetch-timeout' | 'corrupt' | 'wrong-run' | 'wrong-task' | 'wrong-shape' | 'non-finite'
  | 'held-out-loss' | 'held-out-overfit'

/** One check a candidate checkpoint failed; `reason` says which. */
export class CheckpointRefusedError extends HddmError {
  static override name = 'CheckpointRefusedError'
  override name = 'CheckpointRefusedError'
  constructor (readonly reason: RefusalReason, message: string) { super(message) }
}

/** Some task of the run has no checkpoint that passed verification, so there is no ensemble to name. */
export class NoAcceptableCheckpointError extends HddmError {
  static override name = 'NoAcceptableCheckpointError'
  override name = 'NoAcceptableCheckpointError'
  constructor (readonly tasks: string[], message = `no acceptable final checkpoint for ${tasks.join(', ')}`) {
    super(message)
  }
}
