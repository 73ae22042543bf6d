import { HddmError } from '../errors.js'

/**
 * Turns an error into one clear line on stderr and an exit code. Our own errors are
 * expected outcomes of bad input: no stack trace. Anything else is a bug: print the stack.
 */
export function reportAndExit (err: unknown): number {
  if (err instanceof HddmError) {
    process.stderr.write(`hddm-node: ${err.name}: ${err.message}\n`)
    return 1
  }
  if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('commander.')) {
    return 2
  }
  process.stderr.write(`hddm-node: unexpected error\n${describe(err)}\n`)
  return 70
}

/** An error's stack (or message), or whatever was thrown as a string. */
function describe (err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err)
}

/**
 * A node serves peers for hours, and a peer's input must never end it: an error that escapes
 * every handler (a rejected promise nobody awaited, an exception thrown from a socket callback)
 * is logged on stderr with its stack and the process keeps running. The modules are written
 * so that this never fires; when it does, the line says what to fix.
 */
export function guardAgainstStrayErrors (
  proc: Pick<NodeJS.Process, 'on'> = process,
  write: (line: string) => void = (l) => { process.stderr.write(l) }
): void {
  const report = (kind: string) => (err: unknown): void => {
    write(`hddm-node: ${kind} (kept running; please report it): ${describe(err)}\n`)
  }
  proc.on('unhandledRejection', report('unhandled rejection'))
  proc.on('uncaughtException', report('uncaught exception'))
}
