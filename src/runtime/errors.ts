import { HddmError } from '../hddm-error.js'

/** An explicitly requested tfjs backend cannot be loaded here; `reason` says why. */
export class BackendUnavailableError extends HddmError {
  static override name = 'BackendUnavailableError'
  override name = 'BackendUnavailableError'
  readonly backend: string
  readonly reason: string

  constructor (backend: string, reason: string) {
    super(`Backend "${backend}" is unavailable: ${reason}`)
    this.backend = backend
    this.reason = reason
  }
}

/** Why WebGPU cannot run here; each names what to install or change. */
export type WebGpuFailure = 'package-missing' | 'no-vulkan' | 'no-adapter' | 'fallback-refused' | 'device-failed'

/**
 * The `webgpu` backend cannot start: the optional `webgpu` package (dawn.node) is not installed,
 * the Vulkan loader is missing, no adapter answered, or only a software (fallback) adapter did
 * and it was not asked for.
 */
export class WebGpuUnavailableError extends BackendUnavailableError {
  static override name = 'WebGpuUnavailableError'
  override name = 'WebGpuUnavailableError'
  readonly failure: WebGpuFailure

  constructor (failure: WebGpuFailure, reason: string) {
    super('webgpu', reason)
    this.failure = failure
  }
}
