/**
 * The processes of `hddm-node simulate`: this CLI spawned again as a bootstrap peer or a
 * contributor, its JSON events read as they arrive, and the waits and stops around them.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { InvalidArgumentError } from '../errors.js'

export interface Peer {
  child: ChildProcess
  /** Every JSON line the peer prints on stdout (its events), as it arrives. */
  events: EventEmitter<{ line: [Record<string, unknown>] }>
}

/**
 * This CLI again, in a child process with the same Node flags (so tsx sources work too). Its
 * stdout is always drained (a full pipe would block the child) into `<log>.events`, and its
 * stderr (logs) goes to `<log>`.
 */
export function spawnCli (args: string[], logFile: string): Peer {
  const argv = [...process.execArgv, process.argv[1], ...args]
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stderr?.pipe(createWriteStream(logFile))
  const eventLog = createWriteStream(`${logFile}.events`)
  const events = new EventEmitter<{ line: [Record<string, unknown>] }>()
  createInterface({ input: child.stdout! }).on('line', (line) => {
    eventLog.write(line + '\n')
    try {
      events.emit('line', JSON.parse(line) as Record<string, unknown>)
    } catch {}
  })
  return { child, events }
}

/** The first JSON line of the peer that matches; fails if the peer exits first. */
export async function firstJson<T> (peer: Peer, match: (m: Record<string, unknown>) => boolean): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const onLine = (m: Record<string, unknown>): void => {
      if (!match(m)) return
      cleanup()
      resolve(m as T)
    }
    const onExit = (code: number | null): void => {
      cleanup()
      const message = `a simulated peer exited with code ${String(code)} before it was ready (see its log)`
      reject(new InvalidArgumentError(message))
    }
    const cleanup = (): void => { peer.events.off('line', onLine); peer.child.off('exit', onExit) }
    peer.events.on('line', onLine)
    peer.child.on('exit', onExit)
  })
}

export async function waitUntil (done: () => boolean, children: ChildProcess[]): Promise<void> {
  while (!done()) {
    if (children.length > 0 && children.every(hasExited)) {
      throw new InvalidArgumentError('every simulated peer has exited before the run finished (see their logs)')
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

export async function stopChild (child: ChildProcess): Promise<void> {
  if (hasExited(child)) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  await exited
  clearTimeout(timer)
}

function hasExited (child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}
