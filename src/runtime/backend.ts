/**
 * Chooses and initialises the tfjs backend for this process.
 *
 * `auto` tries, fastest first: @tensorflow/tfjs-node-gpu, @tensorflow/tfjs-node (used when the
 * user installed them; they are not dependencies), `webgpu` (dawn.node, the optional `webgpu`
 * package, on a hardware adapter: a software one is slower than the CPU paths and only taken when
 * asked for by name), `native` (tfjs's cpu backend with our N-API + BLAS kernels; needs the addon
 * and a BLAS library), `wasm` (multithreaded through the Node shim, one thread when that fails),
 * then plain `cpu`. An explicit choice that cannot load throws BackendUnavailableError (for
 * webgpu its subclass WebGpuUnavailableError). `HDDM_BACKEND` sets the default choice.
 *
 * @example
 * ```ts
 * const { name, threads } = await initBackend({ backend: 'auto', logger })
 * // ... train ...
 * await disposeBackend()   // ends wasm worker threads so that the process can exit
 * ```
 */
import os from 'node:os'
import * as tf from '@tensorflow/tfjs'
import { InvalidArgumentError } from '../hddm-error.js'
import { silentLogger, type Logger } from '../logger.js'
import { BackendUnavailableError } from './errors.js'
import { loadNative } from './native/addon.js'
import { installNativeKernels } from './native/install.js'
import { withWasmThreadsShim } from './wasm-threads.js'
import { loadWebGpu, unloadWebGpu, type WebGpuAdapterInfo } from './webgpu/backend.js'
import { installWebGpuKernels } from './webgpu/install-kernels.js'

import { BACKEND_CHOICES, type BackendChoice } from './backend-choice.js'

export { BACKEND_CHOICES, type BackendChoice }
export type BackendName = Exclude<BackendChoice, 'auto'>

export interface InitBackendOptions {
  /** Defaults to HDDM_BACKEND, else 'auto'. */
  backend?: BackendChoice
  /** Compute threads (wasm pthreads, BLAS threads); defaults to the available cores, at most 8. */
  threads?: number
  logger?: Logger
}

export interface BackendInfo {
  name: BackendName
  threads: number
  /** Why faster backends were passed over (auto), or why wasm runs on fewer threads than asked. */
  reason?: string
  /** The GPU adapter, on webgpu: what it is and the limits the memory check reads. */
  adapter?: WebGpuAdapterInfo
}

/** The pthread pool of the wasm build has 8 workers; more would need workers the shim cannot make. */
const MAX_THREADS = 8
/** The threads shim patches internals of exactly this bundle. */
const WASM_SHIM_VERSION = '4.22.0'
const AUTO_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'native', 'wasm', 'cpu']

let current: { info: BackendInfo, teardown: () => void } | undefined

export async function initBackend (options: InitBackendOptions = {}): Promise<BackendInfo> {
  const choice = options.backend ?? parseChoice(process.env.HDDM_BACKEND)
  const threads = options.threads ?? Math.min(os.availableParallelism(), MAX_THREADS)
  if (!Number.isInteger(threads) || threads < 1) {
    throw new InvalidArgumentError(`threads must be a positive integer, got ${threads}`)
  }
  const logger = (options.logger ?? silentLogger).child('runtime')
  if (current !== undefined) await disposeBackend()

  const skipped: string[] = []
  for (const name of choice === 'auto' ? AUTO_ORDER : [choice]) {
    try {
      const started = await start(name, Math.min(threads, MAX_THREADS), { explicit: choice !== 'auto', logger })
      const { threads: used, teardown, note, adapter } = started
      const reasons = [...skipped, ...(note !== undefined ? [note] : [])]
      const info: BackendInfo = {
        name,
        threads: used,
        ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
        ...(adapter !== undefined ? { adapter } : {})
      }
      current = { info, teardown }
      logger.info('tfjs backend ready', { ...info })
      return info
    } catch (err) {
      const reason = err instanceof BackendUnavailableError ? err.reason : (err as Error).message
      if (choice !== 'auto') {
        throw err instanceof BackendUnavailableError ? err : new BackendUnavailableError(name, reason)
      }
      skipped.push(`${name}: ${reason}`)
      // The one GPU path a user installs on purpose: say plainly why it was passed over.
      if (name === 'webgpu') logger.info('webgpu skipped, trying the next backend', { reason })
    }
  }
  // cpu always starts, so auto cannot get here; keep the type checker and readers sure of it.
  throw new BackendUnavailableError('auto', skipped.join('; '))
}

/** Releases what initBackend set up (wasm worker threads, native kernel overrides); idempotent. */
export async function disposeBackend (): Promise<void> {
  const c = current
  current = undefined
  c?.teardown()
  await tf.setBackend('cpu')
}

/** The backend initBackend chose, if any. */
export function currentBackend (): BackendInfo | undefined {
  return current?.info
}

function parseChoice (value: string | undefined): BackendChoice {
  if (value === undefined || value === '') return 'auto'
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice
  throw new InvalidArgumentError(`HDDM_BACKEND must be one of ${BACKEND_CHOICES.join(', ')}, got "${value}"`)
}

interface Started { threads: number, teardown: () => void, note?: string, adapter?: WebGpuAdapterInfo }
interface StartContext { explicit: boolean, logger: Logger }

async function start (name: BackendName, threads: number, context: StartContext): Promise<Started> {
  switch (name) {
    case 'tensorflow-gpu': return await startTfjsNode(name, '@tensorflow/tfjs-node-gpu')
    case 'tensorflow': return await startTfjsNode(name, '@tensorflow/tfjs-node')
    case 'webgpu': return await startWebGpu(context)
    case 'native': return await startNative(threads)
    case 'wasm': return await startWasm(threads)
    case 'cpu': return await startCpu()
  }
}

async function startTfjsNode (name: BackendName, pkg: string): Promise<Started> {
  try {
    await import(pkg)
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND'
    const reason = missing ? `${pkg} is not installed` : `${pkg} failed to load: ${(err as Error).message}`
    throw new BackendUnavailableError(name, reason)
  }
  if (!await tf.setBackend('tensorflow')) {
    throw new BackendUnavailableError(name, `${pkg} did not register the tensorflow backend`)
  }
  // libtensorflow sizes its own thread pools.
  return { threads: os.availableParallelism(), teardown: () => {} }
}

/** A software adapter only when asked for by name: it is correct but slower than the CPU paths. */
async function startWebGpu ({ explicit, logger }: StartContext): Promise<Started> {
  const adapter = await loadWebGpu({ allowFallback: explicit, logger })
  const uninstall = installWebGpuKernels()
  const kind = adapter.isFallbackAdapter ? 'software adapter' : 'adapter'
  const note = `${kind} ${adapter.vendor} ${adapter.architecture} (${adapter.description})`
  // The GPU runs the compute; the CPU only encodes commands.
  return { threads: 1, teardown: () => { uninstall(); unloadWebGpu() }, note, adapter }
}

async function startNative (threads: number): Promise<Started> {
  const loaded = loadNative()
  if (!loaded.ok) throw new BackendUnavailableError('native', loaded.reason)
  if (!await tf.setBackend('cpu')) throw new BackendUnavailableError('native', 'the tfjs cpu backend failed to start')
  quietCpuBackend()
  loaded.addon.setBlasThreads(threads)
  const uninstall = installNativeKernels(loaded.addon)
  return { threads, teardown: uninstall, note: `BLAS ${loaded.blas}` }
}

async function startCpu (): Promise<Started> {
  if (!await tf.setBackend('cpu')) throw new BackendUnavailableError('cpu', 'the tfjs cpu backend failed to start')
  quietCpuBackend()
  return { threads: 1, teardown: () => {} }
}

/** The cpu backend's first write prints advice to install tfjs-node; here cpu is a deliberate choice. */
function quietCpuBackend (): void {
  (tf.backend() as unknown as { firstUse: boolean }).firstUse = false
}

async function startWasm (threads: number): Promise<Started> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm')
  const factory = tf.findBackendFactory('wasm')
  let note: string | undefined
  if (threads > 1 && wasm.version_wasm !== WASM_SHIM_VERSION) {
    note = `wasm threads need @tensorflow/tfjs-backend-wasm ${WASM_SHIM_VERSION} ` +
      `(found ${wasm.version_wasm}), using 1 thread`
  } else if (threads > 1 && typeof SharedArrayBuffer === 'undefined') {
    note = 'wasm threads need SharedArrayBuffer, using 1 thread'
  } else if (threads > 1) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true)
    wasm.setThreadsCount(threads)
    const ok = await withWasmThreadsShim(threads, async () => await tf.setBackend('wasm')).catch(() => false)
    if (ok) return { threads: wasm.getThreadsCount(), teardown: () => { removeWasm(factory) } }
    note = 'wasm threads failed to start, using 1 thread'
    // A failed threaded start may leave a half-made backend: start over from the registration.
    removeWasm(factory)
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false)
  wasm.setThreadsCount(1)
  if (!await tf.setBackend('wasm')) throw new BackendUnavailableError('wasm', 'the tfjs wasm backend failed to start')
  return { threads: 1, teardown: () => { removeWasm(factory) }, ...(note !== undefined ? { note } : {}) }
}

/**
 * removeBackend terminates the pthread workers (which would keep the process alive); the
 * registration is put back so that a later initBackend can start wasm again.
 */
function removeWasm (factory: ReturnType<typeof tf.findBackendFactory>): void {
  if (tf.findBackendFactory('wasm') !== null) tf.removeBackend('wasm')
  tf.registerBackend('wasm', factory, 2)
}
