/**
 * The arithmetic of the slow-links bench (slow-links.ts): percentiles, and the gaps in a
 * transfer's timeline that say whether it stalled.
 */
import type { Timeline } from '../netns/swarm-peer-client.js'

export const percentile = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN
}
export const median = (xs: number[]): number => percentile(xs, 0.5)

export interface Gaps {
  /** Longest time between two consecutive stream messages, ms. */
  maxGapMs: number
  /**
   * Longest time without progress: a gap less the time the message that ended it needed on the
   * link at `rateBytesPerMs` (yamux hands a frame over only whole, and a 1 MiB frame takes 420 ms
   * at 20 Mbit/s, so the raw gap alone would call every frame a stall), ms.
   */
  maxIdleMs: number
  /** Messages in the timeline. */
  messages: number
}

/**
 * The gaps of a transfer's timeline after its first message (before it are the dial and the
 * request's round trip). `rateBytesPerMs`: the link's rate, Infinity for an unlimited link.
 */
export function gapsOf (timeline: Timeline, rateBytesPerMs: number): Gaps {
  let maxGapMs = 0
  let maxIdleMs = 0
  const m = timeline.messages
  for (let i = 1; i < m.length; i++) {
    const gap = m[i][0] - m[i - 1][0]
    maxGapMs = Math.max(maxGapMs, gap)
    maxIdleMs = Math.max(maxIdleMs, gap - m[i][1] / rateBytesPerMs)
  }
  return { maxGapMs, maxIdleMs, messages: m.length }
}

/** The longest time between consecutive verified blocks, ms. */
export function maxBlockGap (blocks: number[]): number {
  let max = 0
  for (let i = 1; i < blocks.length; i++) max = Math.max(max, blocks[i] - blocks[i - 1])
  return max
}

/** MiB/s of `bytes` in `ms`. */
export const mibPerS = (bytes: number, ms: number): number => bytes / (1 << 20) / (ms / 1000)
/** Mbit/s of `bytes` in `ms`. */
export const mbitPerS = (bytes: number, ms: number): number => bytes * 8 / 1e6 / (ms / 1000)
