import { HddmError } from '../hddm-error.js'
import type { SampleErrorCode } from '../protocol/sample-messages.js'

/** A sample request the server refuses or could not finish; `code` is the wire error code. */
export class SampleRefusedError extends HddmError {
  static override name = 'SampleRefusedError'
  override name = 'SampleRefusedError'
  constructor (readonly code: SampleErrorCode, message: string) { super(message) }
}

/** The remote peer broke the sample protocol (bad frame, stream ended before `done`). */
export class SampleProtocolError extends HddmError {
  static override name = 'SampleProtocolError'
  override name = 'SampleProtocolError'
}
