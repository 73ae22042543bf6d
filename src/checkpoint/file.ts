/**
 * Checkpoint files on disk. A write never leaves a torn file under the final name: the bytes
 * go to a temporary file in the same directory, are fsynced, renamed over the target (atomic
 * on POSIX), and the directory entry is fsynced, so a crash leaves either the old checkpoint
 * or the new one.
 */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { decodeCheckpoint, type Checkpoint } from './format.js'
import { headerLength, parseHeader } from './safetensors.js'
import { DiskFullError, isDiskFull } from '../hddm-error.js'
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
    if (isDiskFull(err)) {
      const noSpace = `no space left to write ${path} (${bytes.byteLength} bytes)`
      throw new DiskFullError(`${noSpace}; the previous file there, if any, is intact`, { cause: err })
    }
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

/**
 * Reads and decodes a checkpoint file: a missing file is a CheckpointNotFoundError, bad bytes a
 * CorruptCheckpointError.
 */
export async function readCheckpointFile (path: string): Promise<Checkpoint> {
  return decodeCheckpoint(await readCheckpointBytes(path))
}

/** A checkpoint file's bytes, undecoded (for a worker to decode); a missing file is a CheckpointNotFoundError. */
export async function readCheckpointBytes (path: string): Promise<Uint8Array> {
  try {
    return await readWhole(path)
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new CheckpointNotFoundError(`cannot read checkpoint ${path}: ${reason}`)
  }
}

/** Node's readFile stops at 2 GiB; an imported DiT-XL/2 checkpoint is 2.4 GB, so large files read in pieces. */
const READ_CHUNK = 1 << 30

async function readWhole (path: string): Promise<Uint8Array> {
  const file = await open(path, 'r')
  try {
    const { size } = await file.stat()
    if (size <= READ_CHUNK) return await readFile(file)
    const bytes = Buffer.allocUnsafe(size)
    for (let at = 0; at < size;) {
      const { bytesRead } = await file.read(bytes, at, Math.min(READ_CHUNK, size - at), at)
      if (bytesRead === 0) throw new Error(`${path} ended at ${at} of ${size} bytes`)
      at += bytesRead
    }
    return bytes
  } finally {
    await file.close()
  }
}

/**
 * The step in a checkpoint file's metadata, read from its header without loading the tensors;
 * undefined when the file is absent or its header unreadable (a torn or foreign file).
 */
export async function readCheckpointStep (path: string): Promise<number | undefined> {
  let file
  try {
    file = await open(path, 'r')
  } catch {
    return undefined
  }
  try {
    const { parsed } = await readSafetensorsHeader(file)
    const metadata = JSON.parse(parsed.metadata.hddm ?? 'null') as { step?: unknown } | null
    return typeof metadata?.step === 'number' ? metadata.step : undefined
  } catch {
    return undefined
  } finally {
    await file.close()
  }
}

/**
 * The header of an open safetensors file, read without the tensors: its length is checked
 * against the file's size before anything is allocated. `dataStart` is where the tensors begin.
 */
export async function readSafetensorsHeader (file: FileHandle): Promise<{
  parsed: ReturnType<typeof parseHeader>, dataStart: number, dataLength: number
}> {
  const { size } = await file.stat()
  const prefix = Buffer.alloc(8)
  await file.read(prefix, 0, 8, 0)
  const length = headerLength(prefix, size)
  const headerBytes = Buffer.alloc(length)
  await file.read(headerBytes, 0, length, 8)
  return { parsed: parseHeader(headerBytes), dataStart: 8 + length, dataLength: size - 8 - length }
}
