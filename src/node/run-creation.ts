/**
 * A run's life starts here: a manifest file becomes data shards in IPFS and a resolved
 * manifest whose dag-json CID is the run id (DESIGN sections 5-6). Every step is seeded, so
 * the same file gives the same run id on every machine; a second creator merely re-adds the
 * same blocks.
 */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { CID } from 'multiformats/cid'
import { InvalidArgumentError, throwIfAborted } from '../hddm-error.js'
import { clusterDataset, type ClusterProgressEvents } from '../data/cluster.js'
import { datasetDigest, takeDataset, type Dataset } from '../data/dataset.js'
import { readImageFolder } from '../data/image-folder.js'
import { readIdxPair } from '../data/idx.js'
import { loadMnist } from '../data/mnist.js'
import { buildShards, encodeShard } from '../data/shard.js'
import type { FeatureMap } from '../data/features.js'
import { encoderFeatureMap, loadEncoderFile } from '../training/clustering-encoder.js'
import { InvalidManifestError } from '../protocol/errors.js'
import {
  decodeResolvedRunManifest, parseResolvedRunManifest, parseRunManifestJson, runIdOf,
  type ResolvedRunManifest, type RunManifest
} from '../protocol/run-manifest.js'
import { CustomProgressEvent, type AbortOptions, type ProgressEvent, type ProgressOptions } from '../progress.js'
import { RunNotFoundError } from './errors.js'
import type { Storage } from '../storage/helia.js'

export type RunCreationProgressEvents =
  | ProgressEvent<'hddm:run:dataset', { name: string, count: number }>
  | ProgressEvent<'hddm:run:shard', { cluster: number, train: CID, heldOut: CID }>
  | ProgressEvent<'hddm:run:created', { runId: CID }>
  | ClusterProgressEvents

export interface CreateRunOptions extends AbortOptions, ProgressOptions<RunCreationProgressEvents> {
  /** Relative dataset paths (idx, folder) are resolved against this directory; default cwd. */
  baseDir?: string
}

export interface CreatedRun {
  runId: CID
  manifest: ResolvedRunManifest
}

/** What run creation and resolution need from storage. */
export type RunStore = Pick<Storage, 'addBytes' | 'putJson' | 'getJsonBytes' | 'provide'>

/** Reads and validates a manifests/*.json file. @throws InvalidManifestError */
export async function readManifestFile (path: string): Promise<{ manifest: RunManifest, baseDir: string }> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new InvalidArgumentError(`cannot read manifest ${path}: ${(err as Error).message}`)
  }
  return { manifest: parseRunManifestJson(text), baseDir: dirname(resolve(path)) }
}

/**
 * Clusters the manifest's dataset, stores one train and one held-out shard per cluster (pinned,
 * and provided in the swarm DHT when it has peers), then stores the resolved manifest.
 */
export async function createRun (
  manifest: RunManifest, store: RunStore, options: CreateRunOptions = {}
): Promise<CreatedRun> {
  const dataset = await loadRunDataset(manifest, options)
  options.onProgress?.(new CustomProgressEvent('hddm:run:dataset', { name: dataset.name, count: dataset.count }))
  throwIfAborted(options.signal)
  const { clustering: c } = manifest
  const clustering = await clusterDataset(dataset, {
    k: manifest.k,
    seed: manifest.seed,
    fine: c.fineCentroids,
    fineIterations: c.iterations,
    features: await clusteringFeatures(manifest, options.baseDir ?? process.cwd()),
    pca: { components: c.dims },
    signal: options.signal,
    onProgress: options.onProgress
  })
  const split = { heldOutFraction: manifest.dataset.heldOutFraction, seed: manifest.seed }
  const shards = buildShards(dataset, clustering, split)
  const resolvedShards = []
  for (const { cluster, train, heldOut } of shards) {
    const trainCid = await store.addBytes(encodeShard(train), { signal: options.signal })
    const heldOutCid = await store.addBytes(encodeShard(heldOut), { signal: options.signal })
    options.onProgress?.(new CustomProgressEvent('hddm:run:shard', { cluster, train: trainCid, heldOut: heldOutCid }))
    resolvedShards.push({
      cluster, train: trainCid, heldOut: heldOutCid, trainCount: train.header.count, heldOutCount: heldOut.header.count
    })
  }
  const resolved = parseResolvedRunManifest({
    ...manifest,
    resolved: {
      shards: resolvedShards,
      frequencies: normalise(clustering.pi),
      dataDigest: datasetDigest(dataset),
      tokenizerDigest: shards[0].train.header.tokenizerDigest
    }
  })
  const runId = await runIdOf(resolved)
  const stored = await store.putJson(resolved, { signal: options.signal })
  // The run id is defined over the canonical encoding; Helia's dag-json must agree with it or
  // peers would fetch a manifest under a CID nobody announced.
  if (stored.toString() !== runId.toString()) {
    throw new InvalidManifestError(`stored manifest CID ${stored.toString()} differs from run id ${runId.toString()}`)
  }
  // In the background: a lone creator has no DHT peers yet (a provide would wait for its
  // timeout), and bitswap serves the blocks to connected peers without it.
  for (const cid of [runId, ...resolvedShards.flatMap(s => [s.train, s.heldOut])]) {
    store.provide(cid, { timeoutMs: 30_000 }).catch(() => {})
  }
  options.onProgress?.(new CustomProgressEvent('hddm:run:created', { runId }))
  return { runId, manifest: resolved }
}

export interface ResolveRunOptions extends AbortOptions {
  /** Give up after this long: a run CID nobody serves is a RunNotFoundError. @default 30_000 */
  timeoutMs?: number
  /** Only read the local blockstore: a manifest not held here is a BlockNotFoundError at once. */
  offline?: boolean
}

/**
 * Fetches a resolved manifest by run id and checks that it really is that run: a manifest whose
 * canonical re-encoding has another CID is refused, so every peer trains exactly what the id names.
 */
export async function resolveRun (
  runId: CID | string, store: RunStore, options: ResolveRunOptions = {}
): Promise<ResolvedRunManifest> {
  const cid = parseRunId(runId)
  const { signal, offline } = options
  let bytes: Uint8Array
  try {
    bytes = await store.getJsonBytes(cid, { signal, offline, timeoutMs: options.timeoutMs ?? 30_000 })
  } catch (err) {
    if ((err as Error).name === 'FetchTimeoutError') {
      const within = `within ${options.timeoutMs ?? 30_000} ms`
      throw new RunNotFoundError(`run ${cid.toString()} could not be fetched from any peer ${within}`)
    }
    throw err
  }
  // The decoder's size cap bounds what a peer can make us parse.
  const manifest = decodeResolvedRunManifest(bytes)
  if ((await runIdOf(manifest)).toString() !== cid.toString()) {
    throw new InvalidManifestError(`manifest fetched for ${cid.toString()} is not in canonical form`)
  }
  return manifest
}

export function parseRunId (runId: CID | string): CID {
  if (typeof runId !== 'string') return runId
  try {
    return CID.parse(runId)
  } catch {
    throw new InvalidArgumentError(`not a run CID: ${runId.slice(0, 80)}`)
  }
}

async function loadRunDataset (manifest: RunManifest, options: CreateRunOptions): Promise<Dataset> {
  const spec = manifest.dataset
  const base = options.baseDir ?? process.cwd()
  let dataset: Dataset
  switch (spec.kind) {
    case 'mnist':
      dataset = await loadMnist({ split: 'train', signal: options.signal })
      break
    case 'idx':
      dataset = await readIdxPair(resolve(base, spec.images), resolve(base, spec.labels), {
        classNames: spec.classNames, name: `idx:${spec.images}`, signal: options.signal
      })
      break
    case 'folder':
      dataset = await readImageFolder(resolve(base, spec.path), {
        width: spec.imageSize, height: spec.imageSize, name: `folder:${spec.path}`, signal: options.signal
      })
      break
  }
  return spec.limit === undefined ? dataset : takeDataset(dataset, Math.min(spec.limit, dataset.count))
}

/**
 * The manifest's encoder as clustering's feature map (undefined: pixel PCA, fitted by the
 * clustering itself). A shipped encoder is named by dataset; a path is relative to the manifest.
 * @throws InvalidManifestError when the file is missing, corrupt or not the pinned bytes
 */
export async function clusteringFeatures (manifest: RunManifest, baseDir: string): Promise<FeatureMap | undefined> {
  const { features, encoder } = manifest.clustering
  if (features !== 'encoder' || encoder === undefined) return undefined
  const file = encoder.file.endsWith('.safetensors') ? resolve(baseDir, encoder.file) : encoder.file
  try {
    return encoderFeatureMap((await loadEncoderFile(file, encoder.cid)).file)
  } catch (err) {
    throw new InvalidManifestError('clustering encoder unusable', [`clustering.encoder: ${(err as Error).message}`])
  }
}

/** pi_k as stored: sums to 1 to within float rounding, as the resolved schema demands. */
function normalise (pi: number[]): number[] {
  const sum = pi.reduce((a, b) => a + b, 0)
  return pi.map(p => p / sum)
}
