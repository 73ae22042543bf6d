import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import * as raw from 'multiformats/codecs/raw'
import { DAG_JSON_CODE } from '../../src/protocol/canonical.js'

/** A dag-json CID standing in for a run id, derived from a label so tests can make several. */
export async function runCidFor (label: string): Promise<CID> {
  return CID.createV1(DAG_JSON_CODE, await sha256.digest(new TextEncoder().encode(label)))
}

/** A raw-codec CID standing in for a checkpoint file. */
export async function fileCidFor (label: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(label)))
}

/** A real Ed25519 peer id string, as gossipsub's `from` prints it. */
export async function newPeerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

export const TASKS = [{ id: 'expert-0' }, { id: 'expert-1' }, { id: 'router' }]
export const T0 = 1_750_000_000_000

/** A dag-json CID that is not a UnixFS file (e.g. a manifest). */
export const dagJsonCidFor = runCidFor
