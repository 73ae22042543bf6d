import { readFile } from 'node:fs/promises'
import { isAbsolute, join, normalize, sep } from 'node:path'
import { InvalidArgumentError, throwIfAborted } from '../hddm-error.js'
import { InvalidDatasetError, InvalidPngError } from './errors.js'
import { readDatasetFile } from './idx.js'
import { resizeImage, toChannels } from './image-ops.js'
import { decodePng } from './png.js'
import type { Dataset } from './dataset.js'
import type { AbortOptions } from '../progress.js'

/**
 * A folder of PNGs with a captions file, in either form (TSV wins if both exist):
 *   captions.tsv    one `file<TAB>caption` per line; blank lines and lines starting with # skipped
 *   captions.jsonl  one `{"file": "...", "caption": "..."}` per line
 * Paths are relative to the folder. Items keep the captions file's order.
 */
export const CAPTION_FILES = ['captions.tsv', 'captions.jsonl'] as const

export interface ImageFolderOptions extends AbortOptions {
  name?: string
  /** Every image is centre-cropped and area-resampled to width x height (default 28 x 28). */
  width?: number
  height?: number
  /** 1 = gray (BT.601 luma), 3 = RGB (default 1). */
  channels?: 1 | 3
  /** Gray level that transparent pixels are composited over (default 0, black). */
  background?: number
}

export interface CaptionEntry {
  file: string
  caption: string
}

export async function readImageFolder (dir: string, options: ImageFolderOptions = {}): Promise<Dataset> {
  const width = options.width ?? 28
  const height = options.height ?? 28
  const channels = options.channels ?? 1
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InvalidArgumentError(`image size must be positive integers, got ${width}x${height}`)
  }
  if (channels !== 1 && channels !== 3) {
    throw new InvalidArgumentError(`channels must be 1 or 3, got ${String(channels)}`)
  }
  const entries = await readCaptions(dir, options)
  if (entries.length === 0) throw new InvalidDatasetError(`${dir}: the captions file lists no images`)
  const size = width * height * channels
  const pixels = new Uint8Array(entries.length * size)
  for (let i = 0; i < entries.length; i++) {
    throwIfAborted(options.signal)
    const path = join(dir, entries[i].file)
    let image
    try {
      image = decodePng(await readDatasetFile(path, options))
    } catch (err) {
      if (err instanceof InvalidPngError) throw new InvalidDatasetError(`${path}: ${err.message}`)
      throw err
    }
    pixels.set(resizeImage(toChannels(image, channels, options.background ?? 0), width, height).pixels, i * size)
  }
  const name = options.name ?? `folder:${dir}`
  return { name, width, height, channels, count: entries.length, pixels, prompts: entries.map(e => e.caption) }
}

/** Reads and validates the folder's captions file. */
export async function readCaptions (dir: string, options: AbortOptions = {}): Promise<CaptionEntry[]> {
  for (const file of CAPTION_FILES) {
    let text: string
    try {
      text = await readFile(join(dir, file), { encoding: 'utf8', signal: options.signal })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') continue
      throw new InvalidDatasetError(`cannot read ${join(dir, file)}: ${code ?? (err as Error).message}`)
    }
    return parseCaptions(text, file)
  }
  throw new InvalidDatasetError(`${dir}: no ${CAPTION_FILES.join(' or ')}`)
}

export function parseCaptions (text: string, format: typeof CAPTION_FILES[number]): CaptionEntry[] {
  const entries: CaptionEntry[] = []
  const seen = new Set<string>()
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || (format === 'captions.tsv' && line.startsWith('#'))) return
    let entry: CaptionEntry
    if (format === 'captions.tsv') {
      const tab = line.indexOf('\t')
      if (tab < 0) throw new InvalidDatasetError(`${format} line ${i + 1}: expected file<TAB>caption`)
      entry = { file: line.slice(0, tab), caption: line.slice(tab + 1) }
    } else {
      let json: unknown
      try { json = JSON.parse(line) } catch { throw new InvalidDatasetError(`${format} line ${i + 1}: not JSON`) }
      const j = json as Partial<CaptionEntry> | null
      if (j === null || typeof j.file !== 'string' || typeof j.caption !== 'string') {
        throw new InvalidDatasetError(`${format} line ${i + 1}: expected {"file", "caption"} strings`)
      }
      entry = { file: j.file, caption: j.caption }
    }
    const file = normalize(entry.file)
    const outsideFolder = entry.file === '' || isAbsolute(entry.file) || file === '..' || file.startsWith(`..${sep}`)
    if (outsideFolder) {
      throw new InvalidDatasetError(`${format} line ${i + 1}: ${entry.file} is not a path inside the folder`)
    }
    if (seen.has(file)) throw new InvalidDatasetError(`${format} line ${i + 1}: ${entry.file} is listed twice`)
    seen.add(file)
    entries.push({ file, caption: entry.caption.trim() })
  })
  return entries
}
