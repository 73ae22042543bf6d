/**
 * What the webgpu backend tests share: the environment Mesa reads, the backend started with
 * a software adapter accepted, and how to run a snippet in a fresh process (dawn reads the
 * Vulkan driver list once per process). A missing prerequisite fails with what to install.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend, type BackendInfo } from '../../src/runtime/backend.js'

export const WEBGPU_INSTALL = 'the webgpu tests need a WebGPU adapter: apt-get install -t bookworm-backports ' +
  'mesa-vulkan-drivers libvulkan1 (Mesa >= 25; .ci/run adds bookworm-backports to apt\'s sources), and npm ci ' +
  '(the optional package webgpu)'

/** lavapipe's Vulkan driver manifest (mesa-vulkan-drivers): VK_ICD_FILENAMES set to it hides any GPU. */
export const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json'

/** Compiled shaders persist between test files (lavapipe compiles a new kernel for seconds); no XDG warning. */
export function webGpuEnv (): void {
  process.env.MESA_SHADER_CACHE_DIR ??= path.resolve('node_modules/.cache/mesa')
  if (process.env.XDG_RUNTIME_DIR === undefined) {
    const dir = path.join(os.tmpdir(), `hddm-xdg-${process.getuid?.() ?? 0}`)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    process.env.XDG_RUNTIME_DIR = dir
  }
}

/** `--backend webgpu`: the software adapter is accepted. Fails naming the packages when none loads. */
export async function useWebGpuBackend (): Promise<BackendInfo> {
  webGpuEnv()
  try {
    return await initBackend({ backend: 'webgpu' })
  } catch (err) {
    throw new Error(`${(err as Error).message}; ${WEBGPU_INSTALL}`)
  }
}

/**
 * Runs an ESM snippet (imports relative to the repository) in a fresh Node with `env` added and
 * `preload` modules imported first; returns its last line.
 */
export function runSnippet (lines: string[], env: Record<string, string>, preload: string[] = []): string {
  webGpuEnv()
  const imports = [...preload, 'tsx'].flatMap(m => ['--import', m])
  const out = execFileSync(process.execPath, [...imports, '--input-type=module', '-e', lines.join('\n')], {
    env: { ...process.env, HDDM_BACKEND: '', ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']
  })
  return out.trim().split('\n').pop() ?? ''
}

/**
 * A module hook that makes `import('webgpu')` fail as it does where the optional package was not
 * installed (npm skips it on a platform it has no build for, or --omit=optional).
 */
export const WITHOUT_WEBGPU_PACKAGE = 'data:text/javascript,' + encodeURIComponent([
  "import { register } from 'node:module'",
  'register(`data:text/javascript,${encodeURIComponent(`export async function resolve (s, c, next) {',
  "  const missing = Object.assign(new Error('Cannot find package webgpu'), { code: 'ERR_MODULE_NOT_FOUND' })",
  "  if (s === 'webgpu') throw missing",
  '  return next(s, c) }`)}`)'
].join('\n'))
