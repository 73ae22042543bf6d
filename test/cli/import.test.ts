import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { decodeSafetensors } from '../../src/checkpoint/safetensors.js'
import { pythonWithTorch, runTorchScript } from '../utils/python-torch.js'

const REFERENCE = fileURLToPath(new URL('../model/reference_dit.py', import.meta.url))
const CONVERTER = fileURLToPath(new URL('../../scripts/convert-dit-pt.py', import.meta.url))

interface Exit { code: number, stdout: string, stderr: string }

async function run (command: string, args: string[]): Promise<Exit> {
  return await new Promise((resolve) => {
    execFile(command, args, { timeout: 240_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? 1), stdout, stderr })
    })
  })
}

const hddmNode = async (...args: string[]): Promise<Exit> =>
  await run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args])

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hddm-cli-import-'))
  // The `tiny` preset's shape, saved by torch.save as DiT's released .pt files are.
  const tiny = ['--input-size', '28', '--channels', '1', '--patch', '7', '--heads', '2']
  runTorchScript(REFERENCE, ['--out', dir, ...tiny, '--pt'])
}, 180_000)
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('hddm-node import', () => {
  it('converts a .pt (scripts/convert-dit-pt.py), imports it, trains FM from it and samples', async () => {
    const convert = [CONVERTER, join(dir, 'weights.pt'), join(dir, 'converted.safetensors')]
    const converted = await run(pythonWithTorch(), convert)
    expect(converted.code, converted.stderr).toBe(0)
    const written = decodeSafetensors(await readFile(join(dir, 'converted.safetensors'))).tensors
    const reference = decodeSafetensors(await readFile(join(dir, 'weights.safetensors'))).tensors
    expect([...written.keys()].sort()).toEqual([...reference.keys()].sort())
    for (const [name, t] of reference) expect(written.get(name)?.data, name).toEqual(t.data)

    // Width 64 is no DiT model's: the head count, which no tensor shows, is given.
    const imported = await hddmNode('import', join(dir, 'converted.safetensors'), '--from', 'dit', '--heads', '2',
      '--out', join(dir, 'imported.safetensors'), '--json')
    expect(imported.code, imported.stderr).toBe(0)
    expect(JSON.parse(imported.stdout)).toMatchObject({
      preset: 'tiny', sigma: 'kept', conditioning: '10 classes', objective: 'ddpm, linear schedule T=1000'
    })
    const checkpoint = decodeCheckpoint(await readFile(join(dir, 'imported.safetensors')))
    expect(checkpoint.metadata).toMatchObject({ preset: 'tiny', config: { heads: 2, adaln: 'zero' } })

    const train = await hddmNode('train', '--dataset', 'mnist:test', '--k', '3', '--cluster', '0',
      '--preset', 'tiny', '--objective', 'fm', '--init', join(dir, 'imported.safetensors'),
      '--steps', '2', '--batch', '8', '--out', join(dir, 'fm'), '--json')
    expect(train.code, train.stderr).toBe(0)
    const expert = decodeCheckpoint(await readFile(join(dir, 'fm', 'expert.safetensors')))
    expect(expert.metadata).toMatchObject({
      objective: 'fm', schedule: { kind: 'linear' }, extra: { timeInput: 'ddpm-snr' }
    })
    const sample = await hddmNode('sample', '--checkpoint', join(dir, 'fm', 'expert.safetensors'),
      '--prompt', 'seven', '-n', '2', '--steps', '2', '--out', join(dir, 'grid.png'))
    expect(sample.code, sample.stderr).toBe(0)
  }, 600_000)

  it('refuses a file of another layout in one line naming UnsupportedLayoutError', async () => {
    const exit = await hddmNode('import', join(dir, 'weights.safetensors'), '--from', 'diffusers',
      '--out', join(dir, 'never.safetensors'))
    expect(exit.code).toBe(1)
    expect(exit.stderr.trim().split('\n')).toHaveLength(1)
    expect(exit.stderr).toMatch(/^hddm-node: UnsupportedLayoutError: /)
  }, 120_000)
})
