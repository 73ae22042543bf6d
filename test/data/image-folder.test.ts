import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodePng, loadDataset, readImageFolder, resizeImage, Tokenizer } from '../../src/data/index.js'

describe('image folder datasets', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hddm-folder-'))
    await mkdir(join(dir, 'sub'))
    // A 4x2 RGB image: left half red, right half blue; a 3x3 gray+alpha image, fully transparent.
    const rgb = new Uint8Array(4 * 2 * 3)
    for (let p = 0; p < 8; p++) rgb.set(p % 4 < 2 ? [255, 0, 0] : [0, 0, 255], 3 * p)
    await writeFile(join(dir, 'a.png'), encodePng({ width: 4, height: 2, channels: 3, pixels: rgb }))
    const grayAlpha = new Uint8Array(18).fill(200).map((v, i) => (i % 2 === 1 ? 0 : v))
    await writeFile(join(dir, 'sub', 'b.png'), encodePng({ width: 3, height: 3, channels: 2, pixels: grayAlpha }))
    const captions = '# file\tcaption\na.png\tA red and blue Flag\n\nsub/b.png\tnothing at all\n'
    await writeFile(join(dir, 'captions.tsv'), captions)
  })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('reads PNGs of any size into a fixed size, gray or RGB, with their captions', async () => {
    const rgb = await readImageFolder(dir, { width: 2, height: 2, channels: 3 })
    expect([rgb.count, rgb.width, rgb.height, rgb.channels]).toEqual([2, 2, 2, 3])
    expect(rgb.prompts).toEqual(['A red and blue Flag', 'nothing at all'])
    // Centre crop of the 4x2 image is its middle 2x2: one red column, one blue column.
    expect([...rgb.pixels.subarray(0, 6)]).toEqual([255, 0, 0, 0, 0, 255])
    expect([...rgb.pixels.subarray(12, 24)]).toEqual(new Array(12).fill(0)) // transparent over black
    const gray = await loadDataset(`folder:${dir}`, { width: 4, height: 4, channels: 1, background: 255 })
    expect(gray.pixels[0]).toBe(76) // BT.601 luma of pure red
    expect(gray.pixels[16]).toBe(255)
    const vocab = Tokenizer.fromPrompts(gray.prompts).vocab.slice(3)
    expect(vocab).toEqual(['a', 'all', 'and', 'at', 'blue', 'flag', 'nothing', 'red'])
  })

  it('reads captions.jsonl too', async () => {
    const other = await mkdtemp(join(tmpdir(), 'hddm-folder-'))
    await writeFile(join(other, 'x.png'), encodePng({ width: 1, height: 1, channels: 1, pixels: Uint8Array.of(9) }))
    await writeFile(join(other, 'captions.jsonl'), JSON.stringify({ file: 'x.png', caption: 'dot' }) + '\n')
    const ds = await readImageFolder(other, { width: 2, height: 2 })
    expect([...ds.pixels]).toEqual([9, 9, 9, 9])
    await rm(other, { recursive: true, force: true })
  })

  it('averages areas when shrinking', () => {
    const img = { width: 4, height: 4, channels: 1, pixels: Uint8Array.from({ length: 16 }, (_, i) => (i % 2) * 100) }
    expect([...resizeImage(img, 2, 2).pixels]).toEqual([50, 50, 50, 50])
    // Output column 0 covers source [0, 4/3): all of pixel 0 (0) and a third of pixel 1 (100).
    expect([...resizeImage(img, 3, 3).pixels]).toEqual([25, 50, 75, 25, 50, 75, 25, 50, 75])
  })

  it('gives InvalidDatasetError for missing folders, bad captions and bad images', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'hddm-folder-'))
    await expect(readImageFolder(join(bad, 'nope'))).rejects.toHaveProperty('name', 'InvalidDatasetError')
    const badCaptions = [
      'x.png no tab\n', '../x.png\tescape\n', 'x.png\ta\nx.png\tb\n', 'missing.png\tcaption\n', 'x.png\tnot a png\n'
    ]
    for (const captions of badCaptions) {
      await writeFile(join(bad, 'x.png'), 'not a png')
      await writeFile(join(bad, 'captions.tsv'), captions)
      await expect(readImageFolder(bad)).rejects.toHaveProperty('name', 'InvalidDatasetError')
    }
    await rm(bad, { recursive: true, force: true })
    await expect(loadDataset('cifar')).rejects.toHaveProperty('name', 'InvalidArgumentError')
  })
})
