/**
 * `hddm-node train`: clusters a dataset (the same pipeline and seed as `data cluster`, so the
 * shard is the run's), trains one expert on one cluster's shard in a worker thread, and writes
 * a resumable checkpoint plus the publishable EMA export into --out.
 */
import { join, resolve } from 'node:path'
import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import { buildShards, clusterDataset, encodeShard, loadDataset } from '../data/index.js'
import { AbortError, InvalidArgumentError } from '../errors.js'
import { EXPERT_PRESETS } from '../model/config.js'
import { BACKEND_CHOICES, type BackendChoice } from '../runtime/backend.js'
import { encodeCheckpoint, decodeCheckpoint } from '../checkpoint/format.js'
import { clusteringFeaturesFor } from '../training/clustering-encoder.js'
import { publishableCheckpoint } from '../checkpoint/publishable.js'
import { CHECKPOINT_FILE, type ExpertJob, type TrainProgressEvents, type TrainResult } from '../training/expert-run.js'
import { readCheckpointBytes, readCheckpointFile, writeFileAtomic } from '../checkpoint/file.js'
import { createTrainer } from '../training/trainer.js'
import type { LrSchedule } from '../training/config.js'
import type { RegisterCommand } from './register-command.js'
import { backendOption, choiceOption, integerOption, numberOption } from './options.js'

/** The publishable export's file name inside --out. */
export const EXPERT_FILE = 'expert.safetensors'

interface TrainCommandOptions {
  dataset: string
  features?: 'encoder' | 'pca'
  k: number
  cluster: number
  dataSeed: number
  fine: number
  heldOut: number
  objective: 'fm' | 'ddpm'
  preset: string
  steps: number
  batch: number
  lr?: number
  warmup?: number
  lrSchedule?: LrSchedule
  checkpointEvery?: number
  minSnrGamma?: number
  seed: number
  out: string
  init?: string
  timeInput?: 'ddpm-snr' | 'ddpm-naive'
  resume: boolean
  backend: BackendChoice
  json: boolean
}

export const registerTrain: RegisterCommand = (program: Command) => {
  program.command('train')
    .description('Train one expert on one data cluster (in a worker thread); ' +
      'resumable checkpoints and the publishable EMA export go to --out')
    .option('--dataset <spec>', 'mnist[:test] | fashion-mnist[:test] | idx:<images>,<labels> | folder:<dir>', 'mnist')
    .option('--features <kind>',
      'clustering features: encoder (shipped for mnist and fashion-mnist; the default there) | pca',
      choiceOption('--features', ['encoder', 'pca'] as const))
    .requiredOption('--k <n>', 'number of clusters K', integerOption('--k', 1))
    .requiredOption('--cluster <i>', 'the cluster to train on, in [0, K)', integerOption('--cluster', 0))
    .option('--data-seed <n>', 'seed of the clustering and held-out split (as `data cluster --seed`)',
      integerOption('--data-seed'), 0)
    .option('--fine <n>', 'fine centroids before the coarse stage', integerOption('--fine', 1), 128)
    .option('--held-out <fraction>', 'fraction of each cluster held out', numberOption('--held-out', 0), 0.05)
    .option('--objective <name>', 'fm (flow matching) or ddpm (eps-prediction)',
      choiceOption('--objective', ['fm', 'ddpm'] as const), 'fm')
    .option('--preset <name>', `expert shape: ${Object.keys(EXPERT_PRESETS).join(' | ')}`, 'small')
    .option('--steps <n>', 'optimizer updates in the whole run', integerOption('--steps', 1), 1000)
    .option('--batch <n>', 'batch size', integerOption('--batch', 1), 32)
    .option('--lr <rate>', 'peak learning rate (default 5e-4)', numberOption('--lr', 0))
    .option('--warmup <n>', 'linear warm-up steps (default 100)', integerOption('--warmup', 0))
    .option('--lr-schedule <kind>', 'constant or cosine after warm-up',
      choiceOption('--lr-schedule', ['constant', 'cosine'] as const))
    .option('--checkpoint-every <n>', 'steps between resumable checkpoints (default 500)',
      integerOption('--checkpoint-every', 1))
    .option('--min-snr-gamma <g>', 'DDPM experts: min-SNR-gamma loss weighting (e.g. 5; default 0, the plain eps loss)',
      numberOption('--min-snr-gamma', 0))
    .option('--seed <n>', 'training seed (init, batches, dropout, times, noise)', integerOption('--seed'), 1)
    .requiredOption('--out <dir>', 'output directory')
    .option('--init <checkpoint>', 'start from a checkpoint: same objective = warm start, ' +
      'a DDPM expert for --objective fm = DDPM -> FM initialisation')
    .option('--time-input <map>',
      'with a DDPM --init of an FM expert: ddpm-snr (SNR-matched step) or ddpm-naive (round(999 t))',
      choiceOption('--time-input', ['ddpm-snr', 'ddpm-naive'] as const))
    .option('--resume', `continue from <out>/${CHECKPOINT_FILE}`, false)
    .option('--backend <name>', BACKEND_CHOICES.join(' | '), backendOption, 'auto')
    .option('--json', 'JSON lines on stdout instead of a progress bar', false)
    .action(async (options: TrainCommandOptions) => { await trainCommand(options) })
}

async function trainCommand (o: TrainCommandOptions): Promise<void> {
  if (o.cluster >= o.k) throw new InvalidArgumentError(`--cluster ${o.cluster} is not below --k ${o.k}`)
  if (!Object.hasOwn(EXPERT_PRESETS, o.preset)) {
    const presets = Object.keys(EXPERT_PRESETS).join(', ')
    throw new InvalidArgumentError(`unknown --preset ${o.preset} (expected ${presets})`)
  }
  if (o.resume && o.init !== undefined) throw new InvalidArgumentError('--resume and --init exclude each other')
  if (o.timeInput !== undefined && o.init === undefined) {
    throw new InvalidArgumentError('--time-input needs --init <ddpm checkpoint>')
  }
  const out = resolve(o.out)
  const checkpointPath = join(out, CHECKPOINT_FILE)
  const resume = o.resume ? await readCheckpointBytes(checkpointPath) : undefined
  const init = o.init !== undefined ? await readCheckpointBytes(resolve(o.init)) : undefined
  if (init !== undefined) decodeCheckpoint(init) // a corrupt file fails here, before clustering

  const report = reporter(o.json)
  const features = await clusteringFeaturesFor(o.dataset, o.features)
  report.note('clustering', { dataset: o.dataset, k: o.k, seed: o.dataSeed, features: features.description })
  const dataset = await loadDataset(o.dataset)
  const clustering = await clusterDataset(dataset, { k: o.k, seed: o.dataSeed, fine: o.fine, features: features.map })
  const shard = buildShards(dataset, clustering, { heldOutFraction: o.heldOut, seed: o.dataSeed })[o.cluster].train
  const job: ExpertJob = {
    shard: encodeShard(shard),
    preset: o.preset,
    objective: o.objective,
    outDir: out,
    training: {
      steps: o.steps, batchSize: o.batch, learningRate: o.lr, warmupSteps: o.warmup, lrSchedule: o.lrSchedule,
      checkpointEvery: o.checkpointEvery, minSnrGamma: o.minSnrGamma, seed: o.seed
    },
    ...(resume !== undefined ? { resume } : {}),
    ...(init !== undefined ? { init } : {}),
    ...(o.timeInput !== undefined ? { timeInput: o.timeInput } : {})
  }

  const trainer = createTrainer({ backend: o.backend })
  const controller = new AbortController()
  const interrupt = (): void => { controller.abort() }
  process.once('SIGINT', interrupt)
  process.once('SIGTERM', interrupt)
  const started = performance.now()
  let result: TrainResult | undefined
  try {
    await trainer.start()
    report.note('training', {
      cluster: o.cluster, images: shard.header.count, preset: o.preset, objective: o.objective,
      backend: trainer.backend?.name, resume: o.resume
    })
    result = await trainer.run(job, { signal: controller.signal, onProgress: report.progress })
  } catch (err) {
    if (!(err instanceof AbortError)) throw err
  } finally {
    report.close()
    process.off('SIGINT', interrupt)
    process.off('SIGTERM', interrupt)
    await trainer.stop()
  }
  const checkpoint = await readCheckpointFile(checkpointPath)
  const expertPath = join(out, EXPERT_FILE)
  await writeFileAtomic(expertPath, encodeCheckpoint(publishableCheckpoint(checkpoint)))
  const summary = {
    step: checkpoint.metadata.step, steps: o.steps, loss: result?.loss ?? null, aborted: result === undefined,
    checkpoint: checkpointPath, expert: expertPath, wallSeconds: (performance.now() - started) / 1000
  }
  report.done(summary)
  // An interrupted run exits like an interrupted shell command; it resumes with --resume.
  if (result === undefined) process.exitCode = 130
}


interface Reporter {
  note: (what: string, detail: Record<string, unknown>) => void
  progress: (event: TrainProgressEvents) => void
  close: () => void
  done: (summary: Record<string, unknown>) => void
}

const BAR_FORMAT = 'train |{bar}| {value}/{total} loss {loss} {ips} img/s eta {eta_formatted}'

/** JSON lines on stdout (--json), a progress bar on a terminal, else a line per checkpoint. */
function reporter (json: boolean): Reporter {
  if (json) {
    const line = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n') }
    return {
      note: (what, detail) => { line({ event: what, ...detail }) },
      progress: e => { line({ event: e.type.replace('hddm:train:', ''), ...e.detail }) },
      close: () => {},
      done: summary => { line({ event: 'summary', ...summary }) }
    }
  }
  const tty = process.stderr.isTTY === true
  let bar: cliProgress.SingleBar | undefined
  let loss = NaN
  return {
    note: (what, detail) => {
      const fields = Object.entries(detail).map(([k, v]) => `${k}=${String(v)}`).join(' ')
      process.stderr.write(`${what} ${fields}\n`)
    },
    progress: e => {
      if (e.type === 'hddm:train:step') {
        const d = e.detail
        loss = d.loss
        if (tty) {
          bar ??= new cliProgress.SingleBar(
            { format: BAR_FORMAT, stream: process.stderr }, cliProgress.Presets.shades_classic)
          if (!bar.isActive) bar.start(d.steps, d.step - 1, { loss: '-', ips: '-' })
          bar.update(d.step, { loss: d.loss.toFixed(4), ips: d.imagesPerSecond.toFixed(0) })
        }
      } else if (e.type === 'hddm:train:checkpoint' && !tty) {
        process.stderr.write(`checkpoint step=${e.detail.step} loss=${loss.toFixed(4)} path=${e.detail.path}\n`)
      }
    },
    close: () => { bar?.stop() },
    done: summary => {
      process.stdout.write(Object.entries(summary).map(([k, v]) => `${k}: ${String(v)}`).join('\n') + '\n')
    }
  }
}
