import { createHash } from 'node:crypto'
import { InvalidArgumentError } from '../hddm-error.js'
import { InvalidDatasetError } from './errors.js'

/**
 * A dataset held in memory: N images of one size, HWC uint8, with one prompt per image.
 * `labels`/`classNames` exist for labelled sets (IDX); captioned folders have prompts only.
 */
export interface Dataset {
  name: string
  width: number
  height: number
  channels: number
  count: number
  /** N*H*W*C bytes, image-major, row-major, channels last. */
  pixels: Uint8Array
  labels?: Int32Array
  classNames?: string[]
  /** One prompt per image. */
  prompts: string[]
}

export const MNIST_CLASS_NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']

export const FASHION_MNIST_CLASS_NAMES = [
  't-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'
]

/** Bytes per image. */
export function imageSize (ds: Pick<Dataset, 'width' | 'height' | 'channels'>): number {
  return ds.width * ds.height * ds.channels
}

/** Throws InvalidDatasetError unless every array agrees with the declared shape. */
export function validateDataset (ds: Dataset): Dataset {
  const { width, height, channels, count } = ds
  for (const [k, v] of Object.entries({ width, height, channels, count })) {
    if (!Number.isInteger(v) || v < 0 || (k !== 'count' && v === 0)) {
      throw new InvalidDatasetError(`${ds.name}: ${k} must be a positive integer, got ${v}`)
    }
  }
  if (ds.pixels.length !== count * imageSize(ds)) {
    const shape = `${width}x${height}x${channels}`
    throw new InvalidDatasetError(`${ds.name}: ${ds.pixels.length} pixel bytes for ${count} images of ${shape}`)
  }
  if (ds.prompts.length !== count) {
    throw new InvalidDatasetError(`${ds.name}: ${ds.prompts.length} prompts for ${count} images`)
  }
  if (ds.labels !== undefined && ds.labels.length !== count) {
    throw new InvalidDatasetError(`${ds.name}: ${ds.labels.length} labels for ${count} images`)
  }
  return ds
}

/** The images at `indices`, in that order (a copy). */
export function subsetDataset (ds: Dataset, indices: ArrayLike<number>, name = ds.name): Dataset {
  const size = imageSize(ds)
  const pixels = new Uint8Array(indices.length * size)
  const prompts: string[] = new Array(indices.length)
  const labels = ds.labels === undefined ? undefined : new Int32Array(indices.length)
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]
    if (!Number.isInteger(j) || j < 0 || j >= ds.count) {
      throw new InvalidArgumentError(`subsetDataset: index ${j} outside [0, ${ds.count})`)
    }
    pixels.set(ds.pixels.subarray(j * size, (j + 1) * size), i * size)
    prompts[i] = ds.prompts[j]
    if (labels !== undefined) labels[i] = ds.labels![j]
  }
  const { width, height, channels, classNames } = ds
  return { name, width, height, channels, count: indices.length, pixels, labels, classNames, prompts }
}

/** The first n images (n clamped to the count). */
export function takeDataset (ds: Dataset, n: number): Dataset {
  const m = Math.min(ds.count, Math.max(0, Math.floor(n)))
  return subsetDataset(ds, Array.from({ length: m }, (_, i) => i), ds.name)
}

/**
 * sha256 (hex) of the dataset's content: shape, class names, pixels, labels and prompts.
 * The name is left out so that the same bytes read from two paths have one digest.
 */
export function datasetDigest (ds: Dataset): string {
  const h = createHash('sha256')
  const { width, height, channels, count } = ds
  h.update(JSON.stringify({ width, height, channels, count, classNames: ds.classNames ?? null }))
  h.update(ds.pixels)
  if (ds.labels !== undefined) h.update(new Uint8Array(int32ToLE(ds.labels)))
  h.update(JSON.stringify(ds.prompts))
  return h.digest('hex')
}

function int32ToLE (a: Int32Array): ArrayBuffer {
  const out = new DataView(new ArrayBuffer(a.length * 4))
  for (let i = 0; i < a.length; i++) out.setInt32(i * 4, a[i], true)
  return out.buffer
}
