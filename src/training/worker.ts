/**
 * The training worker thread: initialises its own tfjs backend, runs the jobs the Trainer sends
 * one at a time (an expert run, the router task, a held-out loss), relays their progress, and
 * turns a `stop` message into an abort (an expert run writes a last checkpoint first).
 */
import '../polyfills.js'
import { parentPort, workerData } from 'node:worker_threads'
import { decodeCheckpoint } from '../checkpoint/format.js'
import { expertHeldOutLoss } from '../checkpoint/expert-score.js'
import type { ProgressEvent } from '../progress.js'
import { disposeBackend, initBackend } from '../runtime/backend.js'
import { trainExpert } from './expert-run.js'
import { runRouterJob } from './router-run.js'
import {
  serializeError, type FromWorker, type ToWorker, type WorkerJob, type WorkerResults, type WorkerSetup
} from './worker-protocol.js'

const port = parentPort
if (port === null) throw new Error('training/worker.ts must run in a worker thread')
const post = (message: FromWorker): void => { port.postMessage(message) }
const setup = workerData as WorkerSetup

let current: AbortController | undefined

async function execute (job: WorkerJob, signal: AbortSignal): Promise<WorkerResults[keyof WorkerResults]> {
  const onProgress = (event: ProgressEvent): void => {
    post({ type: 'progress', event: { type: event.type, detail: event.detail } })
  }
  if (job.kind === 'expert') return await trainExpert(job.job, { signal, onProgress })
  if (job.kind === 'router') return await runRouterJob(job.job, { signal, onProgress })
  const { checkpoint, heldOut, evaluation } = job.job
  return { loss: expertHeldOutLoss(decodeCheckpoint(checkpoint), heldOut, evaluation) }
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'stop') {
    current?.abort()
    return
  }
  const controller = current = new AbortController()
  execute(message.job, controller.signal).then(
    result => { post({ type: 'done', result }) },
    err => { post({ type: 'error', error: serializeError(err) }) }
  ).finally(() => { current = undefined })
})

try {
  const backend = await initBackend({ backend: setup.backend, threads: setup.threads })
  post({ type: 'ready', backend })
} catch (err) {
  post({ type: 'error', error: serializeError(err) })
  await disposeBackend()
}
