/**
 * A run's shards as the verifiers fetch them: by the manifest's CIDs, each capped at the size
 * its header allows (protocol/fetch-limits.ts), each fetched once and shared by whoever asks
 * next (the lease-evidence checker and the final verifier of one node ask for the same held-out
 * shards). A failed fetch is not kept: the next ask tries again.
 */
import { maxShardBytes } from '../protocol/fetch-limits.js'
import type { AbortOptions } from '../progress.js'
import type { ResolvedRunManifest } from '../protocol/run-manifest.js'
import type { Storage } from '../storage/helia.js'

export interface RunShards {
  heldOut: (cluster: number, options?: AbortOptions) => Promise<Uint8Array>
  train: (cluster: number, options?: AbortOptions) => Promise<Uint8Array>
}

export interface RunShardsInit {
  manifest: Pick<ResolvedRunManifest, 'model' | 'resolved'>
  storage: Pick<Storage, 'getBytes'>
  /** Deadline of each fetch. @default 60_000 */
  timeoutMs?: number
  /** Read only the blocks this node holds (no peers to ask). @default false */
  offline?: boolean
}

export function createRunShards (init: RunShardsInit): RunShards {
  const fetched = new Map<string, Promise<Uint8Array>>()
  const fetch = (split: 'train' | 'heldOut') => async (
    cluster: number, options: AbortOptions = {}
  ): Promise<Uint8Array> => {
    const key = `${split}/${cluster}`
    let pending = fetched.get(key)
    if (pending === undefined) {
      const cid = init.manifest.resolved.shards[cluster][split]
      const maxBytes = maxShardBytes(init.manifest, cluster, split)
      const timeoutMs = init.timeoutMs ?? 60_000
      pending = init.storage.getBytes(cid, { timeoutMs, offline: init.offline, signal: options.signal, maxBytes })
      pending.catch(() => { fetched.delete(key) })
      fetched.set(key, pending)
    }
    return await pending
  }
  return { heldOut: fetch('heldOut'), train: fetch('train') }
}
