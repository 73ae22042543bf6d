// Builds the optional native kernels (src/runtime/native) with node-gyp during `npm install`.
// A failed build never fails the install: hddm then runs on the wasm backend and says so once
// at start. Offline machines need node-gyp's --nodedir pointed at installed Node headers
// (node-gyp would otherwise download them): Debian's nodejs ships them in /usr/include/node.
// HDDM_SKIP_NATIVE=1 skips the build.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const nativeDir = fileURLToPath(new URL('../src/runtime/native/', import.meta.url))
if (!existsSync(join(nativeDir, 'binding.gyp'))) process.exit(0)
if (process.env.HDDM_SKIP_NATIVE === '1') skip('HDDM_SKIP_NATIVE=1')

/** node-gyp's entry script: npm's own (it bundles one), a local install, or none (then PATH). */
function findNodeGyp () {
  const candidates = [process.env.npm_config_node_gyp]
  if (process.env.npm_execpath !== undefined) {
    candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))
  }
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'))
  } catch {}
  candidates.push(
    resolve(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js'
  )
  return candidates.find(c => c !== undefined && c !== '' && existsSync(c))
}

/** A --nodedir whose include/node has node_api.h, unless the user configured one already. */
function findNodeDir () {
  if (process.env.npm_config_nodedir !== undefined && process.env.npm_config_nodedir !== '') return undefined
  const roots = [resolve(process.execPath, '..', '..'), '/usr', '/usr/local']
  return roots.find(r => existsSync(join(r, 'include', 'node', 'node_api.h')))
}

function skip (reason) {
  console.log(`hddm: native kernels not built (${reason}); hddm will use the wasm backend`)
  process.exit(0)
}

const gyp = findNodeGyp()
const nodedir = findNodeDir()
const args = ['rebuild', ...(nodedir !== undefined ? [`--nodedir=${nodedir}`] : [])]
const command = gyp !== undefined ? process.execPath : 'node-gyp'
const result = spawnSync(command, gyp !== undefined ? [gyp, ...args] : args, {
  cwd: nativeDir, encoding: 'utf8', timeout: 10 * 60_000
})
if (result.error !== undefined) skip(`node-gyp could not run: ${result.error.message}`)
if (result.status !== 0) {
  const lines = `${result.stderr ?? ''}`.split('\n').filter(l => /error/i.test(l))
  skip(`node-gyp failed: ${lines[0]?.trim() ?? `exit code ${result.status}`}`)
}
console.log(`hddm: native kernels built${nodedir !== undefined ? ` (Node headers from ${nodedir})` : ''}`)
