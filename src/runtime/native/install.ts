import type { NativeAddon } from './addon.js'

/** Registers the native kernels on the cpu backend; returns a function that restores tfjs's own. */
export function installNativeKernels (_addon: NativeAddon): () => void {
  return () => {}
}
