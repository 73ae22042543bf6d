/**
 * The training worker thread: initialises its own tfjs backend, runs jobs sent by the
 * Trainer one at a time, relays their progress, and turns a `stop` message into an abort
 * (the run writes a last checkpoint, then reports done).
 */
import '../polyfills.js'
import { parentPort, workerData } from 'node:worker_threads'
import { disposeBackend, initBackend } from '../runtime/backend.js'
import { trainExpert } from './expert-run.js'
import { serializeError, type FromWorker, type ToWorker, type WorkerSetup } from './worker-protocol.js'

const port = parentPort
if (port === null) throw new Error('training/worker.ts must run in a worker thread')
const post = (message: FromWorker): void => { port.postMessage(message) }
const setup = workerData as WorkerSetup

let current: AbortController | undefined

port.on('message', (message: ToWorker) => {
  if (message.type === 'stop') {
    current?.abort()
    return
  }
  if (message.type === 'train') {
    const controller = current = new AbortController()
    trainExpert(message.job, {
      signal: controller.signal,
      onProgress: event => { post({ type: 'progress', event: { type: event.type, detail: event.detail } }) }
    }).then(
      result => { post({ type: 'done', result }) },
      err => { post({ type: 'error', error: serializeError(err) }) }
    ).finally(() => { current = undefined })
  }
})

try {
  const backend = await initBackend({ backend: setup.backend, threads: setup.threads })
  post({ type: 'ready', backend })
} catch (err) {
  post({ type: 'error', error: serializeError(err) })
  await disposeBackend()
}
