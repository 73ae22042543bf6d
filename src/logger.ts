/**
 * Structured logging: constant messages, data in the context object, one child per component.
 * The CLI chooses human or JSON output; the library only ever sees this interface.
 */
import { pino, type Logger as PinoLogger } from 'pino'

export interface Logger {
  debug: (msg: string, context?: Record<string, unknown>) => void
  info: (msg: string, context?: Record<string, unknown>) => void
  warn: (msg: string, context?: Record<string, unknown>, err?: unknown) => void
  error: (msg: string, context?: Record<string, unknown>, err?: unknown) => void
  child: (component: string) => Logger
}

export type LogFormat = 'human' | 'json'

export interface CreateLoggerInit {
  level?: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  format?: LogFormat
  /** Where lines go; defaults to stderr so that stdout stays free for command output. */
  destination?: NodeJS.WritableStream
}

function wrap (p: PinoLogger): Logger {
  return {
    debug: (msg, ctx) => { p.debug(ctx ?? {}, msg) },
    info: (msg, ctx) => { p.info(ctx ?? {}, msg) },
    warn: (msg, ctx, err) => { p.warn({ ...ctx, ...(err !== undefined ? { err } : {}) }, msg) },
    error: (msg, ctx, err) => { p.error({ ...ctx, ...(err !== undefined ? { err } : {}) }, msg) },
    child: (component) => wrap(p.child({ component }))
  }
}

export function createLogger (init: CreateLoggerInit = {}): Logger {
  const destination = init.destination ?? process.stderr
  if (init.format === 'json') {
    return wrap(pino({ level: init.level ?? 'info', base: undefined }, destination as pino.DestinationStream))
  }
  // Human format: "HH:MM:SS level component: message key=value ..." without a transport thread.
  const human = {
    write (line: string): void {
      const o = JSON.parse(line) as Record<string, unknown>
      const { level, time, msg, component, ...rest } = o
      const names: Record<number, string> = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' }
      const when = new Date(time as number).toISOString().slice(11, 19)
      const text = (v: unknown): string => typeof v === 'string' ? v : JSON.stringify(v)
      const extra = Object.entries(rest).map(([k, v]) => ` ${k}=${text(v)}`).join('')
      const from = component !== undefined ? `${String(component)}: ` : ''
      destination.write(`${when} ${names[level as number] ?? level} ${from}${String(msg)}${extra}\n`)
    }
  }
  return wrap(pino({ level: init.level ?? 'info', base: undefined }, human))
}

/** A logger that drops everything: the default for library callers that pass none. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger
}
