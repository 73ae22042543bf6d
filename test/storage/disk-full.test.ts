/**
 * A full disk: every write path fails with DiskFullError, and what was written before stays
 * usable. Each case runs in a child process with a private mount namespace (`unshare`) in which
 * a small tmpfs is the data directory, so nothing on the machine's own disks fills up.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { allFinite, decodeCheckpoint } from '../../src/checkpoint/format.js'

interface Run { code: number | null, stdout: string, stderr: string }

/** `script` runs under sh with $1 = a fresh tmpfs of `size`, $2 = a directory outside it. */
async function onSmallDisk (size: string, script: string, outside: string): Promise<Run> {
  const disk = '/tmp/hddm-small-disk'
  const shell = `set -e; mkdir -p ${disk}; mount -t tmpfs -o size=${size} tmpfs ${disk}; set +e; ${script}`
  const args = ['--user', '--map-root-user', '--mount', 'sh', '-c', shell, 'sh', disk, outside]
  const child = spawn('unshare', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await new Promise<number | null>((resolve) => { child.on('exit', resolve) })
  return { code, stdout, stderr }
}

const NODE = `"${process.execPath}" --import tsx`

describe('a full disk', () => {
  const dirs: string[] = []
  afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

  it('stops training with DiskFullError and leaves the last checkpoint whole, with no stray temporary file',
    { timeout: 120_000 }, async () => {
    const outside = await mkdtemp(join(tmpdir(), 'hddm-disk-full-'))
    dirs.push(outside)
    // A tiny expert's resumable checkpoint is ~3 MB: the first fits in 4 MB, the second
    // (written beside the first, then renamed over it) does not.
    const train = `${NODE} src/cli/bin.ts train --dataset mnist --k 4 --cluster 0 --objective fm --preset tiny \\
      --steps 12 --batch 8 --warmup 1 --checkpoint-every 4 --out "$1/out" --json`
    const keep = 'cp "$1/out/checkpoint.safetensors" "$2/"; ls -a "$1/out" > "$2/listing"'
    const run = await onSmallDisk('4m', `${train}; echo "exit=$?"; ${keep}`, outside)
    expect(run.stdout, run.stderr).toMatch(/exit=1/)
    expect(run.stderr).toMatch(/^hddm-node: DiskFullError: no space left to write .*checkpoint\.safetensors/m)
    expect(run.stderr).not.toMatch(/\n\s+at /)
    // Nothing torn or stray: the previous checkpoint and no temporary file.
    const entries = (await readFile(join(outside, 'listing'), 'utf8')).split('\n')
    const listing = entries.filter((f) => f !== '' && f !== '.' && f !== '..')
    expect(listing).toEqual(['checkpoint.safetensors'])
    const checkpoint = decodeCheckpoint(await readFile(join(outside, 'checkpoint.safetensors')))
    expect(checkpoint.metadata.step).toBe(4)
    expect(allFinite(checkpoint.tensors)).toBe(true)
  })

  it('refuses a block write with DiskFullError and keeps serving what it stored', { timeout: 120_000 }, async () => {
    const outside = await mkdtemp(join(tmpdir(), 'hddm-disk-full-'))
    dirs.push(outside)
    const run = await onSmallDisk('3m', `${NODE} test/storage/fixtures/fill-disk.ts "$1"`, outside)
    expect(run.code, run.stderr).toBe(0)
    const last = run.stdout.trim().split('\n').at(-1)!
    const result = JSON.parse(last) as { error?: { name: string, message: string }, intact: boolean }
    expect(result.error?.name).toBe('DiskFullError')
    expect(result.error?.message).toMatch(/no space left in .* to store 8388608 bytes/)
    expect(result.intact).toBe(true)
  })
})
