/**
 * `hddm-node import --from dit|diffusers|pixart <file> --out expert.safetensors`: public
 * weights -> an hddm expert checkpoint (DDPM, DiT's linear schedule), ready for
 * `train --init <out> --preset <its preset>`. A PyTorch .pt goes through
 * scripts/convert-dit-pt.py first (torch writes it as safetensors; hddm parses no pickles).
 */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { encodeCheckpoint } from '../checkpoint/format.js'
import { writeFileAtomic } from '../checkpoint/file.js'
import { importCheckpoint, type ImportNote } from '../checkpoint/import/import.js'
import { IMPORT_SOURCES, type ImportSource } from '../checkpoint/import/layout.js'
import { EXPERT_PRESETS, type DiTConfig, type ExpertPresetName } from '../model/config.js'
import { expertParamCount } from '../model/param-count.js'
import type { RegisterCommand } from './register-command.js'
import { choiceOption, integerOption } from './options.js'

interface ImportCommandOptions {
  from: ImportSource
  out: string
  heads?: number
  imageSize?: number
  dropSigma: boolean
  json: boolean
}

export const registerImport: RegisterCommand = (program: Command) => {
  program.command('import')
    .description('Bring public DiT / diffusers / PixArt-alpha weights (safetensors) in as an hddm expert checkpoint ' +
      '(a PyTorch .pt: scripts/convert-dit-pt.py first)')
    .argument('<file>', 'the public weights, safetensors')
    .requiredOption('--from <layout>', IMPORT_SOURCES.join(' | '), choiceOption('--from', IMPORT_SOURCES))
    .requiredOption('--out <file>', 'where to write the hddm checkpoint')
    .option('--heads <n>', 'attention heads (default: DiT\'s for the width: 384 -> 6, 768 -> 12, 1024 and 1152 -> 16)',
      integerOption('--heads', 1))
    .option('--image-size <n>', 'input side in latents (default: from the stored positions, else 32 = 256 px)',
      integerOption('--image-size', 1))
    .option('--drop-sigma', 'drop DiT\'s learned-variance output channels (hddm samples with eps only)', false)
    .option('--json', 'one JSON object on stdout', false)
    .action(async (file: string, o: ImportCommandOptions) => { await importCommand(file, o) })
}

async function importCommand (file: string, o: ImportCommandOptions): Promise<void> {
  const checkpoint = await importCheckpoint(resolve(file), {
    from: o.from,
    ...(o.heads !== undefined ? { heads: o.heads } : {}),
    ...(o.imageSize !== undefined ? { imageSize: o.imageSize } : {}),
    dropSigma: o.dropSigma
  })
  const out = resolve(o.out)
  await writeFileAtomic(out, encodeCheckpoint(checkpoint))
  const { metadata } = checkpoint
  const config = metadata.config as unknown as DiTConfig
  const imported = (metadata.extra as { imported: ImportNote }).imported
  const preset = metadata.preset
  const adaln = config.adaln === 'zero' ? 'AdaLN-Zero' : 'AdaLN-Single'
  const schedule = metadata.schedule
  const summary = {
    out,
    layout: imported.layout,
    shape: `${config.imageSize}x${config.imageSize}x${config.channels} patch ${config.patchSize}, ` +
      `D ${config.hidden}, ${config.depth} blocks, ${config.heads} heads, ${adaln}`,
    conditioning: config.conditioning === 'class' ? `${String(config.numClasses)} classes` : 'text (dropped)',
    parameters: expertParamCount(config).total,
    sigma: imported.sigma,
    objective: `${String(metadata.objective)}, ${String(schedule?.kind)} schedule T=${String(schedule?.T)}`,
    preset: preset ?? null,
    // What `train --init` makes of it: the preset's AdaLN-Single text expert.
    parametersAsPreset: preset !== undefined
      ? expertParamCount(EXPERT_PRESETS[preset as ExpertPresetName]).denoiser
      : null,
    dtypes: imported.dtypes
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(summary) + '\n')
    return
  }
  const text = (v: unknown): string => typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)
  process.stdout.write(Object.entries(summary).map(([k, v]) => `${k}: ${text(v)}`).join('\n') + '\n')
  if (preset === undefined) {
    process.stderr.write('no hddm preset has this shape: `train --init` needs one (docs/MODEL.md, "Importing")\n')
  }
}
