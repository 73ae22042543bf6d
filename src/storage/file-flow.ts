/**
 * Backpressure for a stream read through lpStream. lpStream buffers every message the stream
 * delivers, read or not, and yamux credits the sender's window as it delivers them, so a
 * reader slower than its sender (a slow disk, a slow consumer) would overflow that buffer and
 * lose the transfer. This pauses the stream while more than `highWater` bytes wait unread:
 * yamux then withholds window updates, and what is already in flight (at most one window,
 * 16 MiB) waits in the stream's own buffer until `consumed` brings the backlog down again.
 */
import type { Stream } from '@libp2p/interface'

export class StreamFlow {
  private delivered = 0
  private consumed = 0

  constructor (private readonly stream: Stream, private readonly highWater: number) {
    stream.addEventListener('message', (evt) => {
      this.delivered += evt.data.byteLength
      if (this.delivered - this.consumed > highWater && stream.readStatus === 'readable') stream.pause()
    })
  }

  /** Records a frame of `length` bytes read (plus its varint prefix); resumes the stream when the backlog allows. */
  consumedFrame (length: number): void {
    this.consumed += length + varintLength(length)
    if (this.delivered - this.consumed <= this.highWater && this.stream.readStatus === 'paused') this.stream.resume()
  }
}

function varintLength (n: number): number {
  let bytes = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); bytes++ }
  return bytes
}
