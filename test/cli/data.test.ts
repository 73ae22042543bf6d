import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildShards, clusterDataset, decodePng, encodeShard, loadDataset, loadMnist, shardDigest, takeDataset
} from '../../src/data/index.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

async function cli (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const command = ['--import', 'tsx', 'src/cli/bin.ts', ...args]
    const { stdout, stderr } = await promisify(execFile)(process.execPath, command, { cwd: root })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

function idx (dims: number[], data: Uint8Array): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length)
  header[2] = 8
  header[3] = dims.length
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i))
  return Buffer.concat([header, data])
}

describe('hddm-node data cluster', () => {
  let dir: string
  let spec: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hddm-cli-data-'))
    const subset = takeDataset(await loadMnist({ split: 'test' }), 1500)
    await writeFile(join(dir, 'images'), idx([1500, 28, 28], subset.pixels))
    await writeFile(join(dir, 'labels'), idx([1500], Uint8Array.from(subset.labels!)))
    spec = `idx:${join(dir, 'images')},${join(dir, 'labels')}`
  })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('prints sizes, pi_k, purity and the same shard digests as the library; writes a grid per cluster', async () => {
    const out = join(dir, 'out')
    const args = ['--dataset', spec, '--k', '3', '--seed', '4', '--fine', '16', '--json', '--out', out]
    const { code, stdout } = await cli(['data', 'cluster', ...args])
    expect(code).toBe(0)
    const report = JSON.parse(stdout)
    const sizes = report.clusters.map((c: { size: number }) => c.size)
    expect(sizes.reduce((a: number, b: number) => a + b, 0)).toBe(1500)
    const pis = report.clusters.map((c: { pi: number }) => c.pi)
    expect(pis.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 12)
    expect(report.purity).toBeGreaterThan(report.majorityFraction)

    const dataset = await loadDataset(spec)
    const clustering = await clusterDataset(dataset, { k: 3, seed: 4, fine: 16 })
    expect(report.clusteringDigest).toBe(clustering.digest)
    const shards = buildShards(dataset, clustering, { heldOutFraction: 0.05, seed: 4 })
    const trainDigests = report.clusters.map((c: { train: { sha256: string } }) => c.train.sha256)
    expect(trainDigests).toEqual(shards.map(s => shardDigest(encodeShard(s.train))))
    for (const c of report.clusters) {
      const grid = decodePng(await readFile(c.grid))
      expect(grid.channels).toBe(1)
    }
  })

  it('exits 1 with a typed error for K < 1, K above the data and missing files', async () => {
    const missingImages = `idx:${join(dir, 'missing')},${join(dir, 'labels')}`
    for (const args of [['--k', '0'], ['--k', '1501'], ['--k', '2', '--dataset', missingImages]]) {
      const { code, stderr } = await cli(['data', 'cluster', '--dataset', spec, '--out', join(dir, 'bad'), ...args])
      expect(code).toBe(1)
      expect(stderr).toMatch(/InvalidArgumentError|InvalidDatasetError/)
      expect(stderr).not.toMatch(/\n\s+at /)
    }
  })
})
