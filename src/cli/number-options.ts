/** Commander argument parsers for numeric flags: bad values are InvalidArgumentErrors (one line, exit 1). */
import { InvalidArgumentError } from '../errors.js'

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
