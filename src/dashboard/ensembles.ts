/**
 * The ensembles this node holds, and the dashboard's one action: drawing a few images from
 * one. An ensemble is held when its manifest is pinned here (`publishEnsemble` pins what it
 * stores: `hddm-node ensemble` run on this data directory, or `simulate`'s observer) and names
 * this run; its checkpoints are read offline, so the action never makes the node fetch. The
 * pins are listed (a datastore query), and each dag-json pin is decoded once.
 */
import { CID } from 'multiformats/cid'
import { resolveEnsemble, type LoadedEnsemble } from '../ensemble/resolve.js'
import { sampleEnsemble } from '../ensemble/sample.js'
import { toPng } from '../ensemble/serve.js'
import { silentLogger, type Logger } from '../logger.js'
import { DAG_JSON_CODE } from '../protocol/canonical.js'
import { decodeEnsembleManifest } from '../protocol/ensemble-manifest.js'
import type { AbortOptions } from '../progress.js'
import type { Storage } from '../storage/helia.js'

export interface EnsembleEntry {
  cid: string
  routing: string
  experts: Array<{ cluster: number, objective: string }>
}

export interface EnsembleShelfInit {
  runId: string
  /** Images per draw. @default 4 */
  count?: number
  /** Euler steps. @default 20 */
  steps?: number
  /** Classifier-free guidance. @default 2 */
  guidance?: number
  logger?: Logger
}

export interface EnsembleShelfComponents {
  storage: Pick<Storage, 'getJsonBytes' | 'getBytes' | 'node'>
}

export interface DrawnImage {
  prompt: string
  /** PNG, base64. */
  png: string
}

export class EnsembleShelf {
  readonly count: number
  readonly steps: number
  private readonly guidance: number
  private readonly log: Logger
  /** Decoded dag-json pins: the ensemble they are, or null for other dag-json (the run manifest). */
  private readonly known = new Map<string, EnsembleEntry | null>()
  /** The last ensemble drawn from, kept loaded for the next click. */
  private loaded?: { cid: string, ensemble: Promise<LoadedEnsemble> }

  constructor (private readonly init: EnsembleShelfInit, private readonly c: EnsembleShelfComponents) {
    this.count = init.count ?? 4
    this.steps = init.steps ?? 20
    this.guidance = init.guidance ?? 2
    this.log = (init.logger ?? silentLogger).child('ensembles')
  }

  /** The run's ensembles pinned here, by CID. */
  async held (options: AbortOptions = {}): Promise<EnsembleEntry[]> {
    const out: EnsembleEntry[] = []
    for await (const pin of this.c.storage.node.pins.ls({ signal: options.signal })) {
      if (pin.cid.code !== DAG_JSON_CODE) continue
      const cid = pin.cid.toString()
      if (!this.known.has(cid)) this.known.set(cid, await this.decode(pin.cid, options))
      const entry = this.known.get(cid)
      if (entry != null) out.push(entry)
    }
    return out.sort((a, b) => a.cid < b.cid ? -1 : 1)
  }

  /** `count` images of one prompt from a held ensemble (the caller checks both), offline. */
  async draw (cid: string, prompt: string, seed: number, options: AbortOptions = {}): Promise<DrawnImage[]> {
    if (this.loaded?.cid !== cid) {
      this.dispose()
      const ensemble = resolveEnsemble(this.c.storage, CID.parse(cid), { offline: true, signal: options.signal })
      this.loaded = { cid, ensemble }
      ensemble.catch(() => { if (this.loaded?.ensemble === ensemble) this.loaded = undefined })
    }
    const ensemble = await this.loaded.ensemble
    const prompts = new Array<string>(this.count).fill(prompt)
    const result = await sampleEnsemble({
      members: ensemble.members,
      router: ensemble.router,
      tokenizer: ensemble.tokenizer,
      prompts,
      steps: this.steps,
      seed,
      routing: ensemble.routing,
      guidance: this.guidance,
      signal: options.signal
    })
    const png = (i: number): string => Buffer.from(toPng(result.images, result.shape, i)).toString('base64')
    return prompts.map((p, i) => ({ prompt: p, png: png(i) }))
  }

  dispose (): void {
    this.loaded?.ensemble.then((e) => { e.dispose() }, () => {})
    this.loaded = undefined
  }

  private async decode (cid: CID, options: AbortOptions): Promise<EnsembleEntry | null> {
    try {
      const manifest = decodeEnsembleManifest(await this.c.storage.getJsonBytes(cid, { ...options, offline: true }))
      if (manifest.run.toString() !== this.init.runId) return null
      const experts = manifest.experts.map((e) => ({ cluster: e.cluster, objective: e.objective }))
      return { cid: cid.toString(), routing: manifest.routing, experts }
    } catch {
      this.log.debug('a pinned dag-json block is no ensemble of this run', { cid: cid.toString() })
      return null
    }
  }
}
