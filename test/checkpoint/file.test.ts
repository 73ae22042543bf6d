import { describe, it, expect } from 'vitest'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readCheckpointFile, writeFileAtomic } from '../../src/checkpoint/file.js'
import { withTempDir } from '../training/fixtures.js'

describe('checkpoint files', () => {
  it('replaces a file atomically and leaves no temporary files behind', async () => {
    await withTempDir(async dir => {
      const path = join(dir, 'checkpoint.safetensors')
      await writeFileAtomic(path, new Uint8Array([1, 2, 3]))
      await writeFileAtomic(path, new Uint8Array([4, 5]))
      expect([...await readFile(path)]).toEqual([4, 5])
      expect(await readdir(dir)).toEqual(['checkpoint.safetensors'])
    })
  })

  it('a failed write keeps the previous file and cleans up', async () => {
    await withTempDir(async dir => {
      const inMissingDir = join(dir, 'missing-dir', 'c.safetensors')
      await expect(writeFileAtomic(inMissingDir, new Uint8Array(4))).rejects.toHaveProperty('code', 'ENOENT')
      expect(await readdir(dir)).toEqual([])
    })
  })

  it('reading a missing file is CheckpointNotFoundError, garbage is CorruptCheckpointError', async () => {
    await withTempDir(async dir => {
      const missing = join(dir, 'nope.safetensors')
      await expect(readCheckpointFile(missing)).rejects.toHaveProperty('name', 'CheckpointNotFoundError')
      const garbage = join(dir, 'bad.safetensors')
      await writeFile(garbage, new Uint8Array(32).fill(255))
      await expect(readCheckpointFile(garbage)).rejects.toHaveProperty('name', 'CorruptCheckpointError')
    })
  })
})
