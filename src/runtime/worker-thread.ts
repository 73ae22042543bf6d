/**
 * Starting a module of hddm in a worker thread, from compiled JavaScript or from TypeScript
 * sources alike. Compiled (dist), the worker is the `.js` file next to the caller. From sources
 * (tsx, vitest) Node 20 does not pass loader hooks to workers (nodejs/node#47747), so the worker
 * starts as a tiny eval script that registers tsx's ESM hooks itself, then imports the `.ts`.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

/** Starts `./<name>` of the folder of `from` (the caller's import.meta.url) with `workerData`. */
export function startWorker (from: string, name: string, workerData: unknown): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, from), { workerData })
  const entry = new URL(`./${name}.ts`, from).href
  const api = JSON.stringify(tsxEsmApi(from))
  const bootstrap = `import(${api}).then(m => { m.register(); return import(${JSON.stringify(entry)}) })`
  return new Worker(bootstrap, { eval: true, workerData })
}

/** URL of tsx's ESM register API; vitest's module runner has no import.meta.resolve, so read tsx's exports map then. */
function tsxEsmApi (from: string): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve('tsx/esm/api')
  const manifest = createRequire(from).resolve('tsx/package.json')
  type Exports = Record<string, { import: { default: string } }>
  const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Exports }).exports
  return new URL(exports['./esm/api'].import.default, pathToFileURL(manifest)).href
}
