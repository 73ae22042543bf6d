import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

describe('the process guard of hddm-node', () => {
  it('logs a stray rejection and a stray exception and keeps the process running', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url))
    const script = [
      "const { guardAgainstStrayErrors } = await import('./src/cli/errors.ts')",
      'guardAgainstStrayErrors()',
      "Promise.reject(new Error('a peer left a promise rejected'))",
      "setTimeout(() => { throw new Error('a socket callback threw') }, 20)",
      "setTimeout(() => { process.stdout.write('still serving') }, 200)"
    ].join('\n')
    const args = ['--import', 'tsx', '--input-type=module', '-e', script]
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, { cwd: root })
    expect(stdout).toBe('still serving')
    expect(stderr)
      .toMatch(/unhandled rejection \(kept running; please report it\): Error: a peer left a promise rejected/)
    expect(stderr).toMatch(/uncaught exception \(kept running; please report it\): Error: a socket callback threw/)
  })
})
