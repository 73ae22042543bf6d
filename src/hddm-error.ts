/**
 * The base error classes. Kept apart from src/errors.ts so that area error files can import
 * them while src/errors.ts re-exports those area files, without an ESM cycle: an indirect
 * re-export resolves to this module's binding, which is initialised first.
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
