/**
 * Public DiT / diffusers / PixArt weights -> an hddm expert checkpoint. The config is read from
 * the tensors' shapes (the files carry none; the head count, which no shape shows, comes from
 * the caller or DiT's table), validated before anything is built, and every tensor is checked
 * against it: a file of another layout or shape is an UnsupportedLayoutError, never a partial
 * import. What it writes (docs/MODEL.md, "Importing a public DiT"):
 *   objective ddpm on DiT's linear 1000-step schedule (DiT and PixArt-alpha both train on it);
 *   conditioning 'class' for DiT (labels), 'text' for PixArt with its T5 caption projection
 *   dropped (hddm learns its own text path at `train --init`);
 *   learned-variance channels kept (config.learnSigma) unless dropSigma.
 */
import { basename } from 'node:path'
import { CHECKPOINT_FORMAT, type Checkpoint } from '../format.js'
import { UnsupportedLayoutError } from '../errors.js'
import type { NamedTensor } from '../safetensors.js'
import { EXPERT_PRESETS, TIME_FREQUENCY_DIM, type DiTConfig } from '../../model/config.js'
import { sincosPositions2d } from '../../model/layers.js'
import { validateExpertConfig } from '../../model/validate.js'
import { layoutFor, type ImportSource, type Layout, type LinearTensors } from './layout.js'
import { readFloatSafetensors } from './read.js'
import { epsColumns, patchEmbedWeight, TensorSource } from './tensors.js'

/** DiT's models.py: width -> heads for S, B, L and XL (the weights do not record heads). */
export const DIT_HEADS: Readonly<Record<number, number>> = { 384: 6, 768: 12, 1024: 16, 1152: 16 }

/** The schedule DiT (gaussian_diffusion.py) and PixArt-alpha train on. */
export const IMPORTED_SCHEDULE = { kind: 'linear', T: 1000 } as const

export interface ImportOptions {
  from: ImportSource
  /** Attention heads (default: DiT's for the width, DIT_HEADS). */
  heads?: number
  /** Input side in latents (default: from the stored positions, else 32, the 256 px models'). */
  imageSize?: number
  /** Drop DiT's learned-variance output channels (hddm's samplers read eps only). */
  dropSigma?: boolean
}

/** What `extra.imported` of an imported checkpoint records. */
export interface ImportNote {
  from: ImportSource
  layout: string
  file?: string
  dtypes?: Record<string, number>
  sigma: 'kept' | 'dropped' | 'none'
  /** Public tensors left out on purpose (PixArt's caption projection). */
  dropped: string[]
}

export async function importCheckpoint (path: string, options: ImportOptions): Promise<Checkpoint> {
  const { tensors, dtypes } = await readFloatSafetensors(path)
  return importTensors(tensors, options, { file: basename(path), dtypes })
}

export function importTensors (
  tensors: Map<string, NamedTensor>, options: ImportOptions, note: Pick<ImportNote, 'file' | 'dtypes'> = {}
): Checkpoint {
  const layout = layoutFor(options.from, tensors)
  if (layout === undefined) {
    throw new UnsupportedLayoutError(`no tensor names of the ${options.from} layouts (see docs/MODEL.md, "Importing")`)
  }
  const src = new TensorSource(tensors, layout.name)
  const config = inferConfig(src, layout, options)
  const out = new Map<string, NamedTensor>()
  copyTensors(src, layout, config, out, options.dropSigma === true)
  const dropped = [...tensors.keys()].filter(n => layout.dropped?.(n) === true)
  src.refuseLeftovers(layout.dropped)
  const sigma = config.learnSigma === true ? 'kept' : learnsSigma(src, layout, config) ? 'dropped' : 'none'
  const imported: ImportNote = { from: options.from, layout: layout.name, ...note, sigma, dropped }
  const preset = presetOf(config)
  return {
    metadata: {
      format: CHECKPOINT_FORMAT,
      network: 'expert',
      config: { ...config },
      ...(preset !== undefined ? { preset } : {}),
      objective: 'ddpm',
      schedule: { ...IMPORTED_SCHEDULE },
      step: 0,
      extra: { imported }
    },
    tensors: out
  }
}

/** The expert config the tensors' shapes describe, validated before anything is sized by it. */
function inferConfig (src: TensorSource, layout: Layout, options: ImportOptions): DiTConfig {
  const conv = src.take(`${layout.patch}.weight`)
  const [D, C, p, q] = conv.shape
  if (conv.shape.length !== 4 || p !== q) {
    throw new UnsupportedLayoutError(`${layout.name}: patch embedding of shape ${JSON.stringify(conv.shape)}`)
  }
  let depth = 0
  while (src.has(layout.probe(depth))) depth += 1
  const shapeOf = (name: string): number[] => {
    const t = src.tensors.get(name)
    if (t === undefined) throw new UnsupportedLayoutError(`${layout.name} layout: no tensor ${name}`)
    return t.shape
  }
  const mlpRatio = shapeOf(`${layout.fc1(0)}.weight`)[0] / D
  const outChannels = shapeOf(`${layout.finalLinear}.weight`)[0] / (p * p)
  const learnSigma = outChannels === 2 * C
  if (!learnSigma && outChannels !== C) {
    const channels = `final layer writes ${outChannels} channels for ${C} input channels`
    throw new UnsupportedLayoutError(`${layout.name}: ${channels}`)
  }
  const positions = layout.positions !== undefined && src.has(layout.positions) ? shapeOf(layout.positions) : undefined
  const imageSize = options.imageSize ?? (positions !== undefined ? Math.round(Math.sqrt(positions[1])) * p : 32)
  const heads = options.heads ?? DIT_HEADS[D]
  if (heads === undefined) {
    throw new UnsupportedLayoutError(`${layout.name}: width ${D} is no DiT model's; give its attention heads (--heads)`)
  }
  const numClasses = layout.classTable !== undefined ? shapeOf(layout.classTable)[0] - 1 : 0
  const condition = layout.classTable !== undefined
    ? { conditioning: 'class' as const, numClasses, promptTokens: 1, vocabSize: 0, textDim: 0 }
    // Placeholders: PixArt's text path is dropped, and `train --init` takes the run's tokenizer and preset.
    : { promptTokens: 1, vocabSize: 3, textDim: D }
  const config: DiTConfig = {
    imageSize, channels: C, patchSize: p, hidden: D, depth, heads, mlpRatio,
    adaln: layout.adaLN !== undefined ? 'zero' : 'single',
    ...condition,
    ...(learnSigma && options.dropSigma !== true ? { learnSigma: true } : {}),
    ...(layout.timeFrequencyShift !== undefined ? { timeFrequencyShift: layout.timeFrequencyShift } : {}),
    ...(layout.mlpNormEps !== undefined ? { mlpNormEps: layout.mlpNormEps } : {})
  }
  try {
    validateExpertConfig(config)
  } catch (err) {
    const why = (err as Error).message
    throw new UnsupportedLayoutError(`${layout.name}: its shapes describe no supported expert: ${why}`)
  }
  return config
}

function learnsSigma (src: TensorSource, layout: Layout, c: DiTConfig): boolean {
  return src.tensors.get(`${layout.finalLinear}.weight`)?.shape[0] === 2 * c.channels * c.patchSize ** 2
}

/** Every tensor of hddm's expert, under hddm's name, from the public one(s). */
function copyTensors (
  src: TensorSource, layout: Layout, c: DiTConfig, out: Map<string, NamedTensor>, dropSigma: boolean
): void {
  const { hidden: D, patchSize: p } = c
  const linear = (name: string, t: LinearTensors): void => {
    out.set(`${name}.weight`, t.weight)
    out.set(`${name}.bias`, t.bias)
  }
  const fused = (names: string[], inDim: number, outDim: number): LinearTensors =>
    names.length === 1 ? src.linear(names[0], inDim, outDim) : src.stackedLinear(names, inDim, outDim / names.length)
  out.set('x_embedder.proj.weight', patchEmbedWeight(src.take(`${layout.patch}.weight`)))
  out.set('x_embedder.proj.bias', src.take(`${layout.patch}.bias`, [D]))
  linear('t_embedder.mlp.0', src.linear(layout.timeMlp[0], TIME_FREQUENCY_DIM, D))
  linear('t_embedder.mlp.2', src.linear(layout.timeMlp[1], D, D))
  if (layout.tBlock !== undefined) linear('t_block.1', src.linear(layout.tBlock, D, 6 * D))
  if (layout.classTable !== undefined) {
    out.set('y_embedder.embedding_table', src.take(layout.classTable, [(c.numClasses as number) + 1, D]))
  }
  for (let b = 0; b < c.depth; b++) {
    const at = `blocks.${b}`
    if (layout.table !== undefined) out.set(`${at}.scale_shift_table`, src.take(layout.table(b), [6, D]))
    if (layout.adaLN !== undefined) linear(`${at}.adaLN_modulation.1`, src.linear(layout.adaLN(b), D, 6 * D))
    linear(`${at}.attn.qkv`, fused(layout.qkv(b), D, 3 * D))
    linear(`${at}.attn.proj`, src.linear(layout.attnProj(b), D, D))
    if (layout.cross !== undefined) {
      linear(`${at}.cross_attn.q_linear`, src.linear(layout.cross.q(b), D, D))
      linear(`${at}.cross_attn.kv_linear`, fused(layout.cross.kv(b), D, 2 * D))
      linear(`${at}.cross_attn.proj`, src.linear(layout.cross.proj(b), D, D))
    }
    linear(`${at}.mlp.fc1`, src.linear(layout.fc1(b), D, c.mlpRatio * D))
    linear(`${at}.mlp.fc2`, src.linear(layout.fc2(b), c.mlpRatio * D, D))
    for (const [copy, original] of layout.duplicates?.(b) ?? []) sameValues(src, copy, original)
  }
  if (layout.finalTable !== undefined) out.set('final_layer.scale_shift_table', src.take(layout.finalTable, [2, D]))
  if (layout.finalAdaLN !== undefined) {
    linear('final_layer.adaLN_modulation.1', src.linear(layout.finalAdaLN, D, 2 * D))
  }
  const sigma = learnsSigma(src, layout, c) ? 2 : 1
  const final = src.linear(layout.finalLinear, D, p * p * c.channels * sigma)
  linear('final_layer.linear', sigma === 2 && dropSigma ? epsColumns(final.weight, final.bias, c.channels) : final)
  if (layout.positions !== undefined && src.has(layout.positions)) checkPositions(src, layout.positions, c)
}

/** diffusers' DiT keeps a copy of the time and label embedders in every block; hddm has one. */
function sameValues (src: TensorSource, copy: string, original: string): void {
  const a = src.take(copy, src.tensors.get(original)?.shape)
  const b = src.take(original)
  if (a.data.some((v, i) => v !== b.data[i])) {
    throw new UnsupportedLayoutError(`${src.layout}: ${copy} differs from ${original}; hddm shares one embedder`)
  }
}

/** The stored positions must be DiT's fixed 2-D sin-cos table (PixArt at 1024 px scales them). */
function checkPositions (src: TensorSource, name: string, c: DiTConfig): void {
  const grid = c.imageSize / c.patchSize
  const stored = src.take(name, [1, grid * grid, c.hidden])
  const ours = sincosPositions2d(c.hidden, grid)
  let worst = 0
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - stored.data[i]))
  if (worst > 1e-5) {
    throw new UnsupportedLayoutError(`${src.layout}: stored positions differ from the 2-D sin-cos table by ${worst}`)
  }
}

/** The hddm preset of the same shape (DiT-XL/2 at 256 px is `xl2`), if any. */
function presetOf (c: DiTConfig): string | undefined {
  const keys = ['imageSize', 'channels', 'patchSize', 'hidden', 'depth', 'heads', 'mlpRatio'] as const
  return Object.entries(EXPERT_PRESETS).find(([, p]) => keys.every(k => p[k] === c[k]))?.[0]
}
