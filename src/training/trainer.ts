/**
 * The Trainer service: expert training in a worker thread, so that the main thread (the
 * libp2p node, a progress bar) never stalls on tfjs. start() spawns the worker and brings up
 * its backend; run() sends one job and relays its typed progress events; an abort or stop()
 * asks the worker to write a last checkpoint and finish cleanly.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { InvalidArgumentError } from '../hddm-error.js'
import { silentLogger, type Logger } from '../logger.js'
import { CustomProgressEvent, type AbortOptions, type ProgressOptions } from '../progress.js'
import type { BackendChoice, BackendInfo } from '../runtime/backend.js'
import { TrainerWorkerError } from './errors.js'
import type { ExpertJob, TrainProgressEvents, TrainResult } from './expert-run.js'
import { deserializeError, type FromWorker, type ToWorker, type WorkerSetup } from './worker-protocol.js'

export interface TrainerInit {
  /** The worker's tfjs backend (default 'auto': the fastest available). */
  backend?: BackendChoice
  threads?: number
  logger?: Logger
}

export interface TrainOptions extends AbortOptions, ProgressOptions<TrainProgressEvents> {}

export type TrainerStatus = 'stopped' | 'starting' | 'started' | 'stopping'

interface ActiveRun {
  resolve: (result: TrainResult) => void
  reject: (err: Error) => void
  onProgress?: TrainOptions['onProgress']
}

export class Trainer {
  status: TrainerStatus = 'stopped'
  /** The backend the worker computes on, once started. */
  backend?: BackendInfo
  private worker?: Worker
  private active?: ActiveRun
  private readonly log: Logger

  constructor (private readonly init: TrainerInit = {}) {
    this.log = (init.logger ?? silentLogger).child('trainer')
  }

  async start (): Promise<void> {
    if (this.status !== 'stopped') return
    this.status = 'starting'
    const setup: WorkerSetup = { backend: this.init.backend ?? 'auto', threads: this.init.threads }
    const worker = this.worker = spawnWorker(setup)
    try {
      this.backend = await waitForReady(worker)
    } catch (err) {
      this.worker = undefined
      this.status = 'stopped'
      await worker.terminate()
      throw err
    }
    worker.on('message', (message: FromWorker) => { this.onMessage(message) })
    worker.on('error', err => { this.fail(new TrainerWorkerError(`training worker failed: ${err.message}`)) })
    worker.on('exit', code => {
      this.worker = undefined
      if (this.status !== 'stopping') this.status = 'stopped'
      this.fail(new TrainerWorkerError(`training worker exited with code ${code}`))
    })
    this.status = 'started'
    this.log.info('training worker ready', { ...this.backend })
  }

  /** Trains one expert; resolves when the run ends, rejects with AbortError if stopped early (after the last checkpoint is written). */
  async run (job: ExpertJob, options: TrainOptions = {}): Promise<TrainResult> {
    if (this.status !== 'started' || this.worker === undefined) throw new InvalidArgumentError('the trainer is not started')
    if (this.active !== undefined) throw new InvalidArgumentError('the trainer is already running a job')
    const worker = this.worker
    const { promise, resolve, reject } = Promise.withResolvers<TrainResult>()
    this.active = { resolve, reject, onProgress: options.onProgress }
    const abort = (): void => { this.send({ type: 'stop' }) }
    if (options.signal?.aborted === true) abort()
    options.signal?.addEventListener('abort', abort, { once: true })
    worker.postMessage({ type: 'train', job } satisfies ToWorker)
    try {
      return await promise
    } finally {
      options.signal?.removeEventListener('abort', abort)
    }
  }

  /** Stops a running job (it checkpoints first), then ends the worker. */
  async stop (): Promise<void> {
    if (this.status === 'stopped' || this.status === 'stopping') return
    this.status = 'stopping'
    const running = this.active
    if (running !== undefined) {
      const settled = new Promise<void>(resolve => {
        const { resolve: res, reject: rej } = running
        running.resolve = r => { res(r); resolve() }
        running.reject = e => { rej(e); resolve() }
      })
      this.send({ type: 'stop' })
      await settled
    }
    await this.worker?.terminate()
    this.worker = undefined
    this.status = 'stopped'
  }

  private send (message: ToWorker): void {
    this.worker?.postMessage(message)
  }

  private onMessage (message: FromWorker): void {
    const run = this.active
    if (run === undefined) return
    if (message.type === 'progress') {
      run.onProgress?.(new CustomProgressEvent(message.event.type, message.event.detail) as TrainProgressEvents)
    } else if (message.type === 'done') {
      this.active = undefined
      run.resolve(message.result)
    } else if (message.type === 'error') {
      this.active = undefined
      run.reject(deserializeError(message.error))
    }
  }

  private fail (err: Error): void {
    const run = this.active
    this.active = undefined
    run?.reject(err)
  }
}

/** Resolves with the worker's backend once it reports ready; removes only its own listeners (Worker keeps internal ones). */
async function waitForReady (worker: Worker): Promise<BackendInfo> {
  const { promise, resolve, reject } = Promise.withResolvers<BackendInfo>()
  const onError = (err: Error): void => { reject(err) }
  const onExit = (code: number): void => { reject(new TrainerWorkerError(`training worker exited with code ${code} while starting`)) }
  const onMessage = (message: FromWorker): void => {
    if (message.type === 'ready') resolve(message.backend)
    else if (message.type === 'error') reject(deserializeError(message.error))
  }
  worker.on('error', onError).on('exit', onExit).on('message', onMessage)
  try {
    return await promise
  } finally {
    worker.off('error', onError).off('exit', onExit).off('message', onMessage)
  }
}

export function createTrainer (init: TrainerInit = {}): Trainer {
  return new Trainer(init)
}

/**
 * Compiled (dist) the worker is worker.js next to this file. From TypeScript sources (tsx,
 * vitest) Node 20 does not pass loader hooks to workers (nodejs/node#47747), so the worker
 * starts as a tiny eval script that registers tsx's ESM hooks itself, then imports worker.ts.
 */
function spawnWorker (setup: WorkerSetup): Worker {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new Worker(new URL('./worker.js', here), { workerData: setup })
  const entry = new URL('./worker.ts', here).href
  const bootstrap = `import(${JSON.stringify(tsxEsmApi(here))}).then(m => { m.register(); return import(${JSON.stringify(entry)}) })`
  return new Worker(bootstrap, { eval: true, workerData: setup })
}

/** URL of tsx's ESM register API; vitest's module runner has no import.meta.resolve, so read tsx's exports map then. */
function tsxEsmApi (from: string): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve('tsx/esm/api')
  const manifest = createRequire(from).resolve('tsx/package.json')
  const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports
  return new URL(exports['./esm/api'].import.default, pathToFileURL(manifest)).href
}
