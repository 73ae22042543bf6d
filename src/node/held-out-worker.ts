/**
 * One held-out evaluation in its own short-lived thread: the node's main thread must keep its
 * heartbeats and leases on time, and even a tiny model's forward passes take seconds on a cold
 * backend. (A long-lived evaluator thread next to the native training thread stalled both in a
 * 3-process simulation; one thread per evaluation did not, so that is what this is.)
 */
import '../polyfills.js'
import { parentPort, workerData } from 'node:worker_threads'
import { disposeBackend, initBackend, type BackendChoice } from '../runtime/backend.js'
import { decodeCheckpoint } from '../checkpoint/format.js'
import { expertHeldOutLoss, type HeldOutEval } from '../checkpoint/expert-score.js'

export interface HeldOutJob {
  checkpoint: Uint8Array
  heldOut: Uint8Array
  evaluation: HeldOutEval
  backend: BackendChoice
}

export type HeldOutReply = { loss: number } | { error: { name: string, message: string } }

const port = parentPort
if (port === null) throw new Error('held-out-worker.ts must run in a worker thread')
const job = workerData as HeldOutJob
try {
  await initBackend({ backend: job.backend, threads: 1 })
  port.postMessage({ loss: expertHeldOutLoss(decodeCheckpoint(job.checkpoint), job.heldOut, job.evaluation) } satisfies HeldOutReply)
} catch (err) {
  port.postMessage({ error: { name: (err as Error).name, message: (err as Error).message } } satisfies HeldOutReply)
} finally {
  await disposeBackend()
}
