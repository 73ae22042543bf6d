/**
 * Held-out evaluations in their own thread: the node's main thread must keep its heartbeats
 * and leases on time, and even a tiny model's forward passes take seconds on a cold backend.
 * The thread lives as long as its evaluator and answers one job per message.
 */
import '../polyfills.js'
import { parentPort, workerData } from 'node:worker_threads'
import { disposeBackend, initBackend, type BackendChoice } from '../runtime/backend.js'
import { decodeCheckpoint } from '../storage/checkpoint.js'
import { expertHeldOutLoss, type HeldOutEval } from './held-out.js'

export interface HeldOutJob {
  id: number
  checkpoint: Uint8Array
  heldOut: Uint8Array
  evaluation: HeldOutEval
}

export type HeldOutReply = { id: number, loss: number } | { id: number, error: { name: string, message: string } }

const port = parentPort
if (port === null) throw new Error('held-out-worker.ts must run in a worker thread')
const ready = initBackend({ backend: (workerData as { backend: BackendChoice }).backend, threads: 1 })
port.on('message', (message: HeldOutJob | 'stop') => {
  if (message === 'stop') {
    port.removeAllListeners('message')
    void disposeBackend()
    return
  }
  ready.then(() => {
    port.postMessage({ id: message.id, loss: expertHeldOutLoss(decodeCheckpoint(message.checkpoint), message.heldOut, message.evaluation) } satisfies HeldOutReply)
  }).catch((err: Error) => {
    port.postMessage({ id: message.id, error: { name: err.name, message: err.message } } satisfies HeldOutReply)
  })
})
