/**
 * The sample protocol, client side: send one request, collect progress, images and the final
 * `done`; a server's `error` frame becomes a SampleRefusedError with the server's code.
 */
import { lpStream } from '@libp2p/utils'
import { AbortError } from '../hddm-error.js'
import { SAMPLE_MAX_RESPONSE_FRAME_BYTES } from '../protocol/limits.js'
import { decodeSampleFrame, encodeSampleRequest, type SampleRequestInput } from '../protocol/sample-messages.js'
import { SAMPLE_PROTOCOL } from '../protocol/topics.js'
import { SampleProtocolError, SampleRefusedError } from './sample-errors.js'
import type { SampleImage } from './sample-service.js'
import type { AbortOptions, ProgressEvent, ProgressOptions } from '../progress.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export type RemoteSampleProgressEvent = ProgressEvent<'hddm:sample:remote:progress', { step: number, steps: number }>

export interface RequestSamplesOptions extends AbortOptions, ProgressOptions<RemoteSampleProgressEvent> {
  /** Default 10 minutes: a large request on a CPU peer takes a while. */
  timeoutMs?: number
}

export async function requestSamples (
  libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId | Multiaddr, request: SampleRequestInput,
  options: RequestSamplesOptions = {}
): Promise<SampleImage[]> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 600_000)
  const signal = options.signal !== undefined ? AbortSignal.any([timeout, options.signal]) : timeout
  const stream = await libp2p.dialProtocol(peer, SAMPLE_PROTOCOL, { signal })
  const lp = lpStream(stream, { maxDataLength: SAMPLE_MAX_RESPONSE_FRAME_BYTES })
  const images: SampleImage[] = []
  try {
    await lp.write(encodeSampleRequest(request), { signal })
    for (;;) {
      const frame = decodeSampleFrame((await lp.read({ signal })).subarray())
      if (frame.type === 'progress') {
        options.onProgress?.({ type: 'hddm:sample:remote:progress', detail: { step: frame.step, steps: frame.steps } })
      } else if (frame.type === 'image') {
        images.push({ prompt: frame.prompt, png: frame.png })
      } else if (frame.type === 'error') {
        throw new SampleRefusedError(frame.code, frame.message)
      } else {
        if (frame.count !== images.length) {
          throw new SampleProtocolError(`server announced ${frame.count} images and sent ${images.length}`)
        }
        return images
      }
    }
  } catch (err) {
    if (err instanceof SampleRefusedError || err instanceof SampleProtocolError) throw err
    if (signal.aborted) {
      // A reset (not a polite close) tells the server to stop drawing at once.
      stream.abort(new AbortError('the sample request timed out or was cancelled'))
      throw new AbortError('the sample request timed out or was cancelled')
    }
    throw new SampleProtocolError(`the sample stream broke: ${err instanceof Error ? err.message : String(err)}`)
  } finally {
    await stream.close().catch(() => {})
  }
}
