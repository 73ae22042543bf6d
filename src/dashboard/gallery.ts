/**
 * The dashboard's sample gallery: for each expert task, one image per prompt of the run, drawn
 * from the newest checkpoint offered for it (this node's own, or any announced one for a
 * swarm's dashboard). Drawing runs on the caller's thread (the node's main thread, whose tfjs
 * backend serves samples too), so it is kept cheap and out of the way: a few Euler steps at a
 * fixed seed (successive checkpoints are comparable image by image), one draw at a time, at
 * most one per `minIntervalMs`, the newest checkpoint of a task replacing an older one still
 * waiting, and nothing at all while nobody watches the page. The sampler yields between steps,
 * so gossip and the sample protocol keep running during a draw.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { TypedEventEmitter } from '@libp2p/interface'
import { decodeCheckpoint } from '../checkpoint/format.js'
import { loadExpert } from '../checkpoint/expert.js'
import { sampleExpert } from '../ensemble/sample.js'
import { toPng } from '../ensemble/serve.js'
import { silentLogger, type Logger } from '../logger.js'
import { fetchAnnouncedCheckpoint } from '../node/announced-checkpoint.js'
import type { ResolvedRunManifest } from '../protocol/run-manifest.js'
import type { Storage } from '../storage/helia.js'
import type { RunPrompts } from './prompts.js'

export interface GalleryInit {
  /** Euler steps per image. @default 12 */
  steps?: number
  /** Classifier-free guidance. @default 2 */
  guidance?: number
  /** Noise seed, the same for every draw. @default 1 */
  seed?: number
  /** Least time between the starts of two draws. @default 30_000 */
  minIntervalMs?: number
  /** Prompts drawn at most (a captioned dataset has many). @default 16 */
  maxPrompts?: number
  /** Deadline of each checkpoint or held-out shard fetch. @default 60_000 */
  timeoutMs?: number
  logger?: Logger
}

export interface GalleryComponents {
  storage: Pick<Storage, 'getBytes'>
  manifest: ResolvedRunManifest
  /** The prompts to draw (the run's). */
  prompts: RunPrompts
}

/** A checkpoint to draw from. */
export interface GalleryOffer {
  task: string
  cid: string
  step: number
  /** Its announcer: asked first for the bytes. */
  peer: string
}

export interface GalleryRow extends GalleryOffer {
  drawnAt: number
  /** Wall time the draw took here (fetch, load, sample, encode). */
  ms: number
  images: Array<{ prompt: string, png: string }>
}

export interface GalleryEvents {
  row: CustomEvent<GalleryRow>
}

/** Checkpoints that failed to draw, remembered at most. */
const MAX_FAILED = 1024

export class Gallery extends TypedEventEmitter<GalleryEvents> {
  private readonly init: Required<Omit<GalleryInit, 'logger'>>
  private readonly log: Logger
  private readonly drawn = new Map<string, GalleryRow>()
  private readonly waiting = new Map<string, GalleryOffer>()
  private readonly failed = new Set<string>()
  private controller?: AbortController
  private running?: Promise<void>
  private wake?: () => void
  private active = false
  private lastDrawAt = -Infinity

  constructor (init: GalleryInit, private readonly c: GalleryComponents) {
    super()
    this.init = {
      steps: init.steps ?? 12,
      guidance: init.guidance ?? 2,
      seed: init.seed ?? 1,
      minIntervalMs: init.minIntervalMs ?? 30_000,
      maxPrompts: init.maxPrompts ?? 16,
      timeoutMs: init.timeoutMs ?? 60_000
    }
    this.log = (init.logger ?? silentLogger).child('gallery')
  }

  start (): void {
    if (this.running !== undefined) return
    this.controller = new AbortController()
    const signal = this.controller.signal
    this.running = this.loop(signal).catch((err) => {
      if (!signal.aborted) this.log.warn('gallery stopped', {}, err)
    })
  }

  async stop (): Promise<void> {
    this.controller?.abort()
    this.wake?.()
    await this.running
    this.running = undefined
  }

  /** The newest checkpoint of a task; an older or router checkpoint is ignored. */
  offer (offer: GalleryOffer): void {
    const task = this.c.manifest.tasks.find((t) => t.id === offer.task)
    if (task?.kind !== 'expert' || this.failed.has(offer.cid)) return
    const newest = this.waiting.get(offer.task) ?? this.drawn.get(offer.task)
    if (newest !== undefined && (newest.step > offer.step || newest.cid === offer.cid)) return
    this.waiting.set(offer.task, offer)
    this.wake?.()
  }

  /** Draw only while someone watches: a page nobody looks at is not worth the CPU. */
  setActive (active: boolean): void {
    this.active = active
    this.wake?.()
  }

  rows (): GalleryRow[] {
    return this.c.manifest.tasks.flatMap((t) => this.drawn.get(t.id) ?? [])
  }

  private async loop (signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const next = this.active ? this.next() : undefined
      if (next === undefined) {
        await new Promise<void>((resolve) => { this.wake = resolve })
        continue
      }
      const wait = this.lastDrawAt + this.init.minIntervalMs - performance.now()
      if (wait > 0) {
        await sleep(wait, undefined, { signal }).catch(() => {})
        continue
      }
      this.lastDrawAt = performance.now()
      let prompts: string[]
      try {
        prompts = (await this.c.prompts()).slice(0, this.init.maxPrompts)
      } catch (err) {
        // No peer serves the held-out shards yet: the offer waits for the next turn.
        if (!signal.aborted) this.log.warn('the run\'s prompts are not available yet', {}, err)
        continue
      }
      this.waiting.delete(next.task)
      try {
        const row = await this.draw(next, prompts, signal)
        this.drawn.set(next.task, row)
        this.log.debug('gallery drawn', { task: row.task, step: row.step, ms: row.ms })
        this.safeDispatchEvent('row', { detail: row })
      } catch (err) {
        if (signal.aborted) return
        // A checkpoint that cannot be drawn (gone, corrupt) is not tried again; the oldest are forgotten.
        this.failed.add(next.cid)
        if (this.failed.size > MAX_FAILED) this.failed.delete(this.failed.values().next().value!)
        this.log.warn('gallery draw failed', { task: next.task, cid: next.cid }, err)
      }
    }
  }

  /** The waiting task drawn longest ago (never drawn first), so every expert gets its turn. */
  private next (): GalleryOffer | undefined {
    let best: GalleryOffer | undefined
    for (const offer of this.waiting.values()) {
      const at = this.drawn.get(offer.task)?.drawnAt ?? -1
      if (best === undefined || at < (this.drawn.get(best.task)?.drawnAt ?? -1)) best = offer
    }
    return best
  }

  private async draw (offer: GalleryOffer, prompts: string[], signal: AbortSignal): Promise<GalleryRow> {
    const started = performance.now()
    const fetching = { timeoutMs: this.init.timeoutMs, signal }
    const bytes = await fetchAnnouncedCheckpoint(this.c.storage, this.c.manifest, offer, fetching)
    const expert = loadExpert(decodeCheckpoint(bytes))
    try {
      const { steps, guidance, seed } = this.init
      const result = await sampleExpert(expert, { prompts, count: 1, steps, guidance, seed, signal })
      const images = prompts.map((prompt, i) => ({
        prompt, png: Buffer.from(toPng(result.images, result.shape, i)).toString('base64')
      }))
      return { ...offer, drawnAt: Date.now(), ms: Math.round(performance.now() - started), images }
    } finally {
      expert.dispose()
    }
  }
}
