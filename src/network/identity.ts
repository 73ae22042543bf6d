import { chmod, open, readFile, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { InvalidIdentityError } from './errors.js'
import type { PrivateKey } from '@libp2p/interface'

export const IDENTITY_FILE = 'identity.key'

/**
 * Loads the node's Ed25519 key from `<dataDir>/identity.key` (libp2p protobuf encoding), or
 * creates it. The file is the node's whole identity: it is written atomically with mode 0600
 * and tightened back to 0600 if someone loosened it.
 */
export async function loadOrCreateIdentity (dataDir: string): Promise<PrivateKey> {
  const path = join(dataDir, IDENTITY_FILE)
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (bytes === undefined) return await createIdentity(path)

  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new InvalidIdentityError(`${path} is not a libp2p private key: ${(err as Error).message}`)
  }
  if (key.type !== 'Ed25519') {
    throw new InvalidIdentityError(`${path} holds a ${key.type} key; hddm identities are Ed25519`)
  }
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600)
  return key
}

async function createIdentity (path: string): Promise<PrivateKey> {
  const key = await generateKeyPair('Ed25519')
  const tmp = `${path}.${process.pid}.tmp`
  const file = await open(tmp, 'wx', 0o600)
  try {
    await file.writeFile(privateKeyToProtobuf(key))
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(tmp, path)
  return key
}
