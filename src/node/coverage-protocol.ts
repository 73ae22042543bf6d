/**
 * `/hddm/coverage/1.0.0`: ask a peer for its coverage map of a run. Gossip only shows what is
 * said while one listens; a peer that just joined (or `hddm-node status`) asks instead. The
 * answer is that peer's view, informational only: claims and checkpoints a node acts on still
 * come from signed gossip.
 *
 * Request: one length-prefixed frame, the run CID as UTF-8. Response: one frame of JSON,
 * `{ run, tasks: TaskCoverage[] }` or `{ error: 'unknown-run' }`.
 */
import { lpStream } from '@libp2p/utils'
import { z } from 'zod'
import { CoverageQueryError } from './errors.js'
import type { TaskCoverage } from '../network/claim-types.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export const COVERAGE_PROTOCOL = '/hddm/coverage/1.0.0'
const MAX_REQUEST_BYTES = 256
const MAX_RESPONSE_BYTES = 1 << 20

const HolderSchema = z.object({
  peer: z.string(),
  since: z.number(),
  leaseUntil: z.number(),
  step: z.number().optional(),
  loss: z.number().optional(),
  progressAt: z.number().optional()
})
const CheckpointSchema = z.object({
  peer: z.string(), cid: z.string(), step: z.number(), final: z.boolean(), heldOutLoss: z.number(), ts: z.number()
})
/** Replicas are at most MAX_REPLICAS; a peer that remembers more finals is either confused or lying. */
const MAX_FINALS_PER_TASK = 64
const CoverageSchema = z.object({
  run: z.string(),
  tasks: z.array(z.object({
    task: z.string(),
    replicas: z.number(),
    holders: z.array(HolderSchema),
    free: z.boolean(),
    checkpoint: CheckpointSchema.optional(),
    // Added after 1.0.0 shipped: older peers omit it (and strip it when parsing), which is fine.
    finals: z.array(CheckpointSchema).max(MAX_FINALS_PER_TASK).optional()
  }))
})

/** Answers coverage queries for the runs `lookup` knows. */
export async function handleCoverage (
  libp2p: Libp2p, lookup: (run: string) => TaskCoverage[] | undefined
): Promise<void> {
  await libp2p.handle(COVERAGE_PROTOCOL, async (stream) => {
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
    try {
      const run = new TextDecoder().decode((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray())
      const tasks = lookup(run)
      const body = tasks === undefined ? { error: 'unknown-run' } : { run, tasks }
      await lp.write(new TextEncoder().encode(JSON.stringify(body)))
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  })
}

export async function queryCoverage (
  libp2p: Libp2p, peer: PeerId | Multiaddr, run: string, timeoutMs = 10_000
): Promise<TaskCoverage[]> {
  const signal = AbortSignal.timeout(timeoutMs)
  const stream = await libp2p.dialProtocol(peer, COVERAGE_PROTOCOL, { signal })
  const lp = lpStream(stream, { maxDataLength: MAX_RESPONSE_BYTES })
  try {
    let reply: unknown
    try {
      await lp.write(new TextEncoder().encode(run), { signal })
      reply = JSON.parse(new TextDecoder().decode((await lp.read({ signal })).subarray()))
    } catch (err) {
      // A peer that resets, stalls, lies about a frame's length or sends text that is not JSON
      // did not answer either: the same typed error, never a bare SyntaxError or stream error.
      throw new CoverageQueryError(`peer sent no coverage map of run ${run}: ${(err as Error).message}`)
    }
    const parsed = CoverageSchema.safeParse(reply)
    if (!parsed.success) throw new CoverageQueryError(`peer does not know run ${run} or sent a malformed coverage map`)
    return parsed.data.tasks
  } finally {
    await stream.close().catch(() => {})
  }
}
