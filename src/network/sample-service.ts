/**
 * The sample protocol `/hddm/sample/1.0.0` (docs/PROTOCOL.md), server side. One request frame
 * in; progress frames, one PNG frame per image, then `done` or a typed `error` out. The service
 * owns the protocol and its limits (request size and read time, concurrency, a per-peer rate
 * limit, a time limit, cancellation when the stream closes); the images come from an injected
 * handler, so this module knows nothing of models.
 */
import { lpStream } from '@libp2p/utils'
import { silentLogger, type Logger } from '../logger.js'
import { InvalidMessageError } from '../protocol/errors.js'
import {
  SAMPLE_MAX_CONCURRENT, SAMPLE_MAX_REQUEST_BYTES, SAMPLE_RATE_LIMIT_REQUESTS, SAMPLE_RATE_LIMIT_WINDOW_MS
} from '../protocol/limits.js'
import {
  decodeSampleRequest, encodeSampleFrame, type SampleRequest, type SampleResponseFrame
} from '../protocol/sample-messages.js'
import { SAMPLE_PROTOCOL } from '../protocol/topics.js'
import { SampleRefusedError } from './sample-errors.js'
import type { Libp2p, Stream } from '@libp2p/interface'

export interface SampleImage {
  prompt: string
  png: Uint8Array
}

export interface SampleHandlerOptions {
  signal: AbortSignal
  onProgress: (step: number, steps: number) => void
}

/** Draws the images of a valid request; throws SampleRefusedError to refuse with a code. */
export type SampleHandler = (request: SampleRequest, options: SampleHandlerOptions) => Promise<SampleImage[]>

export interface SampleServiceInit {
  maxConcurrent?: number
  /** At most `requests` per peer per `windowMs`. */
  rateLimit?: { requests: number, windowMs: number }
  /** The request frame must arrive within this time. */
  requestTimeoutMs?: number
  /** A whole job's time limit. */
  timeLimitMs?: number
  logger?: Logger
}

export interface SampleServiceComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
  handler: SampleHandler
}

/** Sends one response frame; Refuse sends the error frame that ends a refused request. */
type Send = (frame: SampleResponseFrame) => Promise<void>
type Refuse = (code: SampleRefusedError['code'], message: string) => Promise<void>

/** Requests answered since start, by outcome: `served`, or the code they were refused with. */
export type SampleCounters = Partial<Record<'served' | SampleRefusedError['code'], number>>

/** Peers remembered by the rate limiter at most; the oldest is forgotten first. */
const MAX_TRACKED_PEERS = 4096

export class SampleService {
  private readonly init: Required<Omit<SampleServiceInit, 'logger'>>
  private readonly log: Logger
  private readonly recent = new Map<string, number[]>()
  private readonly running = new Set<AbortController>()
  private readonly outcomes: SampleCounters = {}
  private started = false

  constructor (init: SampleServiceInit, private readonly components: SampleServiceComponents) {
    this.init = {
      maxConcurrent: init.maxConcurrent ?? SAMPLE_MAX_CONCURRENT,
      rateLimit: init.rateLimit ?? { requests: SAMPLE_RATE_LIMIT_REQUESTS, windowMs: SAMPLE_RATE_LIMIT_WINDOW_MS },
      requestTimeoutMs: init.requestTimeoutMs ?? 5_000,
      timeLimitMs: init.timeLimitMs ?? 300_000
    }
    this.log = (init.logger ?? silentLogger).child('sample-service')
  }

  /** Jobs in progress. */
  get active (): number { return this.running.size }

  /** Requests answered since start, by outcome (bounded: `served` and the wire error codes). */
  counters (): SampleCounters { return { ...this.outcomes } }

  async start (): Promise<void> {
    if (this.started) return
    await this.components.libp2p.handle(SAMPLE_PROTOCOL, async (stream, connection) => {
      await this.serve(stream, connection.remotePeer.toString())
    }, { maxInboundStreams: 32 })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    await this.components.libp2p.unhandle(SAMPLE_PROTOCOL)
    for (const job of this.running) job.abort()
    this.started = false
  }

  private async serve (stream: Stream, peer: string): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: SAMPLE_MAX_REQUEST_BYTES })
    const send: Send = async (frame) => { await lp.write(encodeSampleFrame(frame)) }
    const refuse: Refuse = async (code, message) => {
      this.log.debug('sample request refused', { peer, code, message })
      this.count(code)
      await send({ type: 'error', code, message })
      await stream.close()
    }
    try {
      // [limit] per-peer rate and global concurrency are checked before reading anything.
      const { requests, windowMs } = this.init.rateLimit
      if (!this.admit(peer)) {
        await refuse('rate-limited', `more than ${requests} requests in ${windowMs} ms`)
        return
      }
      if (this.busy()) { await refuse('busy', `${this.running.size} requests in progress`); return }

      let request: SampleRequest
      const timeoutMs = this.init.requestTimeoutMs
      try {
        request = decodeSampleRequest((await lp.read({ signal: AbortSignal.timeout(timeoutMs) })).subarray())
      } catch (err) {
        const why = err instanceof InvalidMessageError ? err.message : `no valid request frame within ${timeoutMs} ms`
        await refuse('bad-request', why)
        return
      }
      if (this.busy()) { await refuse('busy', `${this.running.size} requests in progress`); return }
      await this.run(request, stream, send, refuse)
    } catch (err) {
      // The peer went away or broke framing mid-answer: nothing to tell it, nothing to keep.
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  private busy (): boolean { return this.running.size >= this.init.maxConcurrent }

  private count (outcome: keyof SampleCounters): void { this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1 }

  private async run (request: SampleRequest, stream: Stream, send: Send, refuse: Refuse): Promise<void> {
    const job = new AbortController()
    const cancel = (): void => { job.abort() }
    // A closed or reset stream cancels the work: nobody is left to receive it.
    stream.addEventListener('close', cancel)
    const timer = setTimeout(cancel, this.init.timeLimitMs)
    this.running.add(job)
    // Progress frames go out in order on one chain that never rejects: a frame that cannot be
    // sent (the peer left) cancels the job instead of leaving a rejection nobody awaits.
    let progress = Promise.resolve()
    let progressFailure: unknown
    const onProgress = (step: number, steps: number): void => {
      progress = progress.then(async () => {
        if (progressFailure === undefined) await send({ type: 'progress', step, steps })
      }).catch((err: unknown) => {
        progressFailure ??= err
        job.abort()
      })
    }
    try {
      const images = await this.components.handler(request, { signal: job.signal, onProgress })
      await progress
      if (progressFailure !== undefined) throw progressFailure
      for (const [index, image] of images.entries()) {
        await send({ type: 'image', index, prompt: image.prompt, png: image.png as Uint8Array<ArrayBuffer> })
      }
      await send({ type: 'done', count: images.length })
      await stream.close()
      this.count('served')
    } catch (err) {
      if (job.signal.aborted && stream.status !== 'open') return
      if (err instanceof SampleRefusedError) await refuse(err.code, err.message)
      else if (job.signal.aborted) await refuse('busy', `the ${this.init.timeLimitMs} ms time limit ran out`)
      else {
        this.log.warn('sample request failed', {}, err)
        await refuse('internal', 'the server failed to draw the samples')
      }
    } finally {
      await progress
      clearTimeout(timer)
      stream.removeEventListener('close', cancel)
      this.running.delete(job)
    }
  }

  /** Sliding-window rate limit per peer; records the attempt when admitted. */
  private admit (peer: string): boolean {
    const now = Date.now()
    const times = (this.recent.get(peer) ?? []).filter(t => now - t < this.init.rateLimit.windowMs)
    if (times.length >= this.init.rateLimit.requests) { this.recent.set(peer, times); return false }
    times.push(now)
    this.recent.delete(peer)
    this.recent.set(peer, times)
    if (this.recent.size > MAX_TRACKED_PEERS) this.recent.delete(this.recent.keys().next().value as string)
    return true
  }
}

export function createSampleService (init: SampleServiceInit, components: SampleServiceComponents): SampleService {
  return new SampleService(init, components)
}
