/**
 * Everything a task needs before training starts, fetched by CID: its shards, the checkpoint to
 * continue from (this node's own if it is at least as far as the swarm's last announcement, else
 * the announced one), and for an initialised FM expert the DDPM checkpoint it starts from.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { decodeShard } from '../data/shard.js'
import { TaskDataMismatchError } from './errors.js'
import type { RunState } from './run-state.js'
import type { TaskShard, TaskTrainer, TaskTrainRequest } from './task-trainer.js'
import type { AbortOptions } from '../progress.js'
import { maxCheckpointBytes, maxShardBytes } from '../protocol/fetch-limits.js'
import type { RunTask } from '../protocol/run-manifest.js'
import type { Storage } from '../storage/helia.js'

export interface TaskInputsComponents {
  state: RunState
  storage: Pick<Storage, 'getBytes'>
  trainer: Pick<TaskTrainer, 'latest'>
}

export interface TaskInputsOptions extends AbortOptions {
  timeoutMs: number
  maxBytes?: number
}

export interface TaskInputs extends TaskTrainRequest {
  /** Step of the checkpoint training continues from, when it does. */
  resumedFromStep?: number
}

export async function fetchTaskInputs (task: RunTask, dir: string, c: TaskInputsComponents, options: TaskInputsOptions): Promise<TaskInputs> {
  const { manifest, runId } = c.state
  const clusters = task.kind === 'expert' ? [task.cluster] : manifest.resolved.shards.map((s) => s.cluster)
  const shards: TaskShard[] = []
  for (const cluster of clusters) {
    const entry = manifest.resolved.shards[cluster]
    const train = await c.storage.getBytes(entry.train, { ...options, maxBytes: maxShardBytes(manifest, cluster, 'train') })
    const heldOut = await c.storage.getBytes(entry.heldOut, { ...options, maxBytes: maxShardBytes(manifest, cluster, 'heldOut') })
    // The CIDs already guarantee the bytes; this guards against a manifest that lists shards out of order.
    if (decodeShard(train).header.cluster !== cluster) throw new TaskDataMismatchError(`shard ${entry.train.toString()} is not cluster ${cluster}`)
    shards.push({ cluster, train, heldOut })
  }
  const request: TaskInputs = { runId, manifest, task, shards, dir }

  const local = await c.trainer.latest(dir)
  const announced = c.state.lastCheckpoint(task.id)
  if (local !== undefined && (announced === undefined || local.step >= announced.step)) {
    request.resumeFrom = local.path
    request.resumedFromStep = local.step
  } else if (announced !== undefined && !announced.final && announced.step > 0) {
    request.resumeFrom = await fetchCheckpoint(announced.cid, announced.peer, dir, `resume-${announced.step}`, c, options)
    request.resumedFromStep = announced.step
  }

  if (task.kind === 'expert' && task.init !== undefined) {
    const from = 'fromTask' in task.init ? c.state.lastCheckpoint(task.init.fromTask) : { cid: task.init.fromCid, peer: undefined }
    if (from === undefined) throw new TaskDataMismatchError(`task ${task.id} starts from a checkpoint nobody has announced yet`)
    request.initFrom = await fetchCheckpoint(from.cid, from.peer, dir, 'init', c, options)
  }
  return request
}

/** The announcer gets this long before any other holder (a checkpoint mirror) is asked. */
const ANNOUNCER_TIMEOUT_MS = 15_000

async function fetchCheckpoint (cid: string, peer: string | undefined, dir: string, name: string, c: TaskInputsComponents, options: TaskInputsOptions): Promise<string> {
  let bytes: Uint8Array
  options = { ...options, maxBytes: maxCheckpointBytes(c.state.manifest) }
  try {
    bytes = await c.storage.getBytes(CID.parse(cid), { ...options, providers: peer === undefined ? undefined : [peer], timeoutMs: Math.min(options.timeoutMs ?? ANNOUNCER_TIMEOUT_MS, ANNOUNCER_TIMEOUT_MS) })
  } catch (err) {
    // The announcer is the usual source, and the one most likely gone when a task is taken
    // over: ask the swarm at large (peers' checkpoint mirrors hold the latest announcement).
    if (options.signal?.aborted === true || peer === undefined) throw err
    bytes = await c.storage.getBytes(CID.parse(cid), options)
  }
  const path = join(dir, `${name}.safetensors`)
  await writeFile(path, bytes)
  return path
}
