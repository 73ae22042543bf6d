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
