import { HddmError } from '../hddm-error.js'

/** The dashboard's address cannot be bound (in use, not this machine's, not allowed). */
export class DashboardListenError extends HddmError {
  static override name = 'DashboardListenError'
  override name = 'DashboardListenError'
}

/**
 * A dashboard request refused on purpose: a foreign Host or Origin (403), too many actions
 * (429), a malformed or unknown request (400, 404). `status` is the HTTP status it maps to.
 */
export class DashboardRequestError extends HddmError {
  static override name = 'DashboardRequestError'
  override name = 'DashboardRequestError'
  constructor (readonly status: number, message: string, readonly retryAfterSeconds?: number) {
    super(message)
  }
}
