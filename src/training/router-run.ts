/**
 * The router task's whole job inside the training thread: train on every cluster's shard,
 * write the router as trained so far to `progressPath` every `checkpointEvery` steps (lease
 * evidence, docs/PROTOCOL.md 5.8; never a resume point: routers are small and restart from
 * step 0), evaluate on the held-out shards, and write the final checkpoint atomically.
 */
import { writeFileAtomic } from '../checkpoint/file.js'
import { encodeCheckpoint } from '../checkpoint/format.js'
import { meanAccuracy } from '../checkpoint/router-score.js'
import { CustomProgressEvent, type AbortOptions, type ProgressEvent, type ProgressOptions } from '../progress.js'
import { ROUTER_TRAINING_DEFAULTS, routerCheckpoint, trainRouter, type RouterJob } from './router-trainer.js'

export interface RouterRunJob {
  job: RouterJob
  /** Where the final checkpoint goes. */
  path: string
  /** Where the router as trained so far goes every `checkpointEvery` steps. */
  progressPath: string
  checkpointEvery: number
  run: string
}

export interface RouterRunResult {
  step: number
  path: string
  /** 1 - mean held-out accuracy over flow-time buckets (checkpoint/router-score.ts). */
  heldOutError: number
}

export type RouterRunProgressEvents =
  | ProgressEvent<'hddm:train:router:step', { step: number, steps: number, loss: number, imagesPerSecond: number }>
  | ProgressEvent<'hddm:train:router:checkpoint', { step: number, path: string }>

export interface RouterRunOptions extends AbortOptions, ProgressOptions<RouterRunProgressEvents> {}

/** Rejects with AbortError when stopped (no final file is written then). */
export async function runRouterJob (r: RouterRunJob, options: RouterRunOptions = {}): Promise<RouterRunResult> {
  const batch = r.job.training?.batchSize ?? ROUTER_TRAINING_DEFAULTS.batchSize
  let last = performance.now()
  const result = await trainRouter(r.job, {
    signal: options.signal,
    checkpointEvery: r.checkpointEvery,
    onCheckpoint: async (snapshot) => {
      await writeFileAtomic(r.progressPath, encodeCheckpoint(routerCheckpoint(snapshot, r.job.preset, { run: r.run })))
      const detail = { step: snapshot.losses.length, path: r.progressPath }
      options.onProgress?.(new CustomProgressEvent('hddm:train:router:checkpoint', detail))
    },
    onProgress: (evt) => {
      const now = performance.now()
      const imagesPerSecond = batch / Math.max(1e-3, (now - last) / 1000)
      last = now
      options.onProgress?.(new CustomProgressEvent('hddm:train:router:step', { ...evt.detail, imagesPerSecond }))
    }
  })
  try {
    await writeFileAtomic(r.path, encodeCheckpoint(routerCheckpoint(result, r.job.preset, { run: r.run })))
    const heldOutError = 1 - meanAccuracy(result.evaluation?.buckets ?? [])
    return { step: result.losses.length, path: r.path, heldOutError }
  } finally {
    result.router.dispose()
  }
}
