/**
 * The public layouts `hddm-node import` reads, as data: where each of hddm's tensors lives in
 * facebookresearch/DiT's models.py state dict, diffusers' DiTTransformer2DModel and
 * PixArtTransformer2DModel, and PixArt-alpha's PixArt.py. docs/MODEL.md has the same tables.
 * Linear names are given without `.weight` / `.bias`; several names are stacked along the
 * output (diffusers keeps q, k and v apart).
 */
import type { NamedTensor } from '../safetensors.js'

export type ImportSource = 'dit' | 'diffusers' | 'pixart'
export const IMPORT_SOURCES: readonly ImportSource[] = ['dit', 'diffusers', 'pixart']

export interface LinearTensors {
  weight: NamedTensor
  bias: NamedTensor
}

type PerBlock = (b: number) => string
type PerBlockList = (b: number) => string[]

export interface Layout {
  name: string
  /** Conv2d patch embedding (weight [D, C, p, p]). */
  patch: string
  /** Present in every block: how the depth is counted. */
  probe: PerBlock
  timeMlp: [string, string]
  /** DiT's label table, weight [numClasses + 1, D]. */
  classTable?: string
  /** AdaLN-Single: the global t -> 6D linear and the [6, D] block tables. */
  tBlock?: string
  table?: PerBlock
  /** AdaLN-Zero: each block's c -> 6D linear. */
  adaLN?: PerBlock
  qkv: PerBlockList
  attnProj: PerBlock
  cross?: { q: PerBlock, kv: PerBlockList, proj: PerBlock }
  fc1: PerBlock
  fc2: PerBlock
  finalTable?: string
  finalAdaLN?: string
  finalLinear: string
  /** A stored copy of the fixed 2-D sin-cos positions [1, T, D], checked against ours. */
  positions?: string
  /** Tensors dropped on purpose (PixArt's T5 caption projection: hddm learns its own text path). */
  dropped?: (name: string) => boolean
  /** Time frequency shift and MLP LayerNorm eps of the layout's forward pass (config.ts). */
  timeFrequencyShift?: number
  mlpNormEps?: number
  /** Copies of the time / label embedders that must equal block 0's (diffusers' DiT keeps one per block). */
  duplicates?: (b: number) => Array<[string, string]>
}

const dit: Layout = {
  name: 'DiT (models.py)',
  patch: 'x_embedder.proj',
  probe: b => `blocks.${b}.attn.qkv.weight`,
  timeMlp: ['t_embedder.mlp.0', 't_embedder.mlp.2'],
  classTable: 'y_embedder.embedding_table.weight',
  adaLN: b => `blocks.${b}.adaLN_modulation.1`,
  qkv: b => [`blocks.${b}.attn.qkv`],
  attnProj: b => `blocks.${b}.attn.proj`,
  fc1: b => `blocks.${b}.mlp.fc1`,
  fc2: b => `blocks.${b}.mlp.fc2`,
  finalAdaLN: 'final_layer.adaLN_modulation.1',
  finalLinear: 'final_layer.linear',
  positions: 'pos_embed'
}

const diffusersBlock = (b: number): string => `transformer_blocks.${b}`
const diffusersEmb = (b: number): string => `${diffusersBlock(b)}.norm1.emb`

const diffusersDit: Layout = {
  name: 'diffusers DiTTransformer2DModel',
  patch: 'pos_embed.proj',
  probe: b => `${diffusersBlock(b)}.attn1.to_q.weight`,
  timeMlp: [`${diffusersEmb(0)}.timestep_embedder.linear_1`, `${diffusersEmb(0)}.timestep_embedder.linear_2`],
  classTable: `${diffusersEmb(0)}.class_embedder.embedding_table.weight`,
  adaLN: b => `${diffusersBlock(b)}.norm1.linear`,
  qkv: b => ['to_q', 'to_k', 'to_v'].map(n => `${diffusersBlock(b)}.attn1.${n}`),
  attnProj: b => `${diffusersBlock(b)}.attn1.to_out.0`,
  fc1: b => `${diffusersBlock(b)}.ff.net.0.proj`,
  fc2: b => `${diffusersBlock(b)}.ff.net.2`,
  finalAdaLN: 'proj_out_1',
  finalLinear: 'proj_out_2',
  // Not saved by diffusers' PatchEmbed (a non-persistent buffer); checked when a file has it.
  positions: 'pos_embed.pos_embed',
  // diffusers' port: Timesteps(downscale_freq_shift=1), and its MLP LayerNorm at norm_eps 1e-5.
  timeFrequencyShift: 1,
  mlpNormEps: 1e-5,
  duplicates: b => ['timestep_embedder.linear_1', 'timestep_embedder.linear_2']
    .flatMap(n => [`${n}.weight`, `${n}.bias`])
    .concat(['class_embedder.embedding_table.weight'])
    .map(n => [`${diffusersEmb(b)}.${n}`, `${diffusersEmb(0)}.${n}`])
}

const diffusersPixart: Layout = {
  name: 'diffusers PixArtTransformer2DModel',
  patch: 'pos_embed.proj',
  probe: b => `${diffusersBlock(b)}.attn1.to_q.weight`,
  timeMlp: ['adaln_single.emb.timestep_embedder.linear_1', 'adaln_single.emb.timestep_embedder.linear_2'],
  tBlock: 'adaln_single.linear',
  table: b => `${diffusersBlock(b)}.scale_shift_table`,
  qkv: b => ['to_q', 'to_k', 'to_v'].map(n => `${diffusersBlock(b)}.attn1.${n}`),
  attnProj: b => `${diffusersBlock(b)}.attn1.to_out.0`,
  cross: {
    q: b => `${diffusersBlock(b)}.attn2.to_q`,
    kv: b => ['to_k', 'to_v'].map(n => `${diffusersBlock(b)}.attn2.${n}`),
    proj: b => `${diffusersBlock(b)}.attn2.to_out.0`
  },
  fc1: b => `${diffusersBlock(b)}.ff.net.0.proj`,
  fc2: b => `${diffusersBlock(b)}.ff.net.2`,
  finalTable: 'scale_shift_table',
  finalLinear: 'proj_out',
  positions: 'pos_embed.pos_embed',
  dropped: name => name.startsWith('caption_projection.')
}

const pixart: Layout = {
  name: 'PixArt-alpha (PixArt.py)',
  patch: 'x_embedder.proj',
  probe: b => `blocks.${b}.attn.qkv.weight`,
  timeMlp: ['t_embedder.mlp.0', 't_embedder.mlp.2'],
  tBlock: 't_block.1',
  table: b => `blocks.${b}.scale_shift_table`,
  qkv: b => [`blocks.${b}.attn.qkv`],
  attnProj: b => `blocks.${b}.attn.proj`,
  cross: {
    q: b => `blocks.${b}.cross_attn.q_linear`,
    kv: b => [`blocks.${b}.cross_attn.kv_linear`],
    proj: b => `blocks.${b}.cross_attn.proj`
  },
  fc1: b => `blocks.${b}.mlp.fc1`,
  fc2: b => `blocks.${b}.mlp.fc2`,
  finalTable: 'final_layer.scale_shift_table',
  finalLinear: 'final_layer.linear',
  positions: 'pos_embed',
  dropped: name => name.startsWith('y_embedder.')
}

/** The layout of `source` that `tensors` are in, told apart by a tensor only that layout has. */
export function layoutFor (source: ImportSource, tensors: Map<string, unknown>): Layout | undefined {
  if (source === 'dit') return tensors.has('x_embedder.proj.weight') ? dit : undefined
  if (source === 'diffusers') return tensors.has('pos_embed.proj.weight') ? diffusersDit : undefined
  if (tensors.has('adaln_single.linear.weight')) return diffusersPixart
  return tensors.has('t_block.1.weight') ? pixart : undefined
}
