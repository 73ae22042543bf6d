/**
 * Multithreaded tfjs wasm in Node.
 *
 * Upstream disables threads under Node (tfjs issue #3830) although the threaded-SIMD binary runs
 * fine in `worker_threads`. What stands in the way, and what this shim does about it, pinned to
 * the @tensorflow/tfjs-backend-wasm 4.22.0 node bundle:
 * - the pthread worker script and the Emscripten factory are handed to workers as `blob:` URLs,
 *   which Node's Worker cannot load: while the backend initialises, `Blob`/`URL.createObjectURL`
 *   are replaced so that both land in temp `.js` files;
 * - the serialised factory refers to module-scope names of the bundle (`commonjsGlobal`,
 *   `require$$N`, tslib helpers): a prelude defines them in the worker;
 * - the pthreadpool is capped at half of `os.cpus()`: the cpu list is padded during init;
 * - workers inherit the parent's `execArgv`, so a loader such as tsx's `--import` would be run
 *   on the worker's plain `.js` files and fail: workers are started with none.
 * Callers must fall back to one thread when this fails; `removeBackend('wasm')` ends the workers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import workerThreads from 'node:worker_threads'

/** Runs in each pthread worker before the bundle's code; names mirror the bundle's scope. */
const WORKER_PRELUDE = `
var commonjsGlobal = globalThis;
var require$$0 = require('fs'), require$$1 = require('path');
var require$$3 = require('perf_hooks'), require$$4 = require('os');
var _scriptDir = typeof __filename !== 'undefined' ? __filename : globalThis.location.href;
var __values = function (o) {
  var s = typeof Symbol === 'function' && Symbol.iterator, m = s && o[s], i = 0;
  if (m) return m.call(o);
  return { next: function () { if (o && i >= o.length) o = void 0; return { value: o && o[i++], done: !o } } };
};
var __read = function (o, n) {
  var m = typeof Symbol === 'function' && o[Symbol.iterator];
  if (!m) return o;
  var i = m.call(o), r, ar = [];
  while ((n === void 0 || n-- > 0) && !(r = i.next()).done) ar.push(r.value);
  return ar;
};
var __spreadArray = function (to, from) { return to.concat(Array.prototype.slice.call(from)) };
URL.createObjectURL = function (blob) { return blob.hddmPath };
URL.revokeObjectURL = function () {};
`

interface FileBlob { hddmPath: string }

/**
 * Runs `init` (which must call `tf.setBackend('wasm')`) with the Node patches in place and
 * restores every global afterwards. Returns init's result. The temp directory is removed at once:
 * workers have read their files by the time the backend reports ready.
 */
export async function withWasmThreadsShim<T> (threads: number, init: () => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(os.tmpdir(), 'hddm-wasm-'))
  let files = 0
  const g = globalThis as unknown as { Blob: unknown }
  const originalBlob = g.Blob
  const originalCreate = URL.createObjectURL
  const originalCpus = os.cpus
  const OriginalWorker = workerThreads.Worker
  // A Blob stand-in: its parts are written to a file at once; postMessage clones it as a plain
  // object, so workers find the path in `hddmPath` (see the prelude).
  g.Blob = function FileBackedBlob (this: FileBlob, parts: string[]) {
    this.hddmPath = join(dir, `part-${files++}.js`)
    writeFileSync(this.hddmPath, WORKER_PRELUDE + parts.join(''))
  }
  URL.createObjectURL = ((blob: FileBlob) => blob.hddmPath) as unknown as typeof URL.createObjectURL
  // The pool size is min(requested, logical cores / 2): make "cores" large enough for `threads`.
  const cpus = originalCpus()
  os.cpus = () => Array.from({ length: Math.max(cpus.length, 2 * threads) }, (_, i) => cpus[i % cpus.length])
  // The bundle reads `require('worker_threads').Worker` when the backend initialises.
  ;(workerThreads as { Worker: typeof OriginalWorker }).Worker = class extends OriginalWorker {
    constructor (filename: string | URL, options: workerThreads.WorkerOptions = {}) {
      super(filename, { ...options, execArgv: [] })
    }
  }
  try {
    return await init()
  } finally {
    g.Blob = originalBlob
    URL.createObjectURL = originalCreate
    os.cpus = originalCpus
    ;(workerThreads as { Worker: typeof OriginalWorker }).Worker = OriginalWorker
    rmSync(dir, { recursive: true, force: true })
  }
}
