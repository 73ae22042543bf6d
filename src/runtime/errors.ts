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

export type WebGpuLimitName = 'maxStorageBufferBindingSize' | 'maxBufferSize'

/**
 * A tensor of the step is larger than one GPU buffer may be on this device: a smaller batch or
 * preset fits, or a GPU with larger limits.
 */
export class WebGpuLimitError extends HddmError {
  static override name = 'WebGpuLimitError'
  override name = 'WebGpuLimitError'

  constructor (
    readonly limit: WebGpuLimitName, readonly limitBytes: number,
    readonly tensor: string, readonly shape: number[], readonly bytes: number
  ) {
    super(`${tensor} [${shape.join(', ')}] needs ${mib(bytes)} in one GPU buffer, over the device's ${limit} ` +
      `(${mib(limitBytes)}): use a smaller batch or preset, or a GPU with a larger limit`)
  }
}

function mib (bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`
}
