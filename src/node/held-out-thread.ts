import { HddmError } from '../errors.js'
import { spawnNodeWorker } from './thread.js'
import type { HeldOutJob, HeldOutReply } from './held-out-worker.js'

/** Computes an expert's held-out loss in a short-lived worker thread (see held-out-worker.ts). */
export async function heldOutLossOffThread (job: HeldOutJob): Promise<number> {
  const worker = spawnNodeWorker('held-out-worker', job)
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
