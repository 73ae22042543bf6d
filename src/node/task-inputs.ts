/**
 * Everything a task needs before training starts, fetched by CID: its shards, the checkpoint to
 * continue from, and for an initialised FM expert the DDPM checkpoint it starts from.
 *
 * The checkpoint to continue from is this node's own if it is at least as far as the best
 * announced one it can use, else the most advanced announced checkpoint that fetches and whose
 * content says what its announcement claims (announced-checkpoint.ts); one that does not is
 * remembered in `refused` and the next best is tried, so a lying announcement costs one fetch,
 * not the task. An initialised expert starts from a final of its source task verified here.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { decodeShard } from '../data/shard.js'
import { checkAnnouncedCheckpoint, fetchAnnouncedCheckpoint } from './announced-checkpoint.js'
import { TaskDataMismatchError } from './errors.js'
import type { FinalVerifier } from './final-verifier.js'
import type { Logger } from '../logger.js'
import type { RunState } from './run-state.js'
import type { TaskShard, TaskTrainer, TaskTrainRequest } from './task-trainer.js'
import type { AbortOptions } from '../progress.js'
import { maxCheckpointBytes, maxShardBytes } from '../protocol/fetch-limits.js'
import { budgetOf, type RunTask } from '../protocol/run-manifest.js'
import type { Storage } from '../storage/helia.js'

export interface TaskInputsComponents {
  state: RunState
  storage: Pick<Storage, 'getBytes'>
  trainer: Pick<TaskTrainer, 'latest'>
  finals: Pick<FinalVerifier, 'acceptedFinals'>
  /** CIDs that failed as resume points here: not tried again. */
  refused: Set<string>
  logger?: Logger
}

export interface TaskInputsOptions extends AbortOptions {
  timeoutMs: number
  maxBytes?: number
}

export interface TaskInputs extends TaskTrainRequest {
  /** Step of the checkpoint training continues from, when it does. */
  resumedFromStep?: number
}

export async function fetchTaskInputs (
  task: RunTask, dir: string, c: TaskInputsComponents, options: TaskInputsOptions
): Promise<TaskInputs> {
  const { manifest, runId } = c.state
  const clusters = task.kind === 'expert' ? [task.cluster] : manifest.resolved.shards.map((s) => s.cluster)
  const shards: TaskShard[] = []
  for (const cluster of clusters) {
    const entry = manifest.resolved.shards[cluster]
    const trainOptions = { ...options, maxBytes: maxShardBytes(manifest, cluster, 'train') }
    const heldOutOptions = { ...options, maxBytes: maxShardBytes(manifest, cluster, 'heldOut') }
    const train = await c.storage.getBytes(entry.train, trainOptions)
    const heldOut = await c.storage.getBytes(entry.heldOut, heldOutOptions)
    // The CIDs already guarantee the bytes; this guards against a manifest that lists shards out of order.
    if (decodeShard(train).header.cluster !== cluster) {
      throw new TaskDataMismatchError(`shard ${entry.train.toString()} is not cluster ${cluster}`)
    }
    shards.push({ cluster, train, heldOut })
  }
  const request: TaskInputs = { runId, manifest, task, shards, dir }

  const local = await c.trainer.latest(dir)
  const budget = budgetOf(manifest, task).steps
  // A router's progress checkpoints are lease evidence, not resume points (node/router-task.ts).
  const announced = task.kind === 'router'
    ? []
    : c.state.table.checkpointsOf(task.id)
      .filter((a) => !a.final && a.step > 0 && a.step < budget && !c.refused.has(a.cid))
  for (const candidate of announced) {
    if (local !== undefined && local.step >= candidate.step) break
    try {
      const bytes = await fetchCheckpoint(candidate.cid, candidate.peer, c, options)
      checkAnnouncedCheckpoint(c.state, task, candidate, bytes)
      request.resumeFrom = await keep(bytes, dir, `resume-${candidate.step}`)
      request.resumedFromStep = candidate.step
      break
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      c.refused.add(candidate.cid)
      const about = { task: task.id, cid: candidate.cid, step: candidate.step, peer: candidate.peer }
      c.logger?.warn('announced checkpoint unusable; trying the next', about, err)
    }
  }
  if (request.resumeFrom === undefined && local !== undefined) {
    request.resumeFrom = local.path
    request.resumedFromStep = local.step
  }

  if (task.kind === 'expert' && task.init !== undefined) {
    const from = 'fromTask' in task.init
      ? c.finals.acceptedFinals(task.init.fromTask)[0]
      : { cid: task.init.fromCid, peer: undefined }
    if (from === undefined) {
      const source = 'fromTask' in task.init ? task.init.fromTask : '?'
      const missing = `a final checkpoint of ${source} that nobody has announced and this node verified yet`
      throw new TaskDataMismatchError(`task ${task.id} starts from ${missing}`)
    }
    request.initFrom = await keep(await fetchCheckpoint(from.cid, from.peer, c, options), dir, 'init')
  }
  return request
}

/** The announcer gets this long before any other holder (a checkpoint mirror) is asked. */
const ANNOUNCER_TIMEOUT_MS = 15_000

async function fetchCheckpoint (
  cid: string, peer: string | undefined, c: TaskInputsComponents, options: TaskInputsOptions
): Promise<Uint8Array> {
  if (peer !== undefined) {
    try {
      const timeoutMs = Math.min(options.timeoutMs ?? ANNOUNCER_TIMEOUT_MS, ANNOUNCER_TIMEOUT_MS)
      return await fetchAnnouncedCheckpoint(c.storage, c.state.manifest, { cid, peer }, { ...options, timeoutMs })
    } catch (err) {
      // The announcer is the usual source, and the one most likely gone when a task is taken
      // over: ask the swarm at large (peers' checkpoint mirrors hold the latest announcement).
      if (options.signal?.aborted === true) throw err
    }
  }
  return await c.storage.getBytes(CID.parse(cid), { ...options, maxBytes: maxCheckpointBytes(c.state.manifest) })
}

async function keep (bytes: Uint8Array, dir: string, name: string): Promise<string> {
  const path = join(dir, `${name}.safetensors`)
  await writeFile(path, bytes)
  return path
}
