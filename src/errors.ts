/**
 * Every error hddm throws on purpose is a named class: callers and tests match on `name`
 * (never on message text), and the CLI maps them to a one-line message and a non-zero exit.
 * Each area keeps its own classes in `<area>/errors.ts`; they are all re-exported here.
 */
export class HddmError extends Error {
  static override name = 'HddmError'
  override name = 'HddmError'
}

/** A caller passed arguments that cannot be valid (bad shape, unknown option, out of range). */
export class InvalidArgumentError extends HddmError {
  static override name = 'InvalidArgumentError'
  override name = 'InvalidArgumentError'
}

/** The operation was cancelled through its AbortSignal. */
export class AbortError extends HddmError {
  static override name = 'AbortError'
  override name = 'AbortError'
  constructor (message = 'The operation was aborted') { super(message) }
}

/** Throws an AbortError if the signal has fired; call between units of long work. */
export function throwIfAborted (signal?: AbortSignal): void {
  if (signal?.aborted === true) throw new AbortError()
}
export * from './protocol/errors.js'
