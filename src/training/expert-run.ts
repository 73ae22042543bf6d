/**
 * The expert training loop (minGPT's trainer: defaults in one config, an explicit loop, named
 * stop conditions, events instead of callbacks). It runs wherever it is called: the Trainer
 * service runs it in a worker thread; tests may call it directly.
 *
 * Every random draw comes from a seeded stream whose position is saved: batch order and
 * prompt dropout (ShardBatcher), time draws u and per-step noise seeds. Resuming a
 * checkpoint replays exactly the draws the uninterrupted run would have made.
 */
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { ShardBatcher } from '../data/batcher.js'
import { Random } from '../data/random.js'
import { decodeShard, shardDigest, type Shard } from '../data/shard.js'
import { Tokenizer } from '../data/tokenizer.js'
import type { ObjectiveName } from '../diffusion/objectives/objective.js'
import { DiT } from '../model/dit.js'
import { checkDeviceFit } from '../model/buffer-fit.js'
import { throwIfAborted } from '../hddm-error.js'
import { CustomProgressEvent, type AbortOptions, type ProgressEvent, type ProgressOptions } from '../progress.js'
import {
  assignParams, CHECKPOINT_FORMAT, encodeCheckpoint, paramsToTensors, type Checkpoint
} from '../checkpoint/format.js'
import { ShapeMismatchError } from '../checkpoint/errors.js'
import { Adam } from './adam.js'
import { writeFileAtomic } from '../checkpoint/file.js'
import type { ExpertTrainingConfig } from './config.js'
import { initFlowFromDdpm, initFromCheckpoint } from './ddpm-to-fm.js'
import { Ema } from './ema.js'
import { NonFiniteLossError } from './errors.js'
import { expertStart, runModelConfig } from './expert-start.js'
import { publishableCheckpoint, RAW_PREFIX } from '../checkpoint/publishable.js'
import type { TrainerState } from './trainer-state.js'
import { createObjective, type TimeInput } from '../diffusion/objectives/factory.js'
import { expertConfig, type ExpertExtra } from '../checkpoint/expert.js'
import { DEFAULT_SCHEDULE, type ScheduleSpec } from '../diffusion/schedule.js'
import { expertHeldOutLoss, type HeldOutEval } from '../checkpoint/expert-score.js'
import { learningRateAt } from './lr-schedule.js'
import { expertTrainStep } from './train-step.js'

/** The resumable checkpoint's file name inside the output directory. */
export const CHECKPOINT_FILE = 'checkpoint.safetensors'

export interface ExpertJob {
  /** The encoded train shard of the expert's cluster (data/shard.ts). */
  shard: Uint8Array
  preset: string
  objective: ObjectiveName
  training?: Partial<ExpertTrainingConfig>
  /** Directory of the resumable checkpoint (created if missing). */
  outDir: string
  /**
   * A resumable checkpoint of this same run to continue. Its training config wins, except
   * `steps` and `checkpointEvery`.
   */
  resume?: Uint8Array
  /**
   * Checkpoint to start from: same objective = warm start; a DDPM expert into an FM one =
   * DDPM -> FM initialisation.
   */
  init?: Uint8Array
  /** With a DDPM init of an FM expert: how the network reads time (default 'ddpm-snr'). */
  timeInput?: Exclude<TimeInput, 'fm'>
  /** Run id (the run manifest's CID), recorded in the checkpoint. */
  run?: string
  /**
   * The cluster's held-out shard: each checkpoint then records the held-out loss of its EMA
   * weights (checkpoint/expert-score.ts), computed here between steps on the training backend.
   */
  heldOut?: { shard: Uint8Array, evaluation: HeldOutEval }
}

export interface TrainStepDetail {
  step: number
  steps: number
  loss: number
  gradNorm: number
  learningRate: number
  imagesPerSecond: number
  etaSeconds: number
}

export interface TrainResult {
  /** Updates applied in total (including those before a resume). */
  step: number
  steps: number
  /** Loss of the last update (NaN if none ran). */
  loss: number
  /** The last resumable checkpoint. */
  path: string
  /** True when stopped through the signal before `steps`. */
  aborted: boolean
}

export type TrainProgressEvents =
  | ProgressEvent<'hddm:train:step', TrainStepDetail>
  | ProgressEvent<'hddm:train:checkpoint', { step: number, path: string, heldOutLoss?: number }>
  | ProgressEvent<'hddm:train:done', TrainResult>

export interface TrainExpertOptions extends AbortOptions, ProgressOptions<TrainProgressEvents> {}

export async function trainExpert (job: ExpertJob, options: TrainExpertOptions = {}): Promise<TrainResult> {
  const run = ExpertRun.create(job)
  try {
    return await run.train(options)
  } finally {
    run.dispose()
  }
}

/** One expert's model, optimizer, EMA and random streams, from a fresh start or a checkpoint. */
class ExpertRun {
  private readonly batcher: ShardBatcher
  private readonly timeRandom: Random
  private readonly noiseRandom: Random
  private readonly ema: Ema
  private readonly adam: Adam
  private step = 0
  private loss = NaN

  private constructor (
    private readonly job: ExpertJob,
    private readonly shard: Shard,
    private readonly dataDigest: string,
    private readonly training: ExpertTrainingConfig,
    private readonly model: DiT,
    private readonly timeInput: TimeInput,
    private readonly schedule: ScheduleSpec | undefined,
    private readonly initNote: Record<string, unknown> | undefined,
    resume: { checkpoint: Checkpoint, state: TrainerState } | undefined
  ) {
    const t = training
    this.ema = new Ema(model.params, t.emaDecay)
    const { learningRate, beta1, beta2, epsilon, weightDecay } = t
    this.adam = new Adam(model.params, { learningRate, beta1, beta2, epsilon, weightDecay })
    this.batcher = new ShardBatcher(shard, { batchSize: t.batchSize, seed: t.seed, promptDropout: t.promptDropout })
    this.timeRandom = Random.derive(t.seed, 'train/time')
    this.noiseRandom = Random.derive(t.seed, 'train/noise')
    if (resume !== undefined) this.restore(resume.checkpoint, resume.state)
  }

  static create (job: ExpertJob): ExpertRun {
    const shard = decodeShard(job.shard)
    const dataDigest = shardDigest(job.shard)
    const tokenizer = Tokenizer.fromJSON(shard.header.tokenizer)
    const config = expertConfig(job.preset, tokenizer)
    const { width, height, channels } = shard.header
    if (width !== config.imageSize || height !== config.imageSize || channels !== config.channels) {
      const images = `${width}x${height}x${channels}`
      const takes = `${config.imageSize}x${config.imageSize}x${config.channels}`
      throw new ShapeMismatchError(`shard images are ${images}, preset "${job.preset}" takes ${takes}`)
    }
    const start = expertStart(job, dataDigest)
    const { training, timeInput, schedule, resume, init, initNote } = start
    const { config: runConfig, adapted } = runModelConfig(config, start)
    checkDeviceFit(runConfig, training.batchSize)   // on webgpu: a tensor over the device's buffer limit fails here
    const model = new DiT(runConfig, training.seed)
    try {
      if (init !== undefined) {
        if (init.metadata.objective === job.objective) initFromCheckpoint(model, init, adapted)
        else initFlowFromDdpm(model, init, adapted)
      }
      return new ExpertRun(job, shard, dataDigest, training, model, timeInput, schedule, initNote, resume)
    } catch (err) {
      model.dispose()
      throw err
    }
  }

  async train (options: TrainExpertOptions): Promise<TrainResult> {
    const { steps, batchSize, checkpointEvery } = this.training
    const { timeInput, training: { minSnrGamma, clipNorm } } = this
    const objective = createObjective(this.job.objective, { timeInput, minSnrGamma, schedule: this.schedule })
    const path = join(this.job.outDir, CHECKPOINT_FILE)
    await mkdir(this.job.outDir, { recursive: true })
    let secondsPerStep: number | undefined
    let saved = this.step
    while (this.step < steps && options.signal?.aborted !== true) {
      const started = performance.now()
      const batch = this.batcher.next()
      const u = Float32Array.from({ length: batchSize }, () => this.timeRandom.nextFloat())
      const noiseSeed = this.noiseRandom.nextUint32()
      this.adam.learningRate = learningRateAt(this.step, this.training)
      const { loss, gradNorm } = expertTrainStep(this.model, objective, this.adam, batch, { u, noiseSeed }, clipNorm)
      if (!Number.isFinite(loss)) throw new NonFiniteLossError(`loss is ${loss} at step ${this.step + 1}`)
      this.ema.update()
      this.step += 1
      this.loss = loss
      const elapsed = (performance.now() - started) / 1000
      // The first step pays for kernel warm-up; smooth the rest so the ETA does not jitter.
      secondsPerStep = secondsPerStep === undefined ? elapsed : 0.9 * secondsPerStep + 0.1 * elapsed
      options.onProgress?.(new CustomProgressEvent('hddm:train:step', {
        step: this.step, steps, loss, gradNorm, learningRate: this.adam.learningRate,
        imagesPerSecond: batchSize / secondsPerStep, etaSeconds: (steps - this.step) * secondsPerStep
      }))
      if (this.step % checkpointEvery === 0 || this.step === steps) {
        await this.save(path, options)
        saved = this.step
      }
      // Let the worker's message port deliver a stop request between steps.
      await new Promise(resolve => setImmediate(resolve))
    }
    if (saved !== this.step || this.step === 0) await this.save(path, options)
    const result: TrainResult = { step: this.step, steps, loss: this.loss, path, aborted: this.step < steps }
    options.onProgress?.(new CustomProgressEvent('hddm:train:done', result))
    if (result.aborted) throwIfAborted(options.signal)
    return result
  }

  checkpoint (): Checkpoint {
    const tensors = this.ema.toTensors()
    paramsToTensors(this.model.params, RAW_PREFIX, tensors)
    this.adam.toTensors(tensors)
    const { header } = this.shard
    const trainer: TrainerState = {
      version: 1,
      step: this.step,
      adamStep: this.adam.step,
      emaUpdates: this.ema.updates,
      random: { time: this.timeRandom.getState(), noise: this.noiseRandom.getState() },
      batcher: this.batcher.getState(),
      loss: this.loss
    }
    const readsSchedule = this.job.objective === 'ddpm' || this.timeInput !== 'fm'
    const extra: ExpertExtra = {
      tokenizer: header.tokenizer,
      ...(this.timeInput !== 'fm' ? { timeInput: this.timeInput } : {}),
      dataset: header.dataset,
      k: header.k,
      clusteringDigest: header.clusteringDigest,
      emaDecay: this.ema.decayAt(this.ema.updates),
      ...(this.initNote !== undefined ? { init: this.initNote } : {}),
      training: this.training,
      trainer
    }
    return {
      metadata: {
        format: CHECKPOINT_FORMAT,
        network: 'expert',
        config: { ...this.model.config },
        preset: this.job.preset,
        objective: this.job.objective,
        ...(readsSchedule ? { schedule: { ...(this.schedule ?? DEFAULT_SCHEDULE) } } : {}),
        cluster: header.cluster,
        step: this.step,
        ...(this.job.run !== undefined ? { run: this.job.run } : {}),
        dataDigest: this.dataDigest,
        extra
      },
      tensors
    }
  }

  private async save (path: string, options: TrainExpertOptions): Promise<void> {
    const checkpoint = this.checkpoint()
    const heldOut = this.job.heldOut
    let heldOutLoss: number | undefined
    if (heldOut !== undefined) {
      heldOutLoss = expertHeldOutLoss(publishableCheckpoint(checkpoint), heldOut.shard, heldOut.evaluation)
      checkpoint.metadata.extra = { ...checkpoint.metadata.extra, heldOutLoss }
    }
    await writeFileAtomic(path, encodeCheckpoint(checkpoint))
    const detail = { step: this.step, path, ...(heldOutLoss !== undefined ? { heldOutLoss } : {}) }
    options.onProgress?.(new CustomProgressEvent('hddm:train:checkpoint', detail))
  }

  private restore (checkpoint: Checkpoint, state: TrainerState): void {
    assignParams(this.model.params, checkpoint.tensors, RAW_PREFIX)
    this.ema.load(checkpoint.tensors)
    this.ema.updates = state.emaUpdates
    this.adam.load(checkpoint.tensors, state.adamStep)
    this.batcher.setState(state.batcher)
    this.timeRandom.setState(state.random.time)
    this.noiseRandom.setState(state.random.noise)
    this.step = state.step
    this.loss = state.loss
  }

  dispose (): void {
    this.adam.dispose()
    this.ema.dispose()
    this.model.dispose()
  }
}
