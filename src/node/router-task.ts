/**
 * The router task, trained by the node's Trainer thread (training/router-run.ts) on every
 * cluster's shard. Its checkpoint is written at the end; every `checkpointEvery` steps the
 * router as trained so far goes to ROUTER_PROGRESS_FILE and is announced as the task's progress
 * (lease evidence, docs/PROTOCOL.md 5.8). It is no resume point: a router taken over by another
 * peer, or stopped, starts again from step 0, which is cheap next to the experts.
 */
import { join } from 'node:path'
import { AbortError } from '../hddm-error.js'
import { CustomProgressEvent } from '../progress.js'
import type { RouterRunJob } from '../training/router-run.js'
import type { Trainer } from '../training/trainer.js'
import type { TaskTrainOptions, TaskTrainRequest, TaskTrainResult } from './task-trainer.js'

export const ROUTER_FILE = 'router.safetensors'
/** Not ROUTER_FILE: a node that finds ROUTER_FILE in its task directory takes the task as done. */
export const ROUTER_PROGRESS_FILE = 'router-progress.safetensors'

export async function trainRouterTask (
  request: TaskTrainRequest, trainer: Trainer, options: TaskTrainOptions = {}
): Promise<TaskTrainResult> {
  const budget = request.manifest.training.router
  const path = join(request.dir, ROUTER_FILE)
  if (request.resumeFrom === path) return { step: budget.steps, path, completed: true }
  options.signal?.throwIfAborted()
  let step = 0
  let rate = 0
  try {
    const result = await trainer.runRouter(routerRunJob(request), {
      signal: options.signal,
      onProgress: (evt) => {
        if (evt.type === 'hddm:train:router:checkpoint') {
          options.onProgress?.(new CustomProgressEvent('hddm:train:checkpoint', { ...evt.detail, final: false }))
          return
        }
        const { step: done, steps, loss, imagesPerSecond } = evt.detail
        step = done
        rate = rate === 0 ? imagesPerSecond : 0.9 * rate + 0.1 * imagesPerSecond
        const etaSeconds = (steps - done) * budget.batchSize / Math.max(rate, 1e-6)
        const detail = { step, totalSteps: steps, loss, imagesPerSecond: rate, etaSeconds }
        options.onProgress?.(new CustomProgressEvent('hddm:train:step', detail))
      }
    })
    return { step: result.step, path, completed: true }
  } catch (err) {
    if (err instanceof AbortError) return { step, completed: false }
    throw err
  }
}

function routerRunJob (request: TaskTrainRequest): RouterRunJob {
  const budget = request.manifest.training.router
  return {
    job: {
      shards: request.shards.map((s) => s.train),
      heldOut: request.shards.map((s) => s.heldOut),
      preset: request.manifest.model.router,
      conditioning: request.task.kind === 'router' ? request.task.conditioning : 'none',
      training: {
        steps: budget.steps,
        batchSize: budget.batchSize,
        learningRate: budget.lr,
        warmupSteps: budget.warmupSteps,
        promptDropout: budget.promptDropout,
        seed: request.manifest.seed
      }
    },
    path: join(request.dir, ROUTER_FILE),
    progressPath: join(request.dir, ROUTER_PROGRESS_FILE),
    checkpointEvery: budget.checkpointEvery,
    run: request.runId
  }
}
