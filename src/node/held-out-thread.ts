import { HddmError } from '../errors.js'
import { spawnNodeWorker } from './thread.js'
import type { HeldOutJob, HeldOutReply } from './held-out-worker.js'
import type { BackendChoice } from '../runtime/backend.js'
import type { Worker } from 'node:worker_threads'

/**
 * Expert held-out losses computed in one long-lived worker thread (held-out-worker.ts): the
 * thread starts on first use, so its startup (module loading, backend) is paid once per node.
 */
export class HeldOutEvaluator {
  private worker?: Worker
  private next = 0
  private readonly pending = new Map<number, { resolve: (loss: number) => void, reject: (err: Error) => void }>()

  constructor (private readonly backend: BackendChoice) {}

  async evaluate (job: Omit<HeldOutJob, 'id'>): Promise<number> {
    const worker = this.start()
    const id = this.next++
    const { promise, resolve, reject } = Promise.withResolvers<number>()
    this.pending.set(id, { resolve, reject })
    worker.postMessage({ ...job, id } satisfies HeldOutJob)
    return await promise
  }

  async stop (): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    await worker?.terminate()
  }

  private start (): Worker {
    if (this.worker !== undefined) return this.worker
    const worker = this.worker = spawnNodeWorker('held-out-worker', { backend: this.backend })
    worker.on('message', (reply: HeldOutReply) => {
      const waiter = this.pending.get(reply.id)
      this.pending.delete(reply.id)
      if ('error' in reply) waiter?.reject(Object.assign(new HddmError(reply.error.message), { name: reply.error.name }))
      else waiter?.resolve(reply.loss)
    })
    const fail = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined
      for (const waiter of this.pending.values()) waiter.reject(err)
      this.pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => { fail(new HddmError(`held-out worker exited with code ${code}`)) })
    worker.unref()
    return worker
  }
}
