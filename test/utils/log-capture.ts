import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../src/logger.js'

/**
 * A logger that keeps its lines in memory, so a multi-node test that times out can say what the
 * nodes were doing (CI shows only the failure, never a live log).
 */
export interface CapturedLog {
  logger: (name: string) => Logger
  /** The last `n` lines, oldest first. */
  tail: (n?: number) => string
}

export function captureLog (level: 'debug' | 'info' = 'info'): CapturedLog {
  const lines: string[] = []
  const sink = (name: string): Writable => new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(`[${name}] ${line}`)
      if (lines.length > 5000) lines.splice(0, lines.length - 5000)
      done()
    }
  })
  return {
    logger: (name) => createLogger({ level, format: 'human', destination: sink(name) }),
    tail: (n = 120) => lines.slice(-n).join('\n')
  }
}
