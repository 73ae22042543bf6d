/**
 * Loads the optional N-API addon (built by scripts/build-native.mjs) and a BLAS library for it.
 * Either can be missing: the caller then runs on wasm, with the reason this module returns.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/** The C++ side, exactly as src/runtime/native/src/addon.cc exports it. */
export interface NativeAddon {
  /** dlopen the first library in `candidates` exporting cblas_sgemm; returns the one loaded. */
  loadBlas: (candidates: string[]) => string
  setBlasThreads: (threads: number) => void
  /** C[b] = op(A[b]) op(B[b]); a batch of 1 broadcasts. */
  batchMatMul: (a: Float32Array, b: Float32Array, c: Float32Array, batchA: number, batchB: number,
    m: number, n: number, k: number, transA: boolean, transB: boolean) => void
  /** out = in + bias (over rows of length n), then an activation (0 linear, 1 relu), in place. */
  biasActivation: (c: Float32Array, bias: Float32Array | null, n: number, activation: number) => void
  binary: (op: number, a: Float32Array, b: Float32Array, out: Float32Array,
    shape: Int32Array, stridesA: Int32Array, stridesB: Int32Array) => void
  unary: (op: number, x: Float32Array, out: Float32Array) => void
  /** x viewed as [outer, size, inner] reduced over `size` into out [outer, inner]. */
  reduce: (op: number, x: Float32Array, out: Float32Array, outer: number, size: number, inner: number) => void
  transpose: (x: Float32Array, out: Float32Array, shape: Int32Array, perm: Int32Array) => void
  softmax: (x: Float32Array, out: Float32Array, rows: number, cols: number) => void
  copy2d: (src: Float32Array, srcOffset: number, srcStride: number,
    dst: Float32Array, dstOffset: number, dstStride: number, rows: number, cols: number) => void
  gelu: (x: Float32Array, out: Float32Array) => void
  geluGrad: (x: Float32Array, dy: Float32Array, dx: Float32Array) => void
  layerNormModulate: (x: Float32Array, shift: Float32Array, scale: Float32Array, out: Float32Array,
    batch: number, tokens: number, dim: number, eps: number) => void
  layerNormModulateGrad: (dy: Float32Array, x: Float32Array, scale: Float32Array,
    dx: Float32Array, dshift: Float32Array, dscale: Float32Array,
    batch: number, tokens: number, dim: number, eps: number) => void
  attention: (q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array,
    batch: number, tq: number, tk: number, dim: number, heads: number) => void
  attentionGrad: (dy: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
    dq: Float32Array, dk: Float32Array, dv: Float32Array,
    batch: number, tq: number, tk: number, dim: number, heads: number) => void
  /** One Adam(W) step in place: p, m, v updated from g. */
  adam: (p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number,
    beta1: number, beta2: number, epsilon: number, biasCorrection1: number, biasCorrection2: number,
    weightDecay: number) => void
}

export type LoadResult = { ok: true, addon: NativeAddon, blas: string } | { ok: false, reason: string }

/** BLAS libraries tried in order when HDDM_BLAS_LIB names none; no -dev package is needed. */
export const BLAS_CANDIDATES = [
  'libopenblas.so.0', 'libopenblas.so', 'libopenblasp.so.0', 'libblis.so.4', 'libmkl_rt.so',
  '/System/Library/Frameworks/Accelerate.framework/Accelerate',
  'libopenblas.dylib', '/opt/homebrew/opt/openblas/lib/libopenblas.dylib',
  '/usr/local/opt/openblas/lib/libopenblas.dylib'
]
// Debian's reference libblas.so.3 also exports cblas_sgemm but is slower than wasm: it is used
// only when named through HDDM_BLAS_LIB.

const ADDON_FILE = 'build/Release/hddm_native.node'

/** Where the addon can be: next to this file (src, tsx, vitest) or, from dist/, back in src/. */
function addonCandidates (): string[] {
  const fromEnv = process.env.HDDM_NATIVE_ADDON
  if (fromEnv !== undefined && fromEnv !== '') return [fromEnv]
  return [
    fileURLToPath(new URL(`./${ADDON_FILE}`, import.meta.url)),
    fileURLToPath(new URL(`../../../src/runtime/native/${ADDON_FILE}`, import.meta.url))
  ]
}

let cached: LoadResult | undefined

/**
 * Loads the addon and BLAS once per process. `HDDM_NATIVE=0` makes it report a failed load
 * (the same path a machine without a compiler takes).
 */
export function loadNative (): LoadResult {
  if (cached !== undefined) return cached
  cached = load()
  return cached
}

function load (): LoadResult {
  if (process.env.HDDM_NATIVE === '0') return { ok: false, reason: 'disabled by HDDM_NATIVE=0' }
  const path = addonCandidates().find(p => existsSync(p))
  if (path === undefined) {
    return { ok: false, reason: 'native addon not built (npm install runs scripts/build-native.mjs)' }
  }
  let addon: NativeAddon
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon
  } catch (err) {
    return { ok: false, reason: `native addon failed to load: ${(err as Error).message}` }
  }
  const named = process.env.HDDM_BLAS_LIB
  const candidates = named !== undefined && named !== '' ? [named] : BLAS_CANDIDATES
  try {
    return { ok: true, addon, blas: addon.loadBlas(candidates) }
  } catch (err) {
    const advice = 'install libopenblas0-pthread or set HDDM_BLAS_LIB'
    return { ok: false, reason: `no BLAS library with cblas_sgemm found (${advice}): ${(err as Error).message}` }
  }
}
