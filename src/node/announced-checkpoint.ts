/**
 * The content check of a checkpoint a peer announced (or reported in its coverage map) before
 * this node builds on it: adopting it as a task's progress (checkpoint-sync.ts) or resuming a
 * task from it (task-inputs.ts). The file's own metadata must say what the announcement claims:
 * this run, the task's network, objective and cluster, the announced step (the budget's last if
 * final), a config of the run's preset, and finite values.
 */
import { checkShape } from '../ensemble/checks.js'
import { CheckpointRefusedError } from '../ensemble/errors.js'
import { budgetOf, type ResolvedRunManifest, type RunTask } from '../protocol/run-manifest.js'
import { allFinite, decodeCheckpoint, type Checkpoint } from '../checkpoint/format.js'
import { CorruptCheckpointError, ShapeMismatchError } from '../checkpoint/errors.js'
import { TaskDataMismatchError } from './errors.js'
import type { CheckpointInfo } from '../network/claim-types.js'

/** @throws TaskDataMismatchError or CorruptCheckpointError, naming what the file contradicts */
export function checkAnnouncedCheckpoint (
  run: { runId: string, manifest: ResolvedRunManifest }, task: RunTask,
  info: Pick<CheckpointInfo, 'cid' | 'step' | 'final'>, bytes: Uint8Array
): Checkpoint {
  const checkpoint = decodeCheckpoint(bytes)
  const { metadata, tensors } = checkpoint
  const budget = budgetOf(run.manifest, task).steps
  const claimed = `${info.cid} (claimed: ${task.id}, step ${info.step}${info.final ? ', final' : ''})`
  if (metadata.run !== run.runId) throw new TaskDataMismatchError(`${claimed} belongs to run ${String(metadata.run)}`)
  if (metadata.network !== task.kind) throw new TaskDataMismatchError(`${claimed} is a ${metadata.network} checkpoint`)
  if (task.kind === 'expert' && (metadata.objective !== task.objective || metadata.cluster !== task.cluster)) {
    const trained = `${String(metadata.objective)} on cluster ${String(metadata.cluster)}`
    throw new TaskDataMismatchError(`${claimed} is ${trained}`)
  }
  if (metadata.step !== info.step || (info.final && metadata.step !== budget) || !(metadata.step <= budget)) {
    throw new TaskDataMismatchError(`${claimed} holds step ${metadata.step} of ${budget}`)
  }
  try {
    checkShape(run.manifest, task, checkpoint)
  } catch (err) {
    if (err instanceof CheckpointRefusedError) throw new TaskDataMismatchError(`${claimed}: ${err.message}`)
    throw err
  }
  if (!allFinite(tensors)) throw new CorruptCheckpointError(`${claimed} has NaN or Inf values`)
  return checkpoint
}

/**
 * Whether `err` says the file is not what was announced (its content, or a network the run's
 * preset cannot load), as opposed to this node's own trouble: fetching it again would not help.
 */
export function contradictsAnnouncement (err: unknown): boolean {
  return err instanceof TaskDataMismatchError || err instanceof CorruptCheckpointError ||
    err instanceof ShapeMismatchError
}
