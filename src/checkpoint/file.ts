/**
 * Checkpoint files on disk. A write never leaves a torn file under the final name: the bytes
 * go to a temporary file in the same directory, are fsynced, renamed over the target (atomic
 * on POSIX), and the directory entry is fsynced, so a crash leaves either the old checkpoint
 * or the new one.
 */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { decodeCheckpoint, type Checkpoint } from '../storage/checkpoint.js'
import { DiskFullError, isDiskFull } from '../errors.js'
import { CheckpointNotFoundError } from './errors.js'

export async function writeFileAtomic (path: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    const file = await open(temp, 'w')
    try {
      await file.writeFile(bytes)
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true })
    if (isDiskFull(err)) throw new DiskFullError(`no space left to write ${path} (${bytes.byteLength} bytes); the previous file there, if any, is intact`, { cause: err })
    throw err
  }
  await syncDirectory(dirname(path))
}

async function syncDirectory (dir: string): Promise<void> {
  let handle
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic.
  } finally {
    await handle?.close()
  }
}

/** Reads and decodes a checkpoint file: a missing file is a CheckpointNotFoundError, bad bytes a CorruptCheckpointError. */
export async function readCheckpointFile (path: string): Promise<Checkpoint> {
  return decodeCheckpoint(await readCheckpointBytes(path))
}

/** A checkpoint file's bytes, undecoded (for a worker to decode); a missing file is a CheckpointNotFoundError. */
export async function readCheckpointBytes (path: string): Promise<Uint8Array> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new CheckpointNotFoundError(`cannot read checkpoint ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}
