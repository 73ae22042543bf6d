import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadFashionMnist, loadMnist, parseIdx, readIdxPair } from '../../src/data/index.js'

function idxBytes (dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length)
  const view = new DataView(out.buffer)
  out[2] = 0x08
  out[3] = dims.length
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false))
  out.set(data, 4 + 4 * dims.length)
  return out
}

describe('IDX datasets', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'hddm-idx-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('reads the embedded MNIST with the official counts and label histogram', async () => {
    const train = await loadMnist()
    expect([train.count, train.width, train.height, train.channels]).toEqual([60000, 28, 28, 1])
    const histogram = new Array(10).fill(0)
    for (const l of train.labels!) histogram[l]++
    expect(histogram).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    expect(train.prompts[0]).toBe(train.classNames![train.labels![0]])
    expect(train.prompts.find((_, i) => train.labels![i] === 7)).toBe('seven')
    const test = await loadMnist({ split: 'test' })
    expect(test.count).toBe(10000)
    expect(test.pixels.length).toBe(10000 * 784)
  })

  it('reads gzipped IDX pairs', async () => {
    // Debian's dataset-fashion-mnist (.ci/run installs it; test/prerequisites.test.ts says so by name).
    const fashion = await loadFashionMnist({ split: 'test' })
    expect(fashion.count).toBe(10000)
    const histogram = new Array(10).fill(0)
    for (const l of fashion.labels!) histogram[l]++
    expect(histogram).toEqual(new Array(10).fill(1000))
    expect(fashion.prompts[fashion.labels!.indexOf(9)]).toBe('ankle boot')
    const pixels = Uint8Array.from({ length: 3 * 2 * 2 }, (_, i) => i * 7)
    await writeFile(join(dir, 'img.gz'), gzipSync(idxBytes([3, 2, 2], pixels)))
    await writeFile(join(dir, 'lab.gz'), gzipSync(idxBytes([3], Uint8Array.of(2, 0, 1))))
    const ds = await readIdxPair(join(dir, 'img.gz'), join(dir, 'lab.gz'), { classNames: ['a', 'b', 'c'] })
    expect(ds.pixels).toEqual(pixels)
    expect(ds.prompts).toEqual(['c', 'a', 'b'])
  })

  it('rejects corrupt, truncated and mismatched IDX with InvalidDatasetError', async () => {
    const good = idxBytes([2, 2, 2], new Uint8Array(8))
    const bad: Uint8Array[] = [
      good.subarray(0, good.length - 1),  // truncated data
      good.subarray(0, 6),                // truncated header
      Uint8Array.from(good, (b, i) => (i === 0 ? 1 : b)), // bad magic
      Uint8Array.from(good, (b, i) => (i === 2 ? 0x0d : b)), // float elements
      gzipSync(good).subarray(0, 12)      // broken gzip
    ]
    const invalidDataset = expect.objectContaining({ name: 'InvalidDatasetError' })
    for (const bytes of bad) expect(() => parseIdx(bytes)).toThrowError(invalidDataset)
    const images = join(dir, 'i.idx')
    const labels = join(dir, 'l.idx')
    await writeFile(images, good)
    await writeFile(labels, idxBytes([3], new Uint8Array(3)))
    await expect(readIdxPair(images, labels)).rejects.toHaveProperty('name', 'InvalidDatasetError')
    await expect(readIdxPair(join(dir, 'missing'), labels)).rejects.toHaveProperty('name', 'InvalidDatasetError')
  })
})
