/**
 * A checkpoint a peer announced (or reported in its coverage map), fetched and checked before
 * this node builds on it: mirroring it (checkpoint-mirror.ts), taking it as lease evidence,
 * adopting it as a task's progress (checkpoint-sync.ts) or resuming a task from it
 * (task-inputs.ts). The file's own metadata must say what the announcement claims: this run, the
 * task's network, objective and cluster, the announced step (the budget's last if final), a
 * config of the run's preset, and finite values.
 */
import { CID } from 'multiformats/cid'
import { checkShape } from '../ensemble/checks.js'
import { CheckpointRefusedError } from '../ensemble/errors.js'
import { budgetOf, type ResolvedRunManifest, type RunTask } from '../protocol/run-manifest.js'
import { maxCheckpointBytes } from '../protocol/fetch-limits.js'
import { allFinite, decodeCheckpoint, type Checkpoint } from '../checkpoint/format.js'
import { CorruptCheckpointError, ShapeMismatchError } from '../checkpoint/errors.js'
import { TaskDataMismatchError } from './errors.js'
import type { CheckpointInfo } from '../network/claim-types.js'
import type { Storage } from '../storage/helia.js'

export interface FetchAnnouncedOptions {
  timeoutMs: number
  signal?: AbortSignal
  /** A second peer said to hold it (the coverage map's owner), asked beside the announcer. */
  alsoFrom?: string
}

/**
 * The bytes of an announced checkpoint: the announcer (and `alsoFrom`) are asked as providers
 * besides the swarm. Always through getBytes, never a root-block `has`: a copy cut short by a
 * dead announcer has the root but not every leaf, and only the whole file can be served on.
 * A CID of anything larger than the run's checkpoints is refused before its data moves.
 */
export async function fetchAnnouncedCheckpoint (storage: Pick<Storage, 'getBytes'>,
  manifest: Pick<ResolvedRunManifest, 'model' | 'k' | 'tasks'>, want: { cid: string, peer: string },
  options: FetchAnnouncedOptions): Promise<Uint8Array> {
  const { alsoFrom, ...fetchOptions } = options
  const providers = alsoFrom === undefined || alsoFrom === want.peer ? [want.peer] : [want.peer, alsoFrom]
  const maxBytes = maxCheckpointBytes(manifest)
  return await storage.getBytes(CID.parse(want.cid), { ...fetchOptions, providers, maxBytes })
}

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
