/**
 * `hddm-node start --metrics [host:port]`: the flag's default and validation, and a real node
 * process serving /metrics on the free port it picked, found through the URL it logs.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { parseMetricsAddress } from '../../src/node/metrics-server.js'
import { parseExposition, valueOf } from '../node/exposition.js'
import { tinyRun, writeManifest } from '../node/fixtures.js'
import { logTail, runCli, stop, type CliProcess } from '../simulation/processes.js'
import { waitFor } from '../utils/wait.js'

const run = async (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> => {
  try {
    const cli = ['--import', 'tsx', 'src/cli/bin.ts', ...args]
    const { stdout, stderr } = await promisify(execFile)(process.execPath, cli)
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('hddm-node start --metrics', () => {
  let root: string | undefined
  let node: CliProcess | undefined
  afterAll(async () => {
    if (node !== undefined) await stop(node)
    if (root !== undefined) await rm(root, { recursive: true, force: true, maxRetries: 5 })
  }, 60_000)

  it('takes the listen-address forms --dashboard takes, and says that the default is loopback port 9464', async () => {
    expect(parseMetricsAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 })
    expect(parseMetricsAddress('[::1]:9100')).toEqual({ host: '::1', port: 9100 })
    expect(parseMetricsAddress('metrics.lan:9464')).toEqual({ host: 'metrics.lan', port: 9464 })
    expect(parseMetricsAddress(':9100')).toEqual({ host: '127.0.0.1', port: 9100 })
    expect(parseMetricsAddress(true)).toEqual({ host: '127.0.0.1', port: 9464 })
    for (const bad of ['127.0.0.1:65536', '::1:9464', '127.0.0.1:94x', '[nope]:1']) {
      expect(() => parseMetricsAddress(bad), bad).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
    }
    const help = await run(['start', '--help'])
    expect(help.stdout).toContain('--metrics [host:port]')
    expect(help.stdout).toContain('127.0.0.1:9464')
    const bad = await run(['start', '--run', 'bafy', '--metrics', '127.0.0.1:94x'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('hddm-node: InvalidArgumentError: --metrics: bad port in "127.0.0.1:94x"')
  })

  it('serves libp2p\'s and hddm\'s metrics on the free port it picked and logs the URL', { timeout: 240_000 },
    async () => {
    root = await mkdtemp(join(tmpdir(), 'hddm-start-metrics-'))
    const manifest = await writeManifest(await tinyRun({ name: 'start-metrics-test', images: 300 }))
    const p = node = runCli(['start', '--manifest', manifest, '--tasks', '0', '--metrics', '127.0.0.1:0',
      '--data-dir', join(root, 'node'), '--listen', '/ip4/127.0.0.1/tcp/0', '--scope', 'loopback',
      '--log-format', 'json'], 'node')
    const explain = (): string => logTail(p)
    const logged = (): string | undefined => p.stderr().split('\n').flatMap((line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string, url?: string }
        return entry.msg === 'metrics endpoint listening' && entry.url !== undefined ? [entry.url] : []
      } catch { return [] }
    })[0]
    const url = await waitFor(logged, 'the metrics URL in the log', { timeoutMs: 60_000, explain })
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    expect(url).not.toContain(':9464/')
    await waitFor(() => p.events.some((e) => e.event === 'started'), 'the node to start',
      { timeoutMs: 180_000, explain })
    const res = await fetch(url)
    expect(res.status).toBe(200)
    const families = parseExposition(await res.text())
    expect(families.get('libp2p_data_transfer_bytes_total')?.type).toBe('counter')
    expect(valueOf(families, 'hddm_tasks', { state: 'free' })).toBe(5)
    expect((await fetch(url.replace(/\/metrics$/, '/'))).status).toBe(404)
    expect((await fetch(url, { method: 'POST' })).status).toBe(405)
    p.child.kill('SIGTERM')
    expect(await p.exited).toBe(0)
    await expect(fetch(url)).rejects.toThrow()
  })
})
