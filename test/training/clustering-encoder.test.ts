import { describe, it, expect, beforeAll } from 'vitest'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { loadMnist, takeDataset } from '../../src/data/index.js'
import { FeatureEncoder } from '../../src/model/feature-encoder.js'
import {
  decodeEncoderFile, encodeEncoderFile, encoderCid, encoderFeatureMap, encoderPath, loadEncoderFile,
  weightsFromEncoder, ENCODER_FILES
} from '../../src/training/clustering-encoder.js'
import { encodeSafetensors } from '../../src/checkpoint/safetensors.js'

beforeAll(async () => { await tf.setBackend('cpu') })

const config = { inputSize: 784, hidden: [32], featureDim: 8, projectionDim: 4 }
function sampleFile (): Uint8Array {
  const encoder = new FeatureEncoder(config, 2)
  const bytes = encodeEncoderFile(weightsFromEncoder(encoder, { dataset: 'mnist', command: 'test' }))
  encoder.dispose()
  return bytes
}

describe('clustering encoder files', () => {
  it('round-trip their backbone exactly and are named by the raw sha2-256 CID of their bytes', async () => {
    const bytes = sampleFile()
    const file = decodeEncoderFile(bytes)
    expect(file.config).toEqual(config)
    expect(file.info).toEqual({ dataset: 'mnist', command: 'test' })
    expect(encodeEncoderFile(file)).toEqual(bytes)
    const cid = await encoderCid(bytes)
    expect(cid.toString()).toBe(CID.createV1(0x55, await sha256.digest(bytes)).toString())
    expect(cid.toString()).toMatch(/^bafkrei/)
  })

  it('refuse anything that is not a whole encoder file, with a typed error', async () => {
    const bytes = sampleFile()
    const corruptCheckpoint = expect.objectContaining({ name: 'CorruptCheckpointError' })
    const corrupt = (b: Uint8Array): void => { expect(() => decodeEncoderFile(b)).toThrow(corruptCheckpoint) }
    corrupt(bytes.subarray(0, bytes.length - 4))
    corrupt(encodeSafetensors({ tensors: new Map(), metadata: { format: 'hddm-classifier/1' } }))
    const file = decodeEncoderFile(bytes)
    corrupt(encodeSafetensors({
      tensors: new Map([['backbone.0.weight', { shape: [784, 32], data: file.layers[0].weight }]]),
      metadata: { format: 'hddm-encoder/1', config: JSON.stringify(config), info: '{}' }
    }))
    corrupt(encodeSafetensors({
      tensors: new Map(), metadata: { format: 'hddm-encoder/1', config: '{"inputSize": -1}', info: '{}' }
    }))
  })

  it('load only the pinned bytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hddm-encoder-'))
    try {
      const path = join(dir, 'e.safetensors')
      const bytes = sampleFile()
      await writeFile(path, bytes)
      const cid = (await encoderCid(bytes)).toString()
      expect((await loadEncoderFile(path, cid)).cid.toString()).toBe(cid)
      const other = (await encoderCid(new Uint8Array([1, 2, 3]))).toString()
      await expect(loadEncoderFile(path, other)).rejects.toHaveProperty('name', 'CorruptCheckpointError')
      const missing = join(dir, 'missing.safetensors')
      await expect(loadEncoderFile(missing)).rejects.toHaveProperty('name', 'InvalidArgumentError')
      await expect(loadEncoderFile('cifar')).rejects.toHaveProperty('name', 'InvalidArgumentError')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('ship for MNIST and Fashion-MNIST, and the default manifest pins the MNIST one', async () => {
    for (const dataset of Object.keys(ENCODER_FILES)) {
      const { file, cid } = await loadEncoderFile(dataset)
      expect(file.config.inputSize).toBe(784)
      expect(file.info.dataset).toBe(dataset)
      expect(cid.toString()).toBe((await encoderCid(await readFile(encoderPath(dataset)))).toString())
    }
    const manifest = JSON.parse(await readFile(new URL('../../manifests/default.json', import.meta.url), 'utf8'))
    const pinned = (await loadEncoderFile('mnist')).cid.toString()
    expect(manifest.clustering).toMatchObject({ features: 'encoder', encoder: { file: 'mnist', cid: pinned } })
  })

  it('map images of the encoder\'s size only', async () => {
    const map = encoderFeatureMap(decodeEncoderFile(sampleFile()))
    const data = takeDataset(await loadMnist({ split: 'train' }), 4)
    expect(map.transform(data)).toHaveLength(4 * 8)
    const halfSize = { ...data, width: 14, height: 14, pixels: new Uint8Array(4 * 196) }
    expect(() => map.transform(halfSize)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
  })
})
