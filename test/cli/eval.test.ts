import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  buildShards, clusterDataset, decodePng, encodeShard, loadMnist, takeDataset, Tokenizer
} from '../../src/data/index.js'
import { parseEnsembleManifest } from '../../src/protocol/ensemble-manifest.js'
import { disposeBackend } from '../../src/runtime/index.js'
import { encodeCheckpoint, type Checkpoint } from '../../src/checkpoint/format.js'
import { randomExpertCheckpoint, randomRouterCheckpoint } from '../checkpoint/fixtures.js'
import type { CID } from 'multiformats/cid'
import { createTestNode } from '../utils/create-node.js'
import { useTrainingBackend } from '../utils/backend.js'

interface Run { code: number, stdout: string, stderr: string }

async function cli (...args: string[]): Promise<Run> {
  return await new Promise(resolve => {
    const options = { cwd: process.cwd(), timeout: 180_000 }
    execFile('npx', ['tsx', 'src/cli/bin.ts', ...args], options, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : -1), stdout, stderr })
    })
  })
}

let dir: string
let dataDir: string
let ensembleId: string
const files: Record<string, string> = {}

/**
 * A tiny ensemble of two clusters (a DDPM and an FM expert, random weights with a non-zero
 * output layer) in a node's blockstore and as files.
 */
beforeAll(async () => {
  await useTrainingBackend()
  dir = await mkdtemp(join(tmpdir(), 'hddm-eval-cli-'))
  dataDir = join(dir, 'node')
  const data = takeDataset(await loadMnist({ split: 'test' }), 400)
  const clustering = await clusterDataset(data, { k: 2, seed: 0, fine: 8 })
  const shards = buildShards(data, clustering, { heldOutFraction: 0.2, seed: 0 })
  await mkdir(join(dir, 'shards'))
  for (const s of shards) {
    await writeFile(join(dir, 'shards', `cluster-${s.cluster}.held-out.hddmshard`), encodeShard(s.heldOut))
  }
  const tokenizer = Tokenizer.fromJSON(shards[0].train.header.tokenizer)
  const node = await createTestNode({ dataDir })
  try {
    const run = await node.storage.putJson({ test: 'eval-cli' })
    const add = async (name: string, checkpoint: Checkpoint): Promise<CID> => {
      const bytes = encodeCheckpoint(checkpoint)
      files[name] = join(dir, `${name}.safetensors`)
      await writeFile(files[name], bytes)
      return await node.storage.addBytes(bytes)
    }
    const routerCid = await add('router', randomRouterCheckpoint({ numExperts: 2, run: run.toString() }))
    const experts = []
    for (const [cluster, objective] of [[0, 'ddpm'], [1, 'fm']] as const) {
      const checkpoint = randomExpertCheckpoint({ tokenizer, objective, cluster, run: run.toString() })
      const cid = await add(`expert-${cluster}`, checkpoint)
      experts.push({ cid, cluster, objective })
    }
    const manifest = parseEnsembleManifest({ v: 1, run, k: 2, router: routerCid, experts })
    ensembleId = (await node.storage.putJson(manifest)).toString()
  } finally {
    await node.stop()
    await disposeBackend()
  }
}, 120_000)

afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('hddm-node eval', () => {
  it('scores an ensemble by CID for two routings, with the loss matrix, and writes JSON and a grid', async () => {
    const json = join(dir, 'eval.json')
    const grid = join(dir, 'grid.png')
    const run = await cli(
      'eval', '--ensemble', ensembleId, '--data-dir', dataDir, '--routing', 'top1', '--routing', 'full',
      '--samples', '20', '--steps', '2', '--held-out', join(dir, 'shards'),
      '--json', json, '--grid', grid, '--backend', 'native'
    )
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^top1 +FID \d+\.\d+/m)
    expect(run.stdout).toMatch(/^full +FID \d+\.\d+/m)
    const out = JSON.parse(await readFile(json, 'utf8'))
    expect(out.ensemble).toBe(ensembleId)
    expect(out.results.map((r: { routing: string }) => r.routing)).toEqual(['top1', 'full'])
    for (const r of out.results) {
      expect(r.count).toBe(20)
      expect(r.fid).toBeGreaterThan(0)
      expect(r.promptAccuracy.accuracy).toBeGreaterThanOrEqual(0)
      expect(r.diversity.prompts).toBe(10)
    }
    // top-1 evaluates one expert per image, full both.
    expect(out.results[0].gflopsPerSample).toBeLessThan(out.results[1].gflopsPerSample)
    expect(out.lossMatrix.losses).toHaveLength(2)
    expect(out.lossMatrix.losses.flat().every((v: number) => Number.isFinite(v) && v > 0)).toBe(true)
    const png = decodePng(await readFile(grid))
    expect(png.width).toBe(2 * (56 + 2) + 2)
  }, 180_000)

  it('takes local checkpoint files instead of a CID, and refuses to run without either', async () => {
    const run = await cli(
      'eval', '--router', files.router, '--expert', `0=${files['expert-0']}`, '--expert', `1=${files['expert-1']}`,
      '--samples', '20', '--steps', '1', '--backend', 'native'
    )
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^full +FID \d+\.\d+.*\(20 samples/m)
    const bad = await cli('eval', '--samples', '20')
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('hddm-node: InvalidArgumentError:')
    const few = await cli(
      'eval', '--router', files.router, '--expert', `0=${files['expert-0']}`, '--samples', '10', '--backend', 'native'
    )
    expect(few.code).toBe(1)
    expect(few.stderr).toContain('hddm-node: InvalidArgumentError: --samples must be at least 20')
  }, 180_000)
})
