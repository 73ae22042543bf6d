/**
 * `hddm-node sample`: one expert, locally. Loads a checkpoint (resumable or publishable; the
 * EMA weights), samples one row of images per prompt and writes a PNG grid.
 */
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { imageGrid } from '../data/png.js'
import { BACKEND_CHOICES, disposeBackend, initBackend, type BackendChoice } from '../runtime/backend.js'
import { readCheckpointFile } from '../training/checkpoint-file.js'
import { loadExpert } from '../training/expert-model.js'
import { sampleExpert, type SamplerName } from '../ensemble/sample.js'
import type { RegisterCommand } from './commands.js'
import { choiceOption, integerOption, numberOption } from './number-options.js'

interface SampleCommandOptions {
  checkpoint: string
  prompt: string[]
  n: number
  steps: number
  sampler: SamplerName
  guidance: number
  seed: number
  preset?: string
  scale: number
  out: string
  backend: BackendChoice
  json: boolean
}

export const registerSample: RegisterCommand = (program: Command) => {
  program.command('sample')
    .description('Sample one expert locally into a PNG grid (one row per prompt)')
    .requiredOption('--checkpoint <file>', 'expert checkpoint (.safetensors)')
    .requiredOption('--prompt <text>', 'a prompt; repeat for several rows', (value: string, previous: string[] = []) => [...previous, value])
    .option('-n, --n <count>', 'images per prompt', integerOption('-n', 1), 8)
    .option('--steps <n>', 'sampler steps', integerOption('--steps', 1), 50)
    .option('--sampler <name>', 'euler or heun', choiceOption('--sampler', ['euler', 'heun'] as const), 'euler')
    .option('--guidance <w>', 'classifier-free guidance scale (1 = none)', numberOption('--guidance', 0), 3)
    .option('--seed <n>', 'noise seed', integerOption('--seed'), 1)
    .option('--preset <name>', 'refuse a checkpoint of another preset')
    .option('--scale <k>', 'integer upscaling of each tile in the PNG', integerOption('--scale', 1), 2)
    .requiredOption('--out <file>', 'PNG to write')
    .option('--backend <name>', BACKEND_CHOICES.join(' | '), choiceOption('--backend', BACKEND_CHOICES), 'auto')
    .option('--json', 'print one JSON object', false)
    .action(async (options: SampleCommandOptions) => { await sampleCommand(options) })
}

async function sampleCommand (o: SampleCommandOptions): Promise<void> {
  const checkpoint = await readCheckpointFile(resolve(o.checkpoint))
  await initBackend({ backend: o.backend })
  const expert = loadExpert(checkpoint, { preset: o.preset })
  const started = performance.now()
  try {
    const samples = await sampleExpert(expert, { prompts: o.prompt, count: o.n, steps: o.steps, sampler: o.sampler, guidance: o.guidance, seed: o.seed })
    const out = resolve(o.out)
    const [, height, width, channels] = samples.shape
    await writeFile(out, imageGrid({ width, height, channels, pixels: samples.images }, { cols: o.n, scale: o.scale }))
    const summary = {
      out, prompts: o.prompt, perPrompt: o.n, steps: o.steps, sampler: o.sampler, guidance: o.guidance, seed: o.seed,
      objective: expert.metadata.objective, preset: expert.metadata.preset, step: expert.metadata.step, seconds: (performance.now() - started) / 1000
    }
    process.stdout.write(o.json ? JSON.stringify(summary) + '\n' : `wrote ${out} (${o.prompt.length} x ${o.n} images, ${o.steps} ${o.sampler} steps)\n`)
  } finally {
    expert.model.dispose()
    await disposeBackend()
  }
}
