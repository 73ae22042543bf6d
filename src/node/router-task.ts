/**
 * The router task: trained in its own worker thread (router-worker.ts) on every cluster's
 * shard. Its checkpoint is written at the end; every `checkpointEvery` steps the router as
 * trained so far goes to ROUTER_PROGRESS_FILE and is announced as the task's progress (lease
 * evidence, docs/PROTOCOL.md 5.8). It is no resume point: a router taken over by another peer,
 * or stopped, starts again from step 0, which is cheap next to the experts.
 */
import { join } from 'node:path'
import { AbortError } from '../hddm-error.js'
import { CustomProgressEvent } from '../progress.js'
import { HddmError } from '../hddm-error.js'
import { spawnNodeWorker } from './thread.js'
import type { RouterThreadJob, RouterThreadReply } from './router-worker.js'
import type { TaskTrainOptions, TaskTrainRequest, TaskTrainResult } from './task-trainer.js'
import type { BackendChoice } from '../runtime/backend.js'
import type { Checkpoint } from '../checkpoint/format.js'

export const ROUTER_FILE = 'router.safetensors'
/** Not ROUTER_FILE: a node that finds ROUTER_FILE in its task directory takes the task as done. */
export const ROUTER_PROGRESS_FILE = 'router-progress.safetensors'

export async function trainRouterTask (request: TaskTrainRequest, compute: { backend: BackendChoice, threads?: number }, options: TaskTrainOptions = {}): Promise<TaskTrainResult> {
  const budget = request.manifest.training.router
  const path = join(request.dir, ROUTER_FILE)
  const progressPath = join(request.dir, ROUTER_PROGRESS_FILE)
  if (request.resumeFrom === path) return { step: budget.steps, path, completed: true }
  const job: RouterThreadJob = {
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
    path,
    progressPath,
    checkpointEvery: budget.checkpointEvery,
    run: request.runId,
    ...compute
  }
  options.signal?.throwIfAborted()
  const worker = spawnNodeWorker('router-worker', job)
  const stop = (): void => { worker.postMessage({ type: 'stop' }) }
  options.signal?.addEventListener('abort', stop, { once: true })
  let step = 0
  let rate = 0
  try {
    return await new Promise<TaskTrainResult>((resolve, reject) => {
      worker.on('message', (reply: RouterThreadReply) => {
        if (reply.type === 'step') {
          step = reply.step
          rate = rate === 0 ? reply.imagesPerSecond : 0.9 * rate + 0.1 * reply.imagesPerSecond
          const etaSeconds = (reply.steps - reply.step) * budget.batchSize / Math.max(rate, 1e-6)
          options.onProgress?.(new CustomProgressEvent('hddm:train:step', { step, totalSteps: reply.steps, loss: reply.loss, imagesPerSecond: rate, etaSeconds }))
        } else if (reply.type === 'checkpoint') {
          options.onProgress?.(new CustomProgressEvent('hddm:train:checkpoint', { step: reply.step, path: progressPath, final: false }))
        } else if (reply.type === 'done') {
          resolve({ step: reply.step, path, completed: true })
        } else if (reply.error.name === AbortError.name) {
          resolve({ step, completed: false })
        } else {
          reject(Object.assign(new HddmError(reply.error.message), { name: reply.error.name }))
        }
      })
      worker.once('error', reject)
      worker.once('exit', (code) => { reject(new HddmError(`router worker exited with code ${code}`)) })
    })
  } finally {
    options.signal?.removeEventListener('abort', stop)
    await worker.terminate()
  }
}
