import { open, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { DataDirInUseError } from './errors.js'

export const LOCK_FILE = 'LOCK'

export interface DataDirLock {
  readonly path: string
  release: () => Promise<void>
}

/**
 * Takes `<dataDir>/LOCK` (created exclusively, holding our pid). A lock whose pid is no longer a
 * live process is stale (a node that crashed or was killed) and is taken over; a live pid,
 * including our own, means the directory is in use and we refuse with `DataDirInUseError`.
 */
export async function acquireDataDirLock (dataDir: string): Promise<DataDirLock> {
  const path = join(dataDir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const file = await open(path, 'wx', 0o600)
      await file.writeFile(`${process.pid}\n`)
      await file.close()
      return { path, release: async () => { await rm(path, { force: true }) } }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const holder = await readLockPid(path)
    if (holder !== undefined && isAlive(holder)) {
      const hint = `remove ${path} only if that process is not an hddm node`
      throw new DataDirInUseError(`data directory ${dataDir} is in use by process ${holder} (${hint})`)
    }
    await rm(path, { force: true })
  }
  // Two processes raced over the same stale lock and the other one won.
  throw new DataDirInUseError(`data directory ${dataDir} was locked by another process while starting`)
}

async function readLockPid (path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '')
  const pid = Number.parseInt(text.trim(), 10)
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: the process exists but belongs to another user, so it is alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
