import { HddmError } from '../hddm-error.js'

/** Why bytes failed to decode as a gossip message; bounded so that it can label a metric. */
export type InvalidMessageCode = 'too-large' | 'malformed' | 'non-canonical' | 'schema'

/** Bytes that are not a well-formed hddm gossip message, or a message that cannot be encoded. */
export class InvalidMessageError extends HddmError {
  static override name = 'InvalidMessageError'
  override name = 'InvalidMessageError'
  readonly code: InvalidMessageCode

  constructor (code: InvalidMessageCode, message = 'Invalid gossip message') {
    super(message)
    this.code = code
  }
}

/** A run or ensemble manifest that does not satisfy its schema or its cross-field rules. */
export class InvalidManifestError extends HddmError {
  static override name = 'InvalidManifestError'
  override name = 'InvalidManifestError'
  /** One line per problem, `path: message`, for the CLI to print. */
  readonly issues: string[]

  constructor (message = 'Invalid manifest', issues: string[] = []) {
    super(issues.length > 0 ? `${message}: ${issues.join('; ')}` : message)
    this.issues = issues
  }
}
