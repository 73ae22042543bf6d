import { open, readFile, rename, rm } from 'node:fs/promises'
import { generateKey } from '@libp2p/pnet'
import { InvalidSwarmKeyError, SwarmKeyExistsError } from './errors.js'

/** First line of a swarm key file: the format go-ipfs, kubo and js-libp2p share. */
export const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/'
const ENCODING = '/base16/'
const KEY_HEX = /^[0-9a-f]{64}$/i

/**
 * Checks a swarm key file's bytes and returns them in the one form @libp2p/pnet reads. pnet
 * itself ignores the first two lines and accepts any 32 bytes of hex, so a base64 key from
 * another tool would be misread there rather than refused; here it is refused by name.
 */
export function parseSwarmKey (bytes: Uint8Array, source = 'swarm key'): Uint8Array {
  const lines = new TextDecoder().decode(bytes).split(/\r?\n/).map((l) => l.trim())
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  const [header, encoding, hex] = lines
  if (lines.length !== 3 || header !== SWARM_KEY_HEADER) {
    throw new InvalidSwarmKeyError(`${source} is not a swarm key: expected 3 lines starting with ${SWARM_KEY_HEADER}`)
  }
  if (encoding !== ENCODING) {
    throw new InvalidSwarmKeyError(`${source}: only ${ENCODING} keys are supported, got ${encoding}`)
  }
  if (!KEY_HEX.test(hex)) throw new InvalidSwarmKeyError(`${source}: the key must be 64 hex digits (32 bytes)`)
  return new TextEncoder().encode(`${SWARM_KEY_HEADER}\n${ENCODING}\n${hex.toLowerCase()}`)
}

/** Reads and checks a swarm key file; a missing or unreadable file is an InvalidSwarmKeyError too. */
export async function readSwarmKey (path: string): Promise<Uint8Array> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new InvalidSwarmKeyError(`cannot read swarm key ${path}: ${why}`)
  }
  return parseSwarmKey(bytes, path)
}

/** A fresh random swarm key in the text format, newline-terminated like kubo's. */
export function generateSwarmKey (): Uint8Array {
  const key = new Uint8Array(SWARM_KEY_HEADER.length + ENCODING.length + 64 + 2)
  generateKey(key)
  return new TextEncoder().encode(new TextDecoder().decode(key) + '\n')
}

export interface WriteSwarmKeyOptions {
  /** Replace an existing file. Everyone holding the old key is then cut off. */
  force?: boolean
}

/**
 * Writes a new swarm key with mode 0600: the key is the whole secret of a private swarm. Without
 * `force` an existing file is never touched; with it, the new key replaces the old atomically.
 */
export async function writeSwarmKey (path: string, options: WriteSwarmKeyOptions = {}): Promise<Uint8Array> {
  const key = generateSwarmKey()
  const target = options.force === true ? `${path}.${process.pid}.tmp` : path
  let file
  try {
    file = await open(target, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new SwarmKeyExistsError(`${target} exists; pass --force to replace it`)
    }
    throw err
  }
  try {
    await file.writeFile(key)
    await file.sync()
  } finally {
    await file.close()
  }
  if (target !== path) {
    await rename(target, path).catch(async (err) => { await rm(target, { force: true }); throw err })
  }
  return key
}
