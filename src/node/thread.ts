import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

/**
 * Starts `./<name>.js` (compiled) or `./<name>.ts` (tsx, vitest) of this folder in a worker
 * thread. Node 20 does not hand loader hooks to workers, so from TypeScript sources a tiny
 * eval script registers tsx first (the approach of src/training/trainer.ts).
 */
export function spawnNodeWorker (name: string, workerData: unknown): Worker {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, here), { workerData })
  const entry = new URL(`./${name}.ts`, here).href
  const bootstrap = `import(${JSON.stringify(tsxEsmApi(here))}).then(m => { m.register(); return import(${JSON.stringify(entry)}) })`
  return new Worker(bootstrap, { eval: true, workerData })
}

/** tsx's ESM register API (its CommonJS build registers hooks under a wrong path), from tsx's exports map. */
function tsxEsmApi (from: string): string {
  const manifest = createRequire(from).resolve('tsx/package.json')
  const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports
  return new URL(exports['./esm/api'].import.default, pathToFileURL(manifest)).href
}
