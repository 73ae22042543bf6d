/**
 * The Python that has PyTorch, for the reference-model tests: Debian's python3-torch installs
 * into /usr/bin/python3, which a pyenv `python3` on PATH does not see. A missing torch fails the
 * calling test with the package to install (.ci/run installs it), never a skip.
 */
import { execFileSync } from 'node:child_process'

const CANDIDATES = ['/usr/bin/python3', 'python3']
export const INSTALL_TORCH = 'apt-get install python3-torch python3-numpy'

let found: string | undefined

export function pythonWithTorch (): string {
  if (found !== undefined) return found
  for (const python of CANDIDATES) {
    try {
      execFileSync(python, ['-c', 'import torch, numpy'], { stdio: 'ignore' })
      found = python
      return python
    } catch {}
  }
  throw new Error(`no python3 with torch and numpy (tried ${CANDIDATES.join(', ')}); ${INSTALL_TORCH}`)
}

/** Runs a Python script with torch; its stderr comes back in the error when it fails. */
export function runTorchScript (script: string, args: string[]): void {
  execFileSync(pythonWithTorch(), [script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
}
