import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_BOOTSTRAP_LIST } from '../../src/network/bootstrap-list.js'
import { parseSwarmKey, readSwarmKey, SWARM_KEY_HEADER } from '../../src/network/swarm-key.js'

interface Exit { code: number, stdout: string, stderr: string }

/** One hddm-node process; a non-zero exit is a result here, not a failure. */
async function hddmNode (...args: string[]): Promise<Exit> {
  return await new Promise((resolve) => {
    const argv = ['--import', 'tsx', 'src/cli/bin.ts', ...args]
    execFile(process.execPath, argv, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? 1), stdout, stderr })
    })
  })
}

/** Our errors print as one line with their name, never a stack trace. */
function expectOneLineError (exit: Exit, name: string): void {
  expect(exit.code).toBe(1)
  expect(exit.stderr.trim().split('\n')).toHaveLength(1)
  expect(exit.stderr).toMatch(new RegExp(`^hddm-node: ${name}: `))
}

describe('hddm-node keygen and --swarm-key', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'hddm-keygen-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('writes a swarm key with mode 0600 that reads back, and refuses to overwrite it without --force', async () => {
    const out = join(dir, 'swarm.key')
    const made = await hddmNode('keygen', '--out', out)
    expect(made.code).toBe(0)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const first = await readFile(out)
    expect(first.toString()).toMatch(new RegExp(`^${SWARM_KEY_HEADER}\\n/base16/\\n[0-9a-f]{64}\\n$`))
    expect(await readSwarmKey(out)).toEqual(parseSwarmKey(first))

    expectOneLineError(await hddmNode('keygen', '--out', out), 'SwarmKeyExistsError')
    expect(await readFile(out)).toEqual(first)

    expect((await hddmNode('keygen', '--out', out, '--force')).code).toBe(0)
    const second = await readFile(out)
    expect(second).not.toEqual(first)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    await readSwarmKey(out)
  })

  it('refuses a corrupt or missing key file by name, in the library and on the command line', async () => {
    const corrupt = join(dir, 'corrupt.key')
    await writeFile(corrupt, `${SWARM_KEY_HEADER}\n/base16/\n${'ab'.repeat(31)}\n`)
    const base64 = join(dir, 'base64.key')
    await writeFile(base64, `${SWARM_KEY_HEADER}\n/base64/\n${Buffer.alloc(32, 7).toString('base64')}\n`)
    for (const file of [corrupt, base64, join(dir, 'missing.key')]) {
      await expect(readSwarmKey(file)).rejects.toHaveProperty('name', 'InvalidSwarmKeyError')
    }
    const node = await hddmNode('bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', join(dir, 'node'),
      '--bootstrap-list', DEFAULT_BOOTSTRAP_LIST, '--swarm-key', corrupt)
    expectOneLineError(node, 'InvalidSwarmKeyError')
  })
})
