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

/**
 * The disk (or the user's quota) is full. Whatever was being written was not committed, and
 * what had been written before is intact: free space, then resume.
 */
export class DiskFullError extends HddmError {
  static override name = 'DiskFullError'
  override name = 'DiskFullError'
}

/** Whether `err` (or an error it wraps) is the operating system saying the disk is full. */
export function isDiskFull (err: unknown): boolean {
  type Wrapped = { code?: unknown, cause?: unknown, message?: unknown } | undefined
  for (let e = err as Wrapped, depth = 0; e != null && depth < 5; e = e.cause as Wrapped, depth++) {
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return true
    // Some stores rewrap the error as text only (datastore-fs: `new PutFailedError(String(err))`).
    if (typeof e.message === 'string' && /\b(ENOSPC|EDQUOT)\b/.test(e.message)) return true
  }
  return false
}

/** Throws an AbortError if the signal has fired; call between units of long work. */
export function throwIfAborted (signal?: AbortSignal): void {
  if (signal?.aborted === true) throw new AbortError()
}
