/**
 * The UnixFS file DAG as the transfer protocol walks it, on both ends: a block's children in
 * order, its declared size, and the check that a block is the one its CID names.
 */
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'uint8arrays/equals'
import { BlockVerificationError, NotAFileError, TransferProtocolError } from './errors.js'
import type { CID } from 'multiformats/cid'

export interface FileNode {
  /** Child blocks in file order (empty for a leaf). */
  children: CID[]
  /** Bytes of file content this node stands for, as it declares (checked against what streams). */
  size: number
  /** File content held in this very block: a raw leaf's bytes, or data inlined in a dag-pb node. */
  content: Uint8Array
}

/** Decodes a verified block of a UnixFS file: only raw leaves and dag-pb `file`/`raw` nodes belong to one. */
export function fileNode (cid: CID, bytes: Uint8Array): FileNode {
  if (cid.code === raw.code) return { children: [], size: bytes.byteLength, content: bytes }
  if (cid.code !== dagPb.code) throw new NotAFileError(`${cid.toString()} is neither a raw nor a dag-pb block`)
  let node: dagPb.PBNode
  let unixfs: UnixFS
  try {
    node = dagPb.decode(bytes)
    if (node.Data === undefined) throw new Error('no UnixFS data')
    unixfs = UnixFS.unmarshal(node.Data)
  } catch (err) {
    throw new TransferProtocolError(`${cid.toString()} is not a UnixFS node: ${(err as Error).message}`)
  }
  if (unixfs.type !== 'file' && unixfs.type !== 'raw') {
    throw new NotAFileError(`${cid.toString()} is a UnixFS ${unixfs.type}, not a file`)
  }
  const content = unixfs.data ?? new Uint8Array(0)
  return { children: node.Links.map((link) => link.Hash), size: Number(unixfs.fileSize()), content }
}

/** Whether the transfer protocol can verify blocks of this CID itself (sha2-256, the UnixFS importer's). */
export function verifiable (cid: CID): boolean {
  return cid.multihash.code === sha256.code && (cid.code === raw.code || cid.code === dagPb.code)
}

/** Throws BlockVerificationError unless `bytes` hash to `cid`'s digest. */
export async function verifyBlock (cid: CID, bytes: Uint8Array, from: string): Promise<void> {
  const digest = await sha256.digest(bytes)
  if (!equals(digest.digest, cid.multihash.digest)) {
    throw new BlockVerificationError(`peer ${from} sent ${bytes.byteLength} bytes that are not block ${cid.toString()}`)
  }
}
