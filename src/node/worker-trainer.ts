/**
 * The node's TaskTrainer over src/training's worker-thread Trainer: a manifest task becomes an
 * expert job (the run's preset and budget, a per-task seed), checkpoints stay in the task's
 * directory, and what is announced is the resumable file while training and the publishable
 * export at the end.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { readCheckpointStep } from '../checkpoint/file.js'
import { join } from 'node:path'
import { AbortError } from '../hddm-error.js'
import { silentLogger, type Logger } from '../logger.js'
import { CustomProgressEvent } from '../progress.js'
import { decodeCheckpoint, encodeCheckpoint } from '../checkpoint/format.js'
import { publishableCheckpoint } from '../checkpoint/publishable.js'
import { CHECKPOINT_FILE, type ExpertJob, type TrainResult } from '../training/expert-run.js'
import { createTrainer, type Trainer } from '../training/trainer.js'
import type { HeldOutJob } from '../training/worker-protocol.js'
import { UnsupportedTaskError } from './errors.js'
import { routerHeldOutError } from '../checkpoint/router-score.js'
import { ROUTER_FILE, trainRouterTask } from './router-task.js'
import type {
  CheckpointExport, LocalCheckpoint, TaskTrainer, TaskTrainOptions, TaskTrainRequest, TaskTrainResult
} from './task-trainer.js'
import type { BackendChoice } from '../runtime/backend.js'
import { budgetOf, type RunTask } from '../protocol/run-manifest.js'

export interface WorkerTaskTrainerInit {
  /** The worker's tfjs backend. @default 'auto' */
  backend?: BackendChoice
  threads?: number
  /**
   * Backend of the held-out evaluation thread; small models evaluate fine on cpu.
   * @default 'webgpu' when the training worker runs on webgpu, else 'cpu'
   */
  evalBackend?: BackendChoice
  logger?: Logger
}

export class WorkerTaskTrainer implements TaskTrainer {
  private readonly init: WorkerTaskTrainerInit
  private readonly log: Logger
  private trainer?: Trainer

  constructor (init: WorkerTaskTrainerInit = {}) {
    this.init = init
    this.log = (init.logger ?? silentLogger).child('trainer')
  }

  supports (task: RunTask): boolean {
    return task.kind === 'expert' || task.kind === 'router'
  }

  async train (request: TaskTrainRequest, options: TaskTrainOptions = {}): Promise<TaskTrainResult> {
    const trainer = await this.worker()
    if (request.task.kind === 'router') return await trainRouterTask(request, trainer, options)
    const job = await expertJob(request)
    let last: TrainResult | undefined
    try {
      const result = await trainer.run(job, {
        signal: options.signal,
        onProgress: (evt) => {
          if (evt.type === 'hddm:train:step') {
            const { step, steps, loss, imagesPerSecond, etaSeconds } = evt.detail
            const detail = { step, totalSteps: steps, loss, imagesPerSecond, etaSeconds }
            options.onProgress?.(new CustomProgressEvent('hddm:train:step', detail))
          } else if (evt.type === 'hddm:train:checkpoint') {
            const final = evt.detail.step >= job.training!.steps!
            options.onProgress?.(new CustomProgressEvent('hddm:train:checkpoint', { ...evt.detail, final }))
          } else {
            last = evt.detail
          }
        }
      })
      return { step: result.step, path: result.path, completed: !result.aborted }
    } catch (err) {
      // An abort still leaves a last checkpoint (the worker writes it before it reports).
      if ((err as Error).name === AbortError.name && last !== undefined) {
        return { step: last.step, path: last.path, completed: false }
      }
      throw err
    }
  }

  async latest (dir: string): Promise<LocalCheckpoint | undefined> {
    for (const path of [join(dir, CHECKPOINT_FILE), join(dir, ROUTER_FILE)]) {
      const step = await readCheckpointStep(path)
      if (step !== undefined) return { path, step }
    }
    return undefined
  }

  async export (request: TaskTrainRequest, path: string, final: boolean): Promise<CheckpointExport> {
    const bytes = await readFile(path)
    const checkpoint = decodeCheckpoint(bytes)
    if (checkpoint.metadata.network === 'router') {
      return { bytes, step: checkpoint.metadata.step, heldOutLoss: routerHeldOutError(checkpoint) }
    }
    // The training worker records the held-out loss in every checkpoint it writes; a checkpoint
    // without one (written by an older version) is scored in a thread of its own.
    const recorded = checkpoint.metadata.extra?.heldOutLoss
    let heldOutLoss: number
    if (typeof recorded === 'number') {
      heldOutLoss = recorded
    } else {
      const started = performance.now()
      const job = { checkpoint: bytes, heldOut: request.shards[0].heldOut, evaluation: request.manifest.eval }
      heldOutLoss = await this.scoreInThread(job)
      const ms = Math.round(performance.now() - started)
      this.log.debug('held-out loss', { task: request.task.id, step: checkpoint.metadata.step, heldOutLoss, ms })
    }
    return {
      bytes: final ? encodeCheckpoint(publishableCheckpoint(checkpoint)) : bytes,
      step: checkpoint.metadata.step,
      heldOutLoss
    }
  }

  async stop (): Promise<void> {
    await this.trainer?.stop()
    this.trainer = undefined
  }

  /**
   * A held-out loss in a short-lived thread of its own: the main thread must keep heartbeats and
   * leases on time, and the training thread may be busy. (A long-lived evaluator thread next to
   * the native training thread stalled both in a 3-process simulation; one per evaluation did not.)
   */
  private async scoreInThread (job: HeldOutJob): Promise<number> {
    // On webgpu the GPU scores too (a contributor chose it for the model size), in a device of its own.
    const gpu = this.trainer?.backend?.name === 'webgpu'
    const backend = this.init.evalBackend ?? (gpu ? 'webgpu' : 'cpu')
    const scorer = createTrainer({ backend, threads: 1, logger: this.init.logger })
    await scorer.start()
    try {
      return await scorer.heldOutLoss(job)
    } finally {
      await scorer.stop()
    }
  }

  private async worker (): Promise<Trainer> {
    if (this.trainer === undefined) {
      const { backend, threads, logger } = this.init
      const trainer = createTrainer({ backend, threads, logger })
      await trainer.start()
      this.trainer = trainer
    }
    return this.trainer
  }
}

export function createWorkerTaskTrainer (init: WorkerTaskTrainerInit = {}): WorkerTaskTrainer {
  return new WorkerTaskTrainer(init)
}

async function expertJob (request: TaskTrainRequest): Promise<ExpertJob> {
  const { task, manifest } = request
  if (task.kind !== 'expert') {
    throw new UnsupportedTaskError(`task ${task.id}: router training is not available in this version`)
  }
  const budget = budgetOf(manifest, task)
  return {
    shard: request.shards[0].train,
    preset: manifest.model.expert,
    objective: task.objective,
    training: {
      steps: budget.steps,
      batchSize: budget.batchSize,
      learningRate: budget.lr,
      warmupSteps: budget.warmupSteps,
      checkpointEvery: budget.checkpointEvery,
      emaDecay: budget.emaDecay,
      promptDropout: budget.promptDropout,
      minSnrGamma: budget.minSnrGamma,
      seed: taskSeed(manifest.seed, task.id)
    },
    outDir: request.dir,
    resume: request.resumeFrom === undefined ? undefined : await readFile(request.resumeFrom),
    init: request.initFrom === undefined ? undefined : await readFile(request.initFrom),
    timeInput: task.init?.timeMap === 'round' ? 'ddpm-naive' : 'ddpm-snr',
    run: request.runId,
    heldOut: { shard: request.shards[0].heldOut, evaluation: manifest.eval }
  }
}

/** Each task trains with its own seed, derived from the run's, so anyone re-running it gets the same stream. */
export function taskSeed (runSeed: number, task: string): number {
  return createHash('sha256').update(`${runSeed}/${task}`).digest().readUInt32BE(0) >>> 1
}
