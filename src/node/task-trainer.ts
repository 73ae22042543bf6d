/**
 * What the node needs from a trainer, and nothing more: train one task of a run from its shard
 * bytes (optionally continuing a checkpoint), report steps and checkpoint files, and say where
 * its newest local checkpoint is. The worker-thread trainer of src/training implements it
 * (worker-trainer.ts); the node never touches tensors.
 */
import type { ResolvedRunManifest, RunTask } from '../protocol/run-manifest.js'
import type { AbortOptions, ProgressEvent, ProgressOptions } from '../progress.js'

export interface TaskShard {
  cluster: number
  train: Uint8Array
  heldOut: Uint8Array
}

export interface TaskTrainRequest {
  runId: string
  manifest: ResolvedRunManifest
  task: RunTask
  /** Expert: its own cluster's shards. Router: every cluster's, in cluster order. */
  shards: TaskShard[]
  /** A resumable checkpoint file to continue from (local, or fetched by CID into `dir`). */
  resumeFrom?: string
  /** FM experts with `init`: the DDPM checkpoint file to start from. */
  initFrom?: string
  /** The task's own directory: checkpoints are written here, atomically. */
  dir: string
}

export interface TaskStepDetail {
  step: number
  totalSteps: number
  loss: number
  imagesPerSecond: number
  etaSeconds: number
}

export interface TaskCheckpointDetail {
  step: number
  /** A resumable checkpoint file (EMA + raw weights + optimizer + trainer state). */
  path: string
  /** True for the checkpoint written when the budget is spent. */
  final: boolean
}

export type TaskTrainProgressEvents =
  | ProgressEvent<'hddm:train:step', TaskStepDetail>
  | ProgressEvent<'hddm:train:checkpoint', TaskCheckpointDetail>

export interface TaskTrainOptions extends AbortOptions, ProgressOptions<TaskTrainProgressEvents> {}

export interface TaskTrainResult {
  step: number
  /** The last checkpoint written (experts write one on abort too; an aborted router has none). */
  path?: string
  /** False when the run was aborted before its budget was spent. */
  completed: boolean
}

export interface LocalCheckpoint {
  path: string
  step: number
}

/** The bytes announced for a checkpoint and the numbers that go with them. */
export interface CheckpointExport {
  bytes: Uint8Array
  step: number
  /** Loss on the task's held-out shard (what peers gate ensembles on). */
  heldOutLoss: number
}

export interface TaskTrainer {
  /** Whether this trainer can train the task at all; the node never claims tasks it cannot train. */
  supports: (task: RunTask) => boolean
  /** Trains until the task's budget is spent or the signal aborts. */
  train: (request: TaskTrainRequest, options?: TaskTrainOptions) => Promise<TaskTrainResult>
  /** The newest resumable checkpoint in a task directory, if any. */
  latest: (dir: string) => Promise<LocalCheckpoint | undefined>
  /**
   * What to put into IPFS for a checkpoint file: intermediate checkpoints stay resumable (so a
   * peer that takes the task over continues it exactly), final ones are the publishable export.
   */
  export: (request: TaskTrainRequest, path: string, final: boolean, options?: AbortOptions) => Promise<CheckpointExport>
  /** Frees the trainer's resources (its worker thread); the node calls it after the task loop stopped. */
  stop?: () => Promise<void>
}
