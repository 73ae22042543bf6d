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
  process.stderr.write(`hddm-node: unexpected error\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  return 70
}
