/**
 * Commander argument parsers shared by the commands: a bad value is an InvalidArgumentError
 * (one line, exit 1), never commander's own message and exit code.
 */
import { InvalidArgumentError } from '../errors.js'
import { BACKEND_CHOICES } from '../runtime/backend-choice.js'

export function integerOption (flag: string, min = -Infinity) {
  return (value: string): number => {
    const v = Number(value)
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(v) || v < min) {
      throw new InvalidArgumentError(`${flag} must be an integer${min > -Infinity ? ` >= ${min}` : ''}, got ${value}`)
    }
    return v
  }
}

export function numberOption (flag: string, min = -Infinity) {
  return (value: string): number => {
    const v = Number(value)
    if (value.trim() === '' || !Number.isFinite(v) || v < min) throw new InvalidArgumentError(`${flag} must be a number${min > -Infinity ? ` >= ${min}` : ''}, got ${value}`)
    return v
  }
}

export function choiceOption<T extends string> (flag: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`${flag} must be one of ${choices.join(', ')}, got ${value}`)
    return value as T
  }
}

/** A repeatable flag: `--bootstrap a --bootstrap b` gives ['a', 'b']. */
export function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

export const scopeOption = choiceOption('--scope', ['loopback', 'private', 'any'] as const)
export const logFormatOption = choiceOption('--log-format', ['human', 'json'] as const)
export const backendOption = choiceOption('--backend', BACKEND_CHOICES)
