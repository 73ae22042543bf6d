/**
 * The backends a user can ask for, apart from backend.ts so that parsing a flag does not load
 * tfjs (the CLI's network-only commands never need it).
 */
export const BACKEND_CHOICES = ['auto', 'native', 'wasm', 'cpu', 'tensorflow', 'tensorflow-gpu', 'webgpu'] as const
export type BackendChoice = typeof BACKEND_CHOICES[number]

/** How many times slower than native a backend trained `small` here (docs/RESULTS.md "Training step"). */
export const SLOWDOWN_VS_NATIVE: Partial<Record<BackendChoice, number>> = { wasm: 5, cpu: 150 }

/**
 * What to do when training runs on a slow path: one command that gives the native path, read
 * from why native was passed over (`BackendInfo.reason`). Undefined on a fast backend.
 */
export function fastPathAdvice (info: { name: string, reason?: string }): string | undefined {
  if (info.name === 'native' || info.name.startsWith('tensorflow')) return undefined
  // A hardware adapter is the fast path; a software one is only chosen explicitly (tests).
  if (info.name === 'webgpu' && !/software adapter/.test(info.reason ?? '')) return undefined
  if (info.name === 'webgpu') return 'a software WebGPU adapter is for tests: use --backend auto'
  const native = /native: ([^;]*)/.exec(info.reason ?? '')?.[1] ?? ''
  if (/HDDM_NATIVE=0/.test(native)) return 'unset HDDM_NATIVE to use the native kernels'
  if (/BLAS/.test(native)) {
    return 'install OpenBLAS for the native path: sudo apt-get install libopenblas0-pthread' +
      ' (macOS: brew install openblas)'
  }
  if (/not built|failed to load/.test(native)) {
    return 'build the native kernels: node scripts/build-native.mjs (needs g++, make and python3),' +
      ' with OpenBLAS installed (apt-get install libopenblas0-pthread)'
  }
  return 'use --backend auto with OpenBLAS installed (apt-get install libopenblas0-pthread) for the native path'
}
