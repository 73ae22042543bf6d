/**
 * Training (DESIGN sections 3-5): one expert on one cluster, the router over all clusters,
 * and DDPM -> FM initialisation. Decisions and formats: docs/TRAINING.md.
 *
 * - {@link createTrainer} builds the Trainer service: `start()` spawns a worker thread with its
 *   own tfjs backend, `run(job, { signal, onProgress })` trains one {@link ExpertJob} there and
 *   relays `hddm:train:step` {step, loss, imagesPerSecond, etaSeconds, ...},
 *   `hddm:train:checkpoint` {step, path} and `hddm:train:done`; aborting (or `stop()`) makes
 *   the worker write a last checkpoint first. {@link trainExpert} is the same loop in-thread.
 * - Checkpoints (`<outDir>/checkpoint.safetensors`, written atomically) hold the EMA weights
 *   under plain names, raw weights under `raw.`, Adam moments under `adam.m.`/`adam.v.`, and
 *   in `extra.trainer` every random stream's position: a job with `resume` set continues the
 *   same run draw for draw. {@link publishableCheckpoint} keeps the EMA weights and metadata
 *   only (what goes into IPFS); {@link loadExpert} turns either kind into a DiT + objective.
 * - A job with `init` set starts from another checkpoint; a DDPM expert into an FM expert keeps
 *   everything but the final layer and feeds the network the SNR-matched DDPM step
 *   (`extra.timeInput: 'ddpm-snr'`, or the paper's round(999 t), 'ddpm-naive').
 * - {@link trainRouter} trains the router on FM-noised images at the clusters' natural
 *   frequencies and reports held-out accuracy per flow-time bucket.
 *
 * @example
 * ```ts
 * const trainer = createTrainer({ backend: 'auto' })
 * await trainer.start()
 * const job = { shard, preset: 'small', objective: 'fm', outDir: 'out', training: { steps: 2000 } }
 * const result = await trainer.run(job, {
 *   signal, onProgress: e => { if (e.type === 'hddm:train:step') console.log(e.detail.step, e.detail.loss) }
 * })
 * const expert = publishableCheckpoint(await readCheckpointFile(result.path))
 * await trainer.stop()
 * ```
 */
export * from './errors.js'
export { TRAINING_DEFAULTS, resolveTrainingConfig, type ExpertTrainingConfig, type LrSchedule } from './config.js'
export { learningRateAt } from './lr-schedule.js'
export { Ema } from './ema.js'
export { Adam, type AdamInit } from './adam.js'
export {
  expertTrainStep, clipGradients, type StepOptimizer, type ExpertBatch, type StepRandomness, type StepResult
} from './train-step.js'
export {
  trainExpert, CHECKPOINT_FILE, type ExpertJob, type TrainExpertOptions, type TrainProgressEvents, type TrainResult,
  type TrainStepDetail
} from './expert-run.js'
export { Trainer, createTrainer, type TrainerInit, type TrainOptions, type TrainerStatus } from './trainer.js'
export { readTrainerState, type TrainerState } from './trainer-state.js'
export { initFlowFromDdpm, initFromCheckpoint, REINITIALISED_PREFIX } from './ddpm-to-fm.js'
export { routerTrainStep, type RouterBatch, type RouterStepRandomness } from './router-step.js'
export {
  trainRouter, routerCheckpoint, ROUTER_TRAINING_DEFAULTS,
  type RouterJob, type RouterTrainingConfig, type RouterTrainResult, type RouterProgressEvents, type TrainRouterOptions
} from './router-trainer.js'
