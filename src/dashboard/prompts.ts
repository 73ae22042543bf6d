/**
 * A run's prompts, as assembly finds them: the union of its held-out shards' prompt lists,
 * sorted. The shards are fetched once (they are small, and the node's verifiers fetched them
 * already); a failed fetch is tried again on the next call.
 */
import { decodeShard } from '../data/shard-format.js'
import { createRunShards } from '../ensemble/run-shards.js'
import type { ResolvedRunManifest } from '../protocol/run-manifest.js'
import type { Storage } from '../storage/helia.js'

export type RunPrompts = () => Promise<string[]>

export function runPrompts (
  manifest: Pick<ResolvedRunManifest, 'model' | 'resolved'>, storage: Pick<Storage, 'getBytes'>, timeoutMs = 60_000
): RunPrompts {
  const shards = createRunShards({ manifest, storage, timeoutMs })
  let pending: Promise<string[]> | undefined
  return async () => {
    pending ??= (async () => {
      const prompts = new Set<string>()
      for (const shard of manifest.resolved.shards) {
        decodeShard(await shards.heldOut(shard.cluster)).header.prompts.forEach((p) => prompts.add(p))
      }
      return [...prompts].sort()
    })()
    const mine = pending
    mine.catch(() => { if (pending === mine) pending = undefined })
    return await mine
  }
}
