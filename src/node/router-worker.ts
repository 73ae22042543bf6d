/**
 * The router task in its own thread: trains on every cluster's shard with the natural
 * frequencies, evaluates on the held-out shards, and writes the router checkpoint atomically.
 * A `stop` message aborts it; routers are small and restart from scratch (no resume).
 */
import '../polyfills.js'
import { parentPort, workerData } from 'node:worker_threads'
import { disposeBackend, initBackend, type BackendChoice } from '../runtime/backend.js'
import { encodeCheckpoint } from '../checkpoint/format.js'
import { writeFileAtomic } from '../checkpoint/file.js'
import { routerCheckpoint, trainRouter, type RouterJob } from '../training/router-trainer.js'

export interface RouterThreadJob {
  job: RouterJob
  path: string
  /** Where the router as trained so far goes every `checkpointEvery` steps (not a resume point). */
  progressPath: string
  checkpointEvery: number
  run: string
  backend: BackendChoice
  threads?: number
}

export type RouterThreadReply =
  | { type: 'step', step: number, steps: number, loss: number, imagesPerSecond: number }
  | { type: 'checkpoint', step: number }
  | { type: 'done', step: number, heldOutError: number }
  | { type: 'error', error: { name: string, message: string } }

const port = parentPort
if (port === null) throw new Error('router-worker.ts must run in a worker thread')
const { job, path, progressPath, checkpointEvery, run, backend, threads } = workerData as RouterThreadJob
const controller = new AbortController()
port.on('message', (message: { type: string }) => { if (message.type === 'stop') controller.abort() })
const post = (reply: RouterThreadReply): void => { port.postMessage(reply) }

try {
  await initBackend({ backend, threads })
  const batch = job.training?.batchSize ?? 64
  let last = performance.now()
  const result = await trainRouter(job, {
    signal: controller.signal,
    checkpointEvery,
    onCheckpoint: async (snapshot) => {
      await writeFileAtomic(progressPath, encodeCheckpoint(routerCheckpoint(snapshot, job.preset, { run })))
      post({ type: 'checkpoint', step: snapshot.losses.length })
    },
    onProgress: (evt) => {
      const now = performance.now()
      post({ type: 'step', ...evt.detail, imagesPerSecond: batch / Math.max(1e-3, (now - last) / 1000) })
      last = now
    }
  })
  try {
    await writeFileAtomic(path, encodeCheckpoint(routerCheckpoint(result, job.preset, { run })))
    const buckets = result.evaluation?.buckets ?? []
    const accuracy = buckets.length === 0 ? 0 : buckets.reduce((sum, b) => sum + b.accuracy, 0) / buckets.length
    post({ type: 'done', step: result.losses.length, heldOutError: 1 - accuracy })
  } finally {
    result.router.dispose()
  }
} catch (err) {
  post({ type: 'error', error: { name: (err as Error).name, message: (err as Error).message } })
} finally {
  port.removeAllListeners('message')
  await disposeBackend()
}
