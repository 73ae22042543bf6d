/**
 * The sample service's handler: ensembles by CID, loaded once and kept (the `maxEnsembles`
 * most recently used; the rest are disposed once no request uses them), sampled with the same
 * function as local sampling (so a remote draw equals a local one for the same seed), each
 * image encoded as PNG. By default it serves only ensembles whose blocks it already holds:
 * fetching and loading a stranger's model on request is a free amplification attack.
 */
import { CID } from 'multiformats/cid'
import { encodePng } from '../data/png.js'
import { parseRouting } from '../diffusion/routing.js'
import { BlockNotFoundError, FetchTimeoutError } from '../storage/errors.js'
import { SampleRefusedError } from '../network/sample-errors.js'
import { resolveEnsemble, type LoadedEnsemble } from './resolve.js'
import { sampleEnsemble } from './sample.js'
import type { SampleHandler, SampleImage } from '../network/sample-service.js'
import type { SampleRequest } from '../protocol/sample-messages.js'
import type { Storage } from '../storage/helia.js'

export interface EnsembleSampleHandlerInit {
  storage: Pick<Storage, 'getJsonBytes' | 'getBytes'>
  /** Fetch unknown ensembles from the swarm (with fetchTimeoutMs) instead of refusing them. */
  serveAny?: boolean
  fetchTimeoutMs?: number
  /** Loaded ensembles kept at most. @default 4 */
  maxEnsembles?: number
}

interface CachedEnsemble {
  pending: Promise<LoadedEnsemble>
  /** Requests drawing from it now: it is disposed only when none is. */
  users: number
}

export interface EnsembleSampleHandler {
  handler: SampleHandler
  dispose: () => void
}

/** [-1, 1] floats of image i -> 8-bit PNG (the sample CLI writes local draws the same way, byte for byte). */
export function toPng (images: Float32Array, shape: [number, number, number, number], i: number): Uint8Array {
  const [, height, width, channels] = shape
  const size = height * width * channels
  const pixels = new Uint8Array(size)
  for (let p = 0; p < size; p++) pixels[p] = Math.min(255, Math.max(0, Math.round((images[i * size + p] + 1) * 127.5)))
  return encodePng({ width, height, channels, pixels })
}

export function ensembleSampleHandler (init: EnsembleSampleHandlerInit): EnsembleSampleHandler {
  // Map order is recency order: a use moves an entry to the end.
  const loaded = new Map<string, CachedEnsemble>()
  const maxEnsembles = init.maxEnsembles ?? 4
  const dispose = (entry: CachedEnsemble): void => { entry.pending.then(e => { e.dispose() }, () => {}) }

  /** Drops the least recently used ensembles nobody is drawing from, down to `maxEnsembles`. */
  const evict = (): void => {
    for (const [id, entry] of loaded) {
      if (loaded.size <= maxEnsembles) return
      if (entry.users > 0) continue
      loaded.delete(id)
      dispose(entry)
    }
  }

  const ensembleFor = async (id: string, entry: CachedEnsemble): Promise<LoadedEnsemble> => {
    try {
      return await entry.pending
    } catch (err) {
      if (err instanceof BlockNotFoundError || err instanceof FetchTimeoutError) {
        throw new SampleRefusedError('unknown-ensemble', `ensemble ${id} is not held here`)
      }
      const reason = err instanceof Error ? err.message : String(err)
      throw new SampleRefusedError('invalid-ensemble', `ensemble ${id} cannot be loaded: ${reason}`)
    }
  }

  const acquire = (id: string): CachedEnsemble => {
    let entry = loaded.get(id)
    if (entry === undefined) {
      const fetching = init.serveAny === true ? { timeoutMs: init.fetchTimeoutMs ?? 60_000 } : { offline: true }
      const pending = resolveEnsemble(init.storage, CID.parse(id), fetching)
      entry = { pending, users: 0 }
      const created = entry
      // A failed load is not cached: the blocks may arrive later.
      pending.catch(() => { if (loaded.get(id) === created) loaded.delete(id) })
    }
    loaded.delete(id)
    loaded.set(id, entry)
    entry.users++
    return entry
  }

  const handler: SampleHandler = async (request: SampleRequest, options): Promise<SampleImage[]> => {
    const entry = acquire(request.ensemble)
    try {
      return await draw(await ensembleFor(request.ensemble, entry), request, options)
    } finally {
      entry.users--
      evict()
    }
  }

  const draw = async (
    ensemble: LoadedEnsemble, request: SampleRequest, options: Parameters<SampleHandler>[1]
  ): Promise<SampleImage[]> => {
    const prompts = Array.from({ length: request.count }, (_, i) => request.prompts[i % request.prompts.length])
    const result = await sampleEnsemble({
      members: ensemble.members,
      router: ensemble.router,
      tokenizer: ensemble.tokenizer,
      prompts,
      steps: request.steps,
      seed: request.seed,
      routing: request.routing !== undefined ? parseRouting(request.routing) : ensemble.routing,
      guidance: request.guidance,
      signal: options.signal,
      onProgress: (e) => { options.onProgress(e.detail.i + 1, e.detail.steps) }
    })
    return prompts.map((prompt, i) => ({ prompt, png: toPng(result.images, result.shape, i) }))
  }

  return {
    handler,
    dispose: () => {
      for (const entry of loaded.values()) dispose(entry)
      loaded.clear()
    }
  }
}
