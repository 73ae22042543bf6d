/**
 * The ensemble `hddm-node eval` scores, and what its expert x cluster loss matrix needs: from
 * the swarm by the ensemble's manifest CID ({@link evalSourceFromSwarm}: blocks held in the data
 * directory or fetched from bootstrap peers, held-out shards through the run manifest), or from
 * local checkpoint files ({@link evalSourceFromFiles}).
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { decodeCheckpoint, type Checkpoint } from '../checkpoint/format.js'
import { readCheckpointFile } from '../checkpoint/file.js'
import { loadExpert } from '../checkpoint/expert.js'
import { loadRouter, type LoadedRouter } from '../checkpoint/router.js'
import { resolveEnsemble } from '../ensemble/resolve.js'
import { InvalidArgumentError } from '../hddm-error.js'
import { createRunShards } from '../ensemble/run-shards.js'
import { connectSwarm, type ConnectSwarmInit } from './connect.js'
import { resolveRun } from './run-creation.js'
import type { EnsembleMember } from '../ensemble/sample.js'
import type { Tokenizer } from '../data/tokenizer.js'
import type { AbortOptions } from '../progress.js'

export interface EvalSource {
  members: EnsembleMember[]
  router: LoadedRouter
  tokenizer: Tokenizer
  /** The manifest's routing rule, or `full` for files. */
  defaultRouting: string
  /** Expert checkpoints, for the loss matrix. */
  checkpoints: Array<{ cluster: number, checkpoint: Checkpoint }>
  /** Held-out shard per cluster, when known (given, or reachable through the run manifest). */
  heldOut?: Uint8Array[]
  /** The ensemble CID, or `local files`. */
  id: string
  /** Frees the models and leaves the swarm. */
  dispose: () => Promise<void>
}

export interface FileSourceInit {
  router: string
  experts: Array<{ cluster: number, file: string }>
  /** A directory of held-out shards (see {@link readHeldOutDir}). */
  heldOutDir?: string
}

export async function evalSourceFromFiles (init: FileSourceInit): Promise<EvalSource> {
  const router = loadRouter(await readCheckpointFile(init.router))
  const members: EnsembleMember[] = []
  const checkpoints: EvalSource['checkpoints'] = []
  const free = (): void => { router.dispose(); for (const m of members) m.expert.dispose() }
  try {
    for (const { cluster, file } of init.experts) {
      const checkpoint = await readCheckpointFile(file)
      checkpoints.push({ cluster, checkpoint })
      members.push({ cluster, expert: loadExpert(checkpoint) })
    }
    const k = router.model.config.numExperts
    const heldOut = init.heldOutDir !== undefined ? await readHeldOutDir(init.heldOutDir, k) : undefined
    const tokenizer = members[0].expert.tokenizer
    const dispose = async (): Promise<void> => { free() }
    return { members, router, tokenizer, defaultRouting: 'full', checkpoints, heldOut, id: 'local files', dispose }
  } catch (err) {
    free()
    throw err
  }
}

export interface SwarmSourceInit extends Pick<ConnectSwarmInit, 'dataDir' | 'swarmKeyFile' | 'allowPeers' | 'logger'> {
  ensemble: CID
  /** Peers to fetch missing blocks from; none: only the blocks the data directory holds. */
  bootstrap: string[]
  /** Deadline of each fetch. */
  timeoutMs: number
  /** A directory of held-out shards; default: the run's, through the ensemble's run manifest. */
  heldOutDir?: string
}

/**
 * Joins the swarm (a temporary data directory unless one is given; on loopback), resolves the
 * ensemble and fetches its expert checkpoints. The run's held-out shards are best effort: a
 * peer that holds the ensemble usually holds the run, but `heldOut` stays undefined if not.
 */
export async function evalSourceFromSwarm (init: SwarmSourceInit, options: AbortOptions = {}): Promise<EvalSource> {
  const { dataDir, bootstrap, swarmKeyFile, allowPeers, logger } = init
  const connection = await connectSwarm({
    dataDir, bootstrap, swarmKeyFile, allowPeers, logger, listen: ['/ip4/127.0.0.1/tcp/0'], redialWhileAlone: true
  }, options)
  const { storage } = connection
  try {
    const fetch = { timeoutMs: init.timeoutMs, offline: bootstrap.length === 0, signal: options.signal }
    const ensemble = await resolveEnsemble(storage, init.ensemble, fetch)
    const dispose = async (): Promise<void> => { ensemble.dispose(); await connection.stop() }
    try {
      const checkpoints: EvalSource['checkpoints'] = []
      for (const e of ensemble.manifest.experts) {
        checkpoints.push({ cluster: e.cluster, checkpoint: decodeCheckpoint(await storage.getBytes(e.cid, fetch)) })
      }
      let heldOut: Uint8Array[] | undefined
      if (init.heldOutDir !== undefined) {
        heldOut = await readHeldOutDir(init.heldOutDir, ensemble.manifest.k)
      } else {
        try {
          const run = await resolveRun(ensemble.manifest.run, storage, fetch)
          // Capped at the sizes the run's manifest allows, like every shard a peer serves.
          const shards = createRunShards({ manifest: run, storage, timeoutMs: init.timeoutMs, offline: fetch.offline })
          heldOut = await Promise.all(run.resolved.shards.map(async (s) => await shards.heldOut(s.cluster, options)))
        } catch {
          // Not reachable (or not a run): the caller scores without the loss matrix.
          heldOut = undefined
        }
      }
      const { members, router, tokenizer, id } = ensemble
      const defaultRouting = ensemble.manifest.routing
      return { members, router, tokenizer, defaultRouting, checkpoints, heldOut, id, dispose }
    } catch (err) {
      ensemble.dispose()
      throw err
    }
  } catch (err) {
    await connection.stop()
    throw err
  }
}

/**
 * The held-out shard of each of `k` clusters from a directory, as `data cluster --write-shards`
 * writes them: `cluster-<i>.held-out.hddmshard`.
 * @throws InvalidArgumentError when one is missing
 */
export async function readHeldOutDir (dir: string, k: number): Promise<Uint8Array[]> {
  const files = new Set(await readdir(dir))
  return await Promise.all(Array.from({ length: k }, async (_, c) => {
    const name = `cluster-${c}.held-out.hddmshard`
    if (!files.has(name)) throw new InvalidArgumentError(`held-out directory ${dir} has no ${name}`)
    return await readFile(join(dir, name))
  }))
}
