/**
 * The Trainer service: hddm's one way to compute in a worker thread, so that the main thread
 * (the libp2p node, a progress bar) never stalls on tfjs. start() spawns the worker and brings
 * up its backend; run() trains an expert, runRouter() the router task, heldOutLoss() scores a
 * checkpoint; each relays its typed progress events and rejects with the worker's error class.
 * An abort or stop() asks the worker to finish cleanly (an expert run writes a last checkpoint).
 */
import type { Worker } from 'node:worker_threads'
import { InvalidArgumentError } from '../hddm-error.js'
import { silentLogger, type Logger } from '../logger.js'
import { CustomProgressEvent, type AbortOptions, type ProgressEvent, type ProgressOptions } from '../progress.js'
import type { BackendChoice, BackendInfo } from '../runtime/backend.js'
import { startWorker } from '../runtime/worker-thread.js'
import { TrainerWorkerError } from './errors.js'
import type { ExpertJob, TrainProgressEvents, TrainResult } from './expert-run.js'
import type { RouterRunJob, RouterRunOptions, RouterRunResult } from './router-run.js'
import {
  deserializeError, type FromWorker, type HeldOutJob, type ToWorker, type WorkerJob, type WorkerResults,
  type WorkerSetup
} from './worker-protocol.js'

export interface TrainerInit {
  /** The worker's tfjs backend (default 'auto': the fastest available). */
  backend?: BackendChoice
  threads?: number
  logger?: Logger
}

export interface TrainOptions extends AbortOptions, ProgressOptions<TrainProgressEvents> {}

export type TrainerStatus = 'stopped' | 'starting' | 'started' | 'stopping'

interface ActiveRun {
  resolve: (result: WorkerResults[keyof WorkerResults]) => void
  reject: (err: Error) => void
  onProgress?: (event: ProgressEvent) => void
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
    const worker = this.worker = startWorker(import.meta.url, 'worker', setup)
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

  /** Trains one expert; rejects with AbortError if stopped early (after the last checkpoint is written). */
  async run (job: ExpertJob, options: TrainOptions = {}): Promise<TrainResult> {
    return await this.submit({ kind: 'expert', job }, options) as TrainResult
  }

  /** Trains the router task; rejects with AbortError if stopped early (no final file then). */
  async runRouter (job: RouterRunJob, options: RouterRunOptions = {}): Promise<RouterRunResult> {
    return await this.submit({ kind: 'router', job }, options) as RouterRunResult
  }

  /** The held-out loss of an expert checkpoint (checkpoint/expert-score.ts), computed in the worker. */
  async heldOutLoss (job: HeldOutJob, options: AbortOptions = {}): Promise<number> {
    return (await this.submit({ kind: 'held-out', job }, options) as WorkerResults['held-out']).loss
  }

  private async submit (
    job: WorkerJob, options: AbortOptions & { onProgress?: (event: never) => void }
  ): Promise<WorkerResults[keyof WorkerResults]> {
    if (this.status !== 'started' || this.worker === undefined) {
      throw new InvalidArgumentError('the trainer is not started')
    }
    if (this.active !== undefined) throw new InvalidArgumentError('the trainer is already running a job')
    const worker = this.worker
    const { promise, resolve, reject } = Promise.withResolvers<WorkerResults[keyof WorkerResults]>()
    this.active = { resolve, reject, onProgress: options.onProgress as ActiveRun['onProgress'] }
    const abort = (): void => { this.send({ type: 'stop' }) }
    if (options.signal?.aborted === true) abort()
    options.signal?.addEventListener('abort', abort, { once: true })
    worker.postMessage({ type: 'run', job } satisfies ToWorker)
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
      run.onProgress?.(new CustomProgressEvent(message.event.type, message.event.detail))
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

/**
 * Resolves with the worker's backend once it reports ready; removes only its own listeners
 * (Worker keeps internal ones).
 */
async function waitForReady (worker: Worker): Promise<BackendInfo> {
  const { promise, resolve, reject } = Promise.withResolvers<BackendInfo>()
  const onError = (err: Error): void => { reject(err) }
  const onExit = (code: number): void => {
    reject(new TrainerWorkerError(`training worker exited with code ${code} while starting`))
  }
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
