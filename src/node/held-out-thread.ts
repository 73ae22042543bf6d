import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { HddmError } from '../errors.js'
import type { HeldOutJob, HeldOutReply } from './held-out-worker.js'

/** Computes an expert's held-out loss in a short-lived worker thread (see held-out-worker.ts). */
export async function heldOutLossOffThread (job: HeldOutJob): Promise<number> {
  const worker = spawn(job)
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

/**
 * Compiled, the worker is held-out-worker.js beside this file. From TypeScript sources (tsx,
 * vitest) Node 20 does not hand loader hooks to workers, so a tiny eval script registers tsx
 * first (the same approach as src/training/trainer.ts).
 */
function spawn (job: HeldOutJob): Worker {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new Worker(new URL('./held-out-worker.js', here), { workerData: job })
  const entry = new URL('./held-out-worker.ts', here).href
  const bootstrap = `import(${JSON.stringify(tsxEsmApi(here))}).then(m => { m.register(); return import(${JSON.stringify(entry)}) })`
  return new Worker(bootstrap, { eval: true, workerData: job })
}

/** tsx's ESM register API (its CommonJS build registers hooks under a wrong path); read from tsx's exports map. */
function tsxEsmApi (from: string): string {
  const manifest = createRequire(from).resolve('tsx/package.json')
  const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports
  return new URL(exports['./esm/api'].import.default, pathToFileURL(manifest)).href
}
