import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { InvalidArgumentError } from '../hddm-error.js'

/** bootstrap/peers.json in the package (the same relative path from src/network and dist/network). */
export const DEFAULT_BOOTSTRAP_LIST = fileURLToPath(new URL('../../bootstrap/peers.json', import.meta.url))

const peerAddress = z.string().refine((text) => {
  try {
    return multiaddr(text).getComponents().some((c) => c.name === 'p2p')
  } catch {
    return false
  }
}, { message: 'not a multiaddr ending in /p2p/<peerId>' })

/** A bootstrap list file: the peers a node dials first. Extra keys (a description) are allowed. */
export const BootstrapListSchema = z.object({
  peers: z.array(peerAddress).max(256)
})

export type BootstrapList = z.infer<typeof BootstrapListSchema>

/** Reads and validates a bootstrap list; a bad file is an InvalidArgumentError naming each bad entry. */
export async function loadBootstrapList (path: string = DEFAULT_BOOTSTRAP_LIST): Promise<string[]> {
  let value: unknown
  try {
    value = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new InvalidArgumentError(`cannot read bootstrap list ${path}: ${(err as Error).message}`)
  }
  const parsed = BootstrapListSchema.safeParse(value)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
    throw new InvalidArgumentError(`invalid bootstrap list ${path}: ${issues}`)
  }
  return parsed.data.peers
}
