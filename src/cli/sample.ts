/**
 * `hddm-node sample`: one row of images per prompt into a PNG grid, either from one expert
 * checkpoint file (`--checkpoint`, resumable or publishable; the EMA weights), or from an
 * ensemble by its CID (`--ensemble`), drawn here or by a peer (sample-ensemble.ts).
 */
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { imageGrid } from '../data/png.js'
import { BACKEND_CHOICES, disposeBackend, initBackend } from '../runtime/backend.js'
import { readCheckpointFile } from '../checkpoint/file.js'
import { loadExpert } from '../checkpoint/expert.js'
import { sampleExpert } from '../ensemble/sample.js'
import type { RegisterCommand } from './register-command.js'
import {
  allowPeerOption, backendOption, choiceOption, collect, integerOption, logFormatOption, numberOption, scopeOption,
  swarmKeyOption
} from './options.js'
import { InvalidArgumentError } from '../errors.js'
import { createLogger, type LogFormat } from '../logger.js'
import { loadBootstrapList } from '../network/bootstrap-list.js'
import type { EnsembleSampleOptions } from './sample-ensemble.js'

/** The flags of both paths; sample-ensemble.ts takes the ensemble ones, resolved. */
interface SampleCommandOptions extends Omit<EnsembleSampleOptions, 'ensemble' | 'bootstrap' | 'logger'> {
  checkpoint?: string
  ensemble?: string
  bootstrap?: string[]
  bootstrapList?: string
  logFormat?: LogFormat
  preset?: string
}

export const registerSample: RegisterCommand = (program: Command) => {
  program.command('sample')
    .description('Sample one expert checkpoint, or an ensemble by CID (here or on a peer), ' +
      'into a PNG grid (one row per prompt)')
    .option('--checkpoint <file>', 'expert checkpoint (.safetensors)')
    .option('--ensemble <cid>',
      'ensemble manifest CID (from hddm-node ensemble); blocks missing here are fetched from the swarm')
    .requiredOption('--prompt <text>', 'a prompt; repeat for several rows', collect)
    .option('-n, --n <count>', 'images per prompt', integerOption('-n', 1), 8)
    .option('--steps <n>', 'sampler steps', integerOption('--steps', 1), 50)
    .option('--sampler <name>', 'euler or heun', choiceOption('--sampler', ['euler', 'heun'] as const), 'euler')
    .option('--guidance <w>', 'classifier-free guidance scale (1 = none)', numberOption('--guidance', 0), 3)
    .option('--seed <n>', 'noise seed', integerOption('--seed'), 1)
    .option('--routing <rule>', 'ensemble routing: full | top1 | top2 | threshold:p (default: the manifest\'s)')
    .option('--preset <name>', 'refuse a checkpoint of another preset')
    .option('--scale <k>', 'integer upscaling of each tile in the PNG', integerOption('--scale', 1), 2)
    .requiredOption('--out <file>', 'PNG to write')
    .option('--out-dir <dir>', 'ensemble: also write one PNG per image here')
    .option('--peer <multiaddr>', 'ensemble: ask this peer to draw over /hddm/sample/1.0.0 (/ip4/.../tcp/.../p2p/<id>)')
    .option('--bootstrap <multiaddr>', 'ensemble, local: peers to fetch missing blocks from ' +
      '(repeatable; default: the bootstrap list file)', collect)
    .option('--bootstrap-list <file>', 'bootstrap list file (default: bootstrap/peers.json of the package)')
    .option('--data-dir <dir>', 'ensemble: blocks and identity (default .hddm; with --peer a throwaway identity)')
    .option('--scope <scope>', 'ensemble: loopback | private | any', scopeOption, 'any')
    .addOption(swarmKeyOption())
    .addOption(allowPeerOption())
    .option('--timeout <ms>', 'ensemble: deadline for fetching its blocks, or for the peer\'s answer',
      integerOption('--timeout', 1), 600_000)
    .option('--log-format <format>', 'ensemble: human | json (logs on stderr; none by default)', logFormatOption)
    .option('--backend <name>', BACKEND_CHOICES.join(' | '), backendOption, 'auto')
    .option('--json', 'print one JSON object', false)
    .action(async (options: SampleCommandOptions) => { await sampleCommand(options) })
}

async function sampleCommand (o: SampleCommandOptions): Promise<void> {
  if ((o.checkpoint === undefined) === (o.ensemble === undefined)) {
    throw new InvalidArgumentError('give exactly one of --checkpoint <file> or --ensemble <cid>')
  }
  if (o.ensemble !== undefined) {
    const { sampleEnsembleCommand } = await import('./sample-ensemble.js')
    await sampleEnsembleCommand({
      ...o,
      ensemble: o.ensemble,
      bootstrap: o.peer !== undefined ? [] : o.bootstrap ?? await loadBootstrapList(o.bootstrapList),
      logger: o.logFormat === undefined ? undefined : createLogger({ format: o.logFormat })
    })
    return
  }
  const ensembleOnly = [
    ['--routing', o.routing], ['--out-dir', o.outDir], ['--peer', o.peer],
    ['--swarm-key', o.swarmKey], ['--allow-peer', o.allowPeer]
  ] as const
  for (const [flag, value] of ensembleOnly) {
    if (value !== undefined) throw new InvalidArgumentError(`${flag} applies to --ensemble only`)
  }
  const checkpoint = await readCheckpointFile(resolve(o.checkpoint!))
  await initBackend({ backend: o.backend })
  const expert = loadExpert(checkpoint, { preset: o.preset })
  const started = performance.now()
  try {
    const samples = await sampleExpert(expert, {
      prompts: o.prompt, count: o.n, steps: o.steps, sampler: o.sampler, guidance: o.guidance, seed: o.seed
    })
    const out = resolve(o.out)
    const [, height, width, channels] = samples.shape
    await writeFile(out, imageGrid({ width, height, channels, pixels: samples.images }, { cols: o.n, scale: o.scale }))
    const summary = {
      out, prompts: o.prompt, perPrompt: o.n, steps: o.steps, sampler: o.sampler, guidance: o.guidance, seed: o.seed,
      objective: expert.metadata.objective, preset: expert.metadata.preset, step: expert.metadata.step,
      seconds: (performance.now() - started) / 1000
    }
    const wrote = `wrote ${out} (${o.prompt.length} x ${o.n} images, ${o.steps} ${o.sampler} steps)`
    process.stdout.write((o.json ? JSON.stringify(summary) : wrote) + '\n')
  } finally {
    expert.model.dispose()
    await disposeBackend()
  }
}
