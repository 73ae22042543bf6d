/**
 * The backend tests train on: the fastest available (native kernels, else multithreaded wasm),
 * as a user's node would pick. HDDM_TEST_BACKEND=cpu|wasm|native forces one.
 */
import { initBackend, type BackendChoice, type BackendInfo } from '../../src/runtime/index.js'

export async function useTrainingBackend (): Promise<BackendInfo> {
  return await initBackend({ backend: (process.env.HDDM_TEST_BACKEND ?? 'auto') as BackendChoice })
}
