import { HddmError } from '../hddm-error.js'
import { spawnNodeWorker } from './thread.js'
import type { HeldOutJob, HeldOutReply } from './held-out-worker.js'
import type { BackendChoice } from '../runtime/backend.js'

/** Expert held-out losses, each computed in a short-lived worker thread (held-out-worker.ts). */
export class HeldOutEvaluator {
  constructor (private readonly backend: BackendChoice) {}

  async evaluate (job: Omit<HeldOutJob, 'backend'>): Promise<number> {
    const worker = spawnNodeWorker('held-out-worker', { ...job, backend: this.backend } satisfies HeldOutJob)
    try {
      const reply = await new Promise<HeldOutReply>((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
        worker.once('exit', (code) => { reject(new HddmError(`held-out worker exited with code ${code}`)) })
      })
      if ('error' in reply) throw Object.assign(new HddmError(reply.error.message), { name: reply.error.name })
      return reply.loss
    } finally {
      await worker.terminate()
    }
  }

  async stop (): Promise<void> {}
}
