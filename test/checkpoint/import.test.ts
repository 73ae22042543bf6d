import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as tf from '@tensorflow/tfjs'
import { importCheckpoint, importTensors, type ImportOptions } from '../../src/checkpoint/import/import.js'
import { halfToFloat, readFloatSafetensors } from '../../src/checkpoint/import/read.js'
import { adaptInit } from '../../src/checkpoint/import/adapt.js'
import { buildExpertModel, loadExpert } from '../../src/checkpoint/expert.js'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/checkpoint/format.js'
import { decodeSafetensors, type NamedTensor } from '../../src/checkpoint/safetensors.js'
import { DiT } from '../../src/model/dit.js'
import { sincosPositions2d } from '../../src/model/layers.js'
import { runTorchScript } from '../utils/python-torch.js'

const REFERENCE = fileURLToPath(new URL('../model/reference_dit.py', import.meta.url))
let dir: string

beforeAll(async () => {
  await tf.setBackend('cpu')
  dir = await mkdtemp(join(tmpdir(), 'hddm-import-'))
  // depth 2, hidden 64, patch 2, 8x8x4 input, 10 classes, learned sigma: DiT's shape, small.
  for (const [name, args] of [['dit', []], ['diffusers', ['--layout', 'diffusers']]] as const) {
    runTorchScript(REFERENCE, ['--out', await mkdirIn(name), '--seed', '3', '--cases', '5', ...args])
  }
}, 120_000)
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

async function mkdirIn (name: string): Promise<string> {
  const path = join(dir, name)
  await mkdir(path)
  return path
}

interface Cases { x: tf.Tensor4D, t: tf.Tensor1D, labels: tf.Tensor2D, out: tf.Tensor4D, n: number }

/** PyTorch's cases, NCHW -> NHWC. */
async function readCases (name: string): Promise<Cases> {
  const c = decodeSafetensors(await readFile(join(dir, name, 'cases.safetensors'))).tensors
  const get = (k: string): NamedTensor => c.get(k) as NamedTensor
  const nhwc = (t: NamedTensor): tf.Tensor4D =>
    tf.transpose(tf.tensor4d(t.data, t.shape as [number, number, number, number]), [0, 2, 3, 1])
  const n = get('t').data.length
  return {
    x: nhwc(get('x')), t: tf.tensor1d(get('t').data), out: nhwc(get('out')), n,
    labels: tf.tensor2d(Int32Array.from(get('y').data), [n, 1], 'int32')
  }
}

/** ||a - b|| / ||b|| of each case (row of the batch). */
function caseErrors (a: tf.Tensor4D, b: tf.Tensor4D): number[] {
  return tf.tidy(() => {
    const diff = tf.sqrt(tf.sum(tf.square(tf.sub(a, b)), [1, 2, 3]))
    return Array.from(tf.div(diff, tf.sqrt(tf.sum(tf.square(b), [1, 2, 3]))).dataSync())
  })
}

async function imported (name: string, options: ImportOptions): Promise<ReturnType<typeof decodeCheckpoint>> {
  // Through the bytes, as `hddm-node import` writes them and `train --init` reads them.
  return decodeCheckpoint(encodeCheckpoint(await importCheckpoint(join(dir, name, 'weights.safetensors'), options)))
}

const unsupported = expect.objectContaining({ name: 'UnsupportedLayoutError' })

describe('importing public DiT weights', () => {
  it('DiT\'s layout: the forward pass is PyTorch\'s to 1e-5 relative for every (x, t, y), sigma included', async () => {
    const checkpoint = await imported('dit', { from: 'dit', heads: 4 })
    expect(checkpoint.metadata).toMatchObject({
      network: 'expert', objective: 'ddpm', schedule: { kind: 'linear', T: 1000 }, step: 0,
      config: { imageSize: 8, channels: 4, patchSize: 2, hidden: 64, depth: 2, heads: 4, adaln: 'zero',
        conditioning: 'class', numClasses: 10, learnSigma: true },
      extra: { imported: { from: 'dit', sigma: 'kept', dtypes: { F32: 32 } } }
    })
    const model = buildExpertModel(checkpoint)
    const c = await readCases('dit')
    const out = model.apply(c.x, c.t, c.labels, true)
    expect(out.shape).toEqual([c.n, 8, 8, 8])
    // The cases include t = 0 and 999 and the null label; measured 2e-7 .. 1.5e-6.
    for (const e of caseErrors(out, c.out)) expect(e).toBeLessThan(1e-5)
    model.dispose()
  })

  it('diffusers\' DiTTransformer2DModel layout (q, k, v apart, per-block embedders, shifted frequencies)', async () => {
    const checkpoint = await imported('diffusers', { from: 'diffusers', heads: 4, imageSize: 8 })
    expect(checkpoint.metadata.config).toMatchObject({ timeFrequencyShift: 1, mlpNormEps: 1e-5, adaln: 'zero' })
    const model = buildExpertModel(checkpoint)
    const c = await readCases('diffusers')
    for (const e of caseErrors(model.apply(c.x, c.t, c.labels, true), c.out)) expect(e).toBeLessThan(1e-5)
    model.dispose()
  })

  it('drops the learned-variance channels when asked: the model then writes exactly the eps channels', async () => {
    const kept = buildExpertModel(await imported('dit', { from: 'dit', heads: 4 }))
    const dropped = await imported('dit', { from: 'dit', heads: 4, dropSigma: true })
    expect(dropped.metadata.config.learnSigma).toBeUndefined()
    expect((dropped.metadata.extra as { imported: { sigma: string } }).imported.sigma).toBe('dropped')
    const model = buildExpertModel(dropped)
    const c = await readCases('dit')
    const eps = model.apply(c.x, c.t, c.labels)
    expect(eps.shape).toEqual([c.n, 8, 8, 4])
    expect(tf.max(tf.abs(tf.sub(eps, kept.apply(c.x, c.t, c.labels)))).dataSync()[0]).toBe(0)
    model.dispose()
    kept.dispose()
  })

  it('is an init for runs, not a run member: loadExpert refuses a class-conditional expert by name', async () => {
    const checkpoint = await imported('dit', { from: 'dit', heads: 4 })
    expect(() => loadExpert(checkpoint)).toThrow(expect.objectContaining({ name: 'ShapeMismatchError' }))
  })
})

describe('import refuses what it cannot represent, with UnsupportedLayoutError', () => {
  let tensors: Map<string, NamedTensor>
  beforeAll(async () => { tensors = (await readFloatSafetensors(join(dir, 'dit', 'weights.safetensors'))).tensors })
  const edited = (edit: (m: Map<string, NamedTensor>) => void): Map<string, NamedTensor> => {
    const copy = new Map(tensors)
    edit(copy)
    return copy
  }

  it('a file of another layout, a missing, misshapen or unknown tensor', () => {
    expect(() => importTensors(tensors, { from: 'diffusers', heads: 4 })).toThrow(unsupported)
    expect(() => importTensors(tensors, { from: 'pixart', heads: 4 })).toThrow(unsupported)
    expect(() => importTensors(edited(m => m.delete('blocks.1.mlp.fc2.weight')), { from: 'dit', heads: 4 }))
      .toThrow(unsupported)
    const qkv = tensors.get('blocks.0.attn.qkv.weight') as NamedTensor
    const rows = qkv.shape[0] - 1
    const short = { shape: [rows, qkv.shape[1]], data: qkv.data.subarray(0, rows * qkv.shape[1]) }
    expect(() => importTensors(edited(m => m.set('blocks.0.attn.qkv.weight', short)), { from: 'dit', heads: 4 }))
      .toThrow(unsupported)
    const extra = { shape: [4], data: new Float32Array(4) }
    expect(() => importTensors(edited(m => m.set('blocks.0.attn.q_norm.weight', extra)), { from: 'dit', heads: 4 }))
      .toThrow(unsupported)
  })

  it('a shape no expert has, before anything is sized by it: heads, image size, width, depth', () => {
    expect(() => importTensors(tensors, { from: 'dit' })).toThrow(unsupported)                 // width 64: no DiT's
    expect(() => importTensors(tensors, { from: 'dit', heads: 5 })).toThrow(unsupported)       // 64 % 5
    expect(() => importTensors(tensors, { from: 'dit', heads: 4, imageSize: 1 << 20 })).toThrow(unsupported)
    const wide = { shape: [9000, 1, 1, 1], data: new Float32Array(9000) }                  // D 9000 > 8192
    expect(() => importTensors(edited(m => m.set('x_embedder.proj.weight', wide)), { from: 'dit', heads: 4 }))
      .toThrow(unsupported)
    const qkv = tensors.get('blocks.0.attn.qkv.weight') as NamedTensor
    const deep = edited(m => { for (let b = 2; b < 200; b++) m.set(`blocks.${b}.attn.qkv.weight`, qkv) })
    expect(() => importTensors(deep, { from: 'dit', heads: 4 })).toThrow(unsupported)    // depth 200 > 128
  })

  it('reads F16 and BF16 tensors as float32, and refuses integer ones', async () => {
    expect([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000].map(halfToFloat))
      .toEqual([1, -2, 65504, 2 ** -24, Infinity, -0])
    const header = {
      half: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
      brain: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] }
    }
    const body = Buffer.from([0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f, 0x40, 0xc0])   // 1, -2 | 1, -3
    await writeFile(join(dir, 'half.safetensors'), safetensorsFile(header, body))
    const read = await readFloatSafetensors(join(dir, 'half.safetensors'))
    expect(Array.from(read.tensors.get('half')?.data ?? [])).toEqual([1, -2])
    expect(Array.from(read.tensors.get('brain')?.data ?? [])).toEqual([1, -3])
    const int64 = { n: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }
    await writeFile(join(dir, 'int.safetensors'), safetensorsFile(int64, Buffer.alloc(8)))
    await expect(readFloatSafetensors(join(dir, 'int.safetensors'))).rejects.toThrow(unsupported)
  })
})

describe('PixArt-alpha layouts', () => {
  /** An AdaLN-Single text DiT of ours, written under PixArt.py's names (torch orientation). */
  function pixartFile (model: DiT): Map<string, NamedTensor> {
    const out = new Map<string, NamedTensor>()
    for (const [name, v] of model.params.variables) {
      const data = v.dataSync() as Float32Array
      if (name.startsWith('text_encoder.') || name.startsWith('y_embedder.')) continue
      if (name === 'x_embedder.proj.weight') {
        // ours [p*p*C, D] -> Conv2d [D, C, p, p]
        const [rows, D] = v.shape
        const conv = new Float32Array(data.length)
        for (let r = 0; r < rows; r++) for (let d = 0; d < D; d++) conv[d * rows + r] = data[r * D + d]
        out.set(name, { shape: [D, 1, 2, 2], data: conv })   // C 1, p 2: (pr, pc, c) = (c, pr, pc) order
      } else if (name.endsWith('.weight') && v.shape.length === 2) {
        out.set(name, { shape: [v.shape[1], v.shape[0]], data: tf.transpose(v).dataSync() as Float32Array })
      } else out.set(name, { shape: v.shape, data })
    }
    out.set('pos_embed', { shape: [1, 4, 16], data: sincosPositions2d(16, 2) })
    out.set('y_embedder.y_embedding', { shape: [4, 8], data: new Float32Array(32) })
    out.set('y_embedder.y_proj.fc1.weight', { shape: [16, 8], data: new Float32Array(128) })
    return out
  }

  it('PixArt.py names map onto hddm\'s one for one; the caption projection is dropped', () => {
    const config = {
      imageSize: 4, channels: 1, patchSize: 2, hidden: 16, depth: 2, heads: 2, mlpRatio: 4,
      adaln: 'single' as const, promptTokens: 1, vocabSize: 3, textDim: 16
    }
    const model = new DiT(config, 4)
    for (const v of model.params.variables.values()) v.assign(tf.randomNormal(v.shape, 0, 1, 'float32', v.size))
    const checkpoint = importTensors(pixartFile(model), { from: 'pixart', heads: 2 })
    expect(checkpoint.metadata.config).toMatchObject({ ...config, adaln: 'single' })
    expect((checkpoint.metadata.extra as { imported: { dropped: string[] } }).imported.dropped)
      .toEqual(['y_embedder.y_embedding', 'y_embedder.y_proj.fc1.weight'])
    for (const [name, v] of model.params.variables) {
      if (name.startsWith('text_encoder.') || name.startsWith('y_embedder.')) continue
      expect(Array.from(checkpoint.tensors.get(name)?.data ?? []), name).toEqual(Array.from(v.dataSync()))
    }
    // As an init for a run of that shape: cross-attention and tables kept, hddm's text path fresh.
    const adapted = adaptInit(checkpoint, { ...config, promptTokens: 4, vocabSize: 20, textDim: 8 })
    expect(adapted.fresh('text_encoder.embedding') && adapted.fresh('y_embedder.proj.weight')).toBe(true)
    expect(adapted.fresh('blocks.1.cross_attn.kv_linear.weight')).toBe(false)
    expect(adapted.tensors.get('blocks.1.cross_attn.kv_linear.weight')?.data)
      .toEqual(checkpoint.tensors.get('blocks.1.cross_attn.kv_linear.weight')?.data)
    // The same weights under diffusers' PixArtTransformer2DModel names import to the same tensors.
    const options = { from: 'pixart', heads: 2, imageSize: 4 } as const
    const viaDiffusers = importTensors(diffusersPixartNames(pixartFile(model)), options)
    for (const [name, t] of checkpoint.tensors) expect(viaDiffusers.tensors.get(name)?.data, name).toEqual(t.data)
    const withMicroConditions = diffusersPixartNames(pixartFile(model))
    const micro = { shape: [1], data: new Float32Array(1) }   // PixArt-1024's resolution micro-condition
    withMicroConditions.set('adaln_single.emb.resolution_embedder.linear_1.weight', micro)
    expect(() => importTensors(withMicroConditions, options)).toThrow(unsupported)
    const shifted = pixartFile(model)
    shifted.set('pos_embed', { shape: [1, 4, 16], data: sincosPositions2d(16, 2).map(v => v / 2) })
    // Stored positions that are not DiT's table (PixArt at 1024 px scales the grid) are refused.
    expect(() => importTensors(shifted, { from: 'pixart', heads: 2 })).toThrow(unsupported)
    model.dispose()
  })
})

/** PixArt.py names -> diffusers' PixArtTransformer2DModel names (q, k, v and k, v split apart). */
function diffusersPixartNames (tensors: Map<string, NamedTensor>): Map<string, NamedTensor> {
  const renames: Array<[RegExp, string]> = [
    [/^x_embedder\.proj\./, 'pos_embed.proj.'],
    [/^t_embedder\.mlp\.0\./, 'adaln_single.emb.timestep_embedder.linear_1.'],
    [/^t_embedder\.mlp\.2\./, 'adaln_single.emb.timestep_embedder.linear_2.'],
    [/^t_block\.1\./, 'adaln_single.linear.'],
    [/^blocks\.(\d+)\.attn\.proj\./, 'transformer_blocks.$1.attn1.to_out.0.'],
    [/^blocks\.(\d+)\.cross_attn\.q_linear\./, 'transformer_blocks.$1.attn2.to_q.'],
    [/^blocks\.(\d+)\.cross_attn\.proj\./, 'transformer_blocks.$1.attn2.to_out.0.'],
    [/^blocks\.(\d+)\.mlp\.fc1\./, 'transformer_blocks.$1.ff.net.0.proj.'],
    [/^blocks\.(\d+)\.mlp\.fc2\./, 'transformer_blocks.$1.ff.net.2.'],
    [/^blocks\.(\d+)\.scale_shift_table$/, 'transformer_blocks.$1.scale_shift_table'],
    [/^final_layer\.scale_shift_table$/, 'scale_shift_table'],
    [/^final_layer\.linear\./, 'proj_out.'],
    [/^y_embedder\.y_proj\.fc1\./, 'caption_projection.linear_1.']
  ]
  const splits: Array<[RegExp, string[]]> = [
    [/^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$/, ['attn1.to_q', 'attn1.to_k', 'attn1.to_v']],
    [/^blocks\.(\d+)\.cross_attn\.kv_linear\.(weight|bias)$/, ['attn2.to_k', 'attn2.to_v']]
  ]
  const out = new Map<string, NamedTensor>()
  for (const [name, t] of tensors) {
    if (name === 'pos_embed' || name === 'y_embedder.y_embedding') continue
    const split = splits.find(([re]) => re.test(name))
    if (split !== undefined) {
      const [, block, kind] = name.match(split[0]) as RegExpMatchArray
      const rows = t.shape[0] / split[1].length
      const width = t.data.length / t.shape[0]
      split[1].forEach((to, k) => out.set(`transformer_blocks.${block}.${to}.${kind}`, {
        shape: [rows, ...t.shape.slice(1)], data: t.data.slice(k * rows * width, (k + 1) * rows * width)
      }))
      continue
    }
    const rename = renames.find(([re]) => re.test(name))
    out.set(rename !== undefined ? name.replace(rename[0], rename[1]) : name, t)
  }
  return out
}

function safetensorsFile (header: Record<string, unknown>, body: Buffer): Buffer {
  let json = JSON.stringify(header)
  json += ' '.repeat((8 - (json.length % 8)) % 8)
  const length = Buffer.alloc(8)
  length.writeBigUInt64LE(BigInt(json.length))
  return Buffer.concat([length, Buffer.from(json), body])
}
