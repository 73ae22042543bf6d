import { describe, it, expect, beforeAll } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/checkpoint/safetensors.js'
import {
  assignParams, decodeCheckpoint, encodeCheckpoint, paramsToTensors, CHECKPOINT_FORMAT
} from '../../src/checkpoint/format.js'
import { DiT } from '../../src/model/dit.js'
import { EXPERT_PRESETS } from '../../src/model/config.js'

beforeAll(async () => { await tf.setBackend('cpu') })

const sample = (): Map<string, NamedTensor> => new Map([
  ['blocks.0.attn.qkv.weight', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
  ['a.bias', { shape: [3], data: Float32Array.from([-1.5, 0, 1e-8]) }],
  ['scalar', { shape: [], data: Float32Array.from([42]) }]
])

describe('safetensors codec', () => {
  it('round-trips tensors and metadata byte-exactly', () => {
    const bytes = encodeSafetensors({ tensors: sample(), metadata: { note: 'hi' } })
    const back = decodeSafetensors(bytes)
    expect(back.metadata).toEqual({ note: 'hi' })
    for (const [name, t] of sample()) {
      expect(back.tensors.get(name)?.shape).toEqual(t.shape)
      expect(back.tensors.get(name)?.data).toEqual(t.data)
    }
    expect(encodeSafetensors(back)).toEqual(bytes)
  })

  it('gives CorruptCheckpointError for every truncation, never a partial load', () => {
    const bytes = encodeSafetensors({ tensors: sample(), metadata: {} })
    const corrupt = expect.objectContaining({ name: 'CorruptCheckpointError' })
    for (let cut = 0; cut < bytes.length; cut += 3) {
      expect(() => decodeSafetensors(bytes.subarray(0, cut))).toThrow(corrupt)
    }
  })

  it('rejects hostile headers with CorruptCheckpointError', () => {
    const good = encodeSafetensors({ tensors: sample(), metadata: {} })
    const hugeLength = good.slice(); new DataView(hugeLength.buffer).setBigUint64(0, 2n ** 62n, true)
    const headerOf = (h: unknown): Uint8Array => {
      const json = Buffer.from(JSON.stringify(h))
      const out = new Uint8Array(8 + json.length + 8)
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
      out.set(json, 8)
      return out
    }
    const cases = [
      hugeLength,
      headerOf([1, 2]),
      headerOf({ x: { dtype: 'F16', shape: [4], data_offsets: [0, 8] } }),
      headerOf({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 8] } }),                 // size mismatch
      headerOf({
        x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
        y: { dtype: 'F32', shape: [1], data_offsets: [2, 6] }                              // overlap
      }),
      headerOf({ x: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }),
      headerOf({ __metadata__: { a: 1 }, x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } })
    ]
    const corrupt = expect.objectContaining({ name: 'CorruptCheckpointError' })
    for (const bytes of cases) expect(() => decodeSafetensors(bytes)).toThrow(corrupt)
  })

  it('is read by a spec-following numpy reader in Python', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hddm-st-'))
    const file = join(dir, 'x.safetensors')
    writeFileSync(file, encodeSafetensors({ tensors: sample(), metadata: { hddm: '{}' } }))
    const reader = join(import.meta.dirname, 'safetensors_reference.py')
    const out = JSON.parse(execFileSync('python3', [reader, file]).toString())
    expect(out.metadata).toEqual(['hddm'])
    expect(out.tensors['blocks.0.attn.qkv.weight']).toEqual({ shape: [2, 3], sum: 21 })
    expect(out.tensors.scalar).toEqual({ shape: [], sum: 42 })
  })
})

describe('model checkpoints', () => {
  it('restores a DiT exactly and refuses one of another preset', () => {
    const a = new DiT(EXPERT_PRESETS.tiny, 1)
    const b = new DiT(EXPERT_PRESETS.tiny, 2)
    const bytes = encodeCheckpoint({
      metadata: {
        format: CHECKPOINT_FORMAT, network: 'expert', config: { ...EXPERT_PRESETS.tiny },
        preset: 'tiny', objective: 'fm', cluster: 3, step: 7
      },
      tensors: paramsToTensors(a.params)
    })
    const ckpt = decodeCheckpoint(bytes)
    expect(ckpt.metadata).toMatchObject({ objective: 'fm', cluster: 3, step: 7 })
    assignParams(b.params, ckpt.tensors)
    for (const [name, v] of a.params.variables) expect(b.params.get(name).dataSync()).toEqual(v.dataSync())

    const other = new DiT({ ...EXPERT_PRESETS.tiny, hidden: 2 * EXPERT_PRESETS.tiny.hidden }, 1)
    const shapeMismatch = expect.objectContaining({ name: 'ShapeMismatchError' })
    expect(() => assignParams(other.params, ckpt.tensors)).toThrow(shapeMismatch)
    const bareSafetensors = encodeSafetensors({ tensors: new Map(), metadata: {} })
    expect(() => decodeCheckpoint(bareSafetensors)).toThrow(expect.objectContaining({ name: 'CorruptCheckpointError' }))
    for (const m of [a, b, other]) m.dispose()
  })
})
