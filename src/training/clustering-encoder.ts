/**
 * The shipped clustering encoders as files: safetensors holding the backbone of a
 * FeatureEncoder (model/feature-encoder.ts) with its config and provenance in the metadata,
 * one per dataset under src/data/weights/. A run manifest pins the file by CID (CIDv1, raw,
 * sha2-256 of the file's bytes), so a run id commits to the exact features its clusters came from.
 */
import { readFile } from 'node:fs/promises'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { FeatureMap } from '../data/features.js'
import { InvalidArgumentError } from '../hddm-error.js'
import {
  encodeExact, encoderWeights, type EncoderWeights, type FeatureEncoder, type FeatureEncoderConfig
} from '../model/feature-encoder.js'
import { CorruptCheckpointError } from '../checkpoint/errors.js'
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../checkpoint/safetensors.js'

export const ENCODER_FORMAT = 'hddm-encoder/1'

/** The encoder of each dataset the repository ships one for, by dataset family. */
export const ENCODER_FILES: Record<string, string> = {
  mnist: 'mnist-encoder.safetensors',
  'fashion-mnist': 'fashion-mnist-encoder.safetensors'
}

/** The largest encoder file accepted (guards hostile or mistaken paths before decoding). */
export const MAX_ENCODER_BYTES = 64 * 1024 * 1024

/** What an encoder file records about itself. */
export interface EncoderInfo {
  dataset: string
  command?: string
  [key: string]: unknown
}

export interface EncoderFile extends EncoderWeights {
  info: EncoderInfo
}

export function weightsFromEncoder (encoder: FeatureEncoder, info: EncoderInfo): EncoderFile {
  return { ...encoderWeights(encoder), info }
}

export function encodeEncoderFile (file: EncoderFile): Uint8Array {
  const tensors = new Map<string, NamedTensor>()
  const widths = [file.config.inputSize, ...file.config.hidden, file.config.featureDim]
  file.layers.forEach((layer, i) => {
    tensors.set(`backbone.${i}.weight`, { shape: [widths[i], widths[i + 1]], data: layer.weight })
    tensors.set(`backbone.${i}.bias`, { shape: [widths[i + 1]], data: layer.bias })
  })
  const metadata = {
    format: ENCODER_FORMAT,
    config: JSON.stringify(file.config),
    info: JSON.stringify(file.info)
  }
  return encodeSafetensors({ tensors, metadata })
}

/** @throws CorruptCheckpointError for anything that is not a complete encoder file. */
export function decodeEncoderFile (bytes: Uint8Array): EncoderFile {
  const { tensors, metadata } = decodeSafetensors(bytes)
  if (metadata.format !== ENCODER_FORMAT) {
    throw new CorruptCheckpointError(`not an encoder file (format ${String(metadata.format)})`)
  }
  let config: FeatureEncoderConfig
  let info: EncoderInfo
  try {
    config = JSON.parse(metadata.config)
    info = JSON.parse(metadata.info)
  } catch {
    throw new CorruptCheckpointError('encoder metadata is not valid JSON')
  }
  const widths = [config?.inputSize, ...(Array.isArray(config?.hidden) ? config.hidden : [NaN]), config?.featureDim]
  if (!widths.every((w) => Number.isSafeInteger(w) && w > 0)) {
    throw new CorruptCheckpointError('encoder config has no valid widths')
  }
  const layers = widths.slice(1).map((out, i) => {
    const weight = tensors.get(`backbone.${i}.weight`)
    const bias = tensors.get(`backbone.${i}.bias`)
    if (weight?.shape.join(',') !== `${widths[i]},${out}` || bias?.shape.join(',') !== `${out}`) {
      throw new CorruptCheckpointError(`encoder layer ${i}: missing, or not [${widths[i]}, ${out}] and [${out}]`)
    }
    return { weight: weight.data, bias: bias.data }
  })
  if (tensors.size !== 2 * layers.length) {
    throw new CorruptCheckpointError(`encoder file holds ${tensors.size} tensors, its config ${2 * layers.length}`)
  }
  return { config, layers, info }
}

/** The CID a manifest pins an encoder file by: CIDv1, raw codec, sha2-256 of the bytes. */
export async function encoderCid (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

/** src/data/weights/<file> from both src/training (tsx) and dist/training (compiled). */
export function encoderPath (dataset: string): string {
  const family = dataset.includes(':') ? dataset.slice(0, dataset.indexOf(':')) : dataset
  const file = ENCODER_FILES[family]
  if (file === undefined) {
    const have = Object.keys(ENCODER_FILES).join(', ')
    const noEncoder = `no clustering encoder ships for dataset "${dataset}"`
    throw new InvalidArgumentError(`${noEncoder} (have ${have}); use pca features`)
  }
  return new URL(`../../src/data/weights/${file}`, import.meta.url).pathname
}

export interface LoadedEncoderFile {
  file: EncoderFile
  cid: CID
  bytes: number
}

/**
 * Reads a shipped encoder (by dataset name) or an encoder file (by path ending in
 * .safetensors); with `expectedCid`, a file of other bytes is refused.
 */
export async function loadEncoderFile (nameOrPath: string, expectedCid?: string): Promise<LoadedEncoderFile> {
  const path = nameOrPath.endsWith('.safetensors') ? nameOrPath : encoderPath(nameOrPath)
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new InvalidArgumentError(`cannot read encoder ${path}: ${reason}`)
  }
  if (bytes.byteLength > MAX_ENCODER_BYTES) {
    throw new CorruptCheckpointError(`encoder ${path} is ${bytes.byteLength} bytes, over ${MAX_ENCODER_BYTES}`)
  }
  const cid = await encoderCid(bytes)
  if (expectedCid !== undefined && cid.toString() !== expectedCid) {
    throw new CorruptCheckpointError(`encoder ${path} has CID ${cid.toString()}, the manifest pins ${expectedCid}`)
  }
  return { file: decodeEncoderFile(bytes), cid, bytes: bytes.byteLength }
}

/** The encoder's exact (bit-identical) features as clustering's feature map. */
export function encoderFeatureMap (weights: EncoderWeights): FeatureMap {
  return {
    kind: 'encoder',
    dims: weights.config.featureDim,
    transform: (dataset) => {
      const size = dataset.width * dataset.height * dataset.channels
      if (size !== weights.config.inputSize) {
        const shape = `${dataset.width}x${dataset.height}x${dataset.channels}`
        throw new InvalidArgumentError(`the encoder reads ${weights.config.inputSize}-value images, not ${shape}`)
      }
      return encodeExact(weights, dataset.pixels, dataset.count)
    }
  }
}

export interface ClusteringFeatures {
  /** undefined: pixel PCA (fitted by the clustering itself). */
  map?: FeatureMap
  /** 'pixel PCA' or 'encoder <name> (CID <cid>)', for reports. */
  description: string
  encoder?: { name: string, cid: string }
}

/**
 * The features a command clusters a dataset spec (`mnist`, `fashion-mnist:test`, ...) with:
 * `features` given, or by default the shipped encoder where one ships for the dataset and pixel
 * PCA elsewhere; `encoder` names another encoder file.
 */
export async function clusteringFeaturesFor (
  dataset: string, features?: 'encoder' | 'pca', encoder?: string
): Promise<ClusteringFeatures> {
  const family = dataset.split(':')[0]
  const kind = features ?? (encoder !== undefined || Object.hasOwn(ENCODER_FILES, family) ? 'encoder' : 'pca')
  if (kind === 'pca') {
    if (encoder !== undefined) throw new InvalidArgumentError('an encoder file needs encoder features')
    return { description: 'pixel PCA' }
  }
  const name = encoder ?? family
  const { file, cid } = await loadEncoderFile(name)
  const description = `encoder ${name} (CID ${cid.toString()})`
  return { map: encoderFeatureMap(file), description, encoder: { name, cid: cid.toString() } }
}
