import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { registerSample } from '../../src/cli/sample.js'
import { registerTrain } from '../../src/cli/train.js'
import { decodePng } from '../../src/data/png.js'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'

interface Run { code: number, stdout: string, stderr: string }

async function cli (...args: string[]): Promise<Run> {
  return await new Promise(resolve => {
    const options = { cwd: process.cwd(), timeout: 120_000 }
    execFile('npx', ['tsx', 'src/cli/bin.ts', ...args], options, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : -1), stdout, stderr })
    })
  })
}

/** A typed, one-line failure: exit 1, the error's name, no stack trace. */
function expectTypedFailure (run: Run, name: string): void {
  expect(run.code).toBe(1)
  expect(run.stderr).toContain(`hddm-node: ${name}:`)
  expect(run.stderr).not.toMatch(/^\s+at /m)
}

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'hddm-cli-train-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('hddm-node train and sample', () => {
  it('trains a tiny expert on one cluster and samples a grid from it', async () => {
    const train = await cli('train',
      '--dataset', 'mnist:test', '--k', '3', '--cluster', '1',
      '--preset', 'tiny', '--objective', 'ddpm',
      '--steps', '4', '--batch', '8', '--checkpoint-every', '2',
      '--out', join(dir, 'run'), '--json')
    expect(train.code).toBe(0)
    const lines = train.stdout.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    expect(lines.filter(l => l.event === 'step').map(l => l.step)).toEqual([1, 2, 3, 4])
    expect(lines.filter(l => l.event === 'checkpoint').map(l => l.step)).toEqual([2, 4])
    expect(lines.at(-1)).toMatchObject({ event: 'summary', step: 4, aborted: false })
    const expert = decodeCheckpoint(await readFile(join(dir, 'run', 'expert.safetensors')))
    expect(expert.metadata).toMatchObject({ network: 'expert', preset: 'tiny', objective: 'ddpm', cluster: 1, step: 4 })
    expect([...expert.tensors.keys()].some(n => n.startsWith('raw.') || n.startsWith('adam.'))).toBe(false)

    const out = join(dir, 'grid.png')
    const sample = await cli('sample',
      '--checkpoint', join(dir, 'run', 'expert.safetensors'),
      '--prompt', 'seven', '--prompt', 'two',
      '-n', '3', '--steps', '3', '--scale', '1', '--out', out)
    expect(sample.code).toBe(0)
    const png = decodePng(await readFile(out))
    // 3 columns x 2 rows of 28x28 tiles with 2-pixel padding.
    expect([png.width, png.height]).toEqual([3 * 30 + 2, 2 * 30 + 2])
  }, 300_000)

  it('a bad flag exits 1 with the error name and no stack trace', async () => {
    const run = await cli('train', '--k', '4', '--cluster', '4', '--preset', 'tiny', '--out', join(dir, 'x'))
    expectTypedFailure(run, 'InvalidArgumentError')
  }, 120_000)

  it('rejects bad input with typed errors', async () => {
    const run = async (...args: string[]): Promise<void> => {
      const program = new Command('hddm-node').exitOverride()
      registerTrain(program)
      registerSample(program)
      await program.parseAsync(args, { from: 'user' })
    }
    const x = join(dir, 'x')
    const y = join(dir, 'y.png')
    const expert = join(dir, 'run', 'expert.safetensors')
    const corrupt = join(dir, 'corrupt.safetensors')
    await expect(run('train', '--dataset', 'mnist:test',
      '--k', '20000', '--cluster', '0', '--preset', 'tiny', '--out', x))
      .rejects.toHaveProperty('name', 'InvalidArgumentError')
    await expect(run('train', '--k', '4', '--cluster', '0', '--preset', 'giant', '--out', x))
      .rejects.toHaveProperty('name', 'InvalidArgumentError')
    await expect(run('train', '--k', '4', '--cluster', '0', '--preset', 'tiny',
      '--init', join(dir, 'missing.safetensors'), '--out', x))
      .rejects.toHaveProperty('name', 'CheckpointNotFoundError')
    await expect(run('train', '--k', '4', '--cluster', '0', '--preset', 'tiny',
      '--resume', '--out', join(dir, 'empty')))
      .rejects.toHaveProperty('name', 'CheckpointNotFoundError')
    await writeFile(corrupt, new Uint8Array(64).fill(7))
    await expect(run('sample', '--checkpoint', corrupt, '--prompt', 'one', '--out', y))
      .rejects.toHaveProperty('name', 'CorruptCheckpointError')
    await expect(run('sample', '--checkpoint', expert, '--preset', 'small', '--prompt', 'one', '--out', y))
      .rejects.toHaveProperty('name', 'ShapeMismatchError')
    await expect(run('sample', '--checkpoint', expert, '--prompt', 'one', '--sampler', 'rk4', '--out', y))
      .rejects.toHaveProperty('name', 'InvalidArgumentError')
  })
})
