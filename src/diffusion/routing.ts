/**
 * Routing rules: which experts an ensemble evaluates for each sample, and with what weight.
 * The router's posterior p(k | x_t, t) is the only source of weights; sparse rules keep the
 * largest and renormalise, so the weights of every sample always sum to 1.
 */
import { InvalidArgumentError } from '../hddm-error.js'

export type Routing =
  | { kind: 'full' }
  | { kind: 'top', k: number }
  | { kind: 'threshold', p: number }

/** 'full' | 'top1' | 'top2' | 'topK' | 'threshold:p' */
export function parseRouting (text: string): Routing {
  if (text === 'full') return { kind: 'full' }
  const top = /^top([1-9][0-9]*)$/.exec(text)
  if (top !== null) return { kind: 'top', k: Number(top[1]) }
  const threshold = /^threshold:(0(\.[0-9]+)?|1(\.0+)?)$/.exec(text)
  if (threshold !== null) return { kind: 'threshold', p: Number(threshold[1]) }
  const expected = 'full, top1, top2 or threshold:p with 0 <= p <= 1'
  throw new InvalidArgumentError(`unknown routing "${text}" (expected ${expected})`)
}

export function formatRouting (routing: Routing): string {
  return routing.kind === 'full' ? 'full' : routing.kind === 'top' ? `top${routing.k}` : `threshold:${routing.p}`
}

/**
 * Weights [B, K] (row-major) from the posterior [B, K]: zero for experts left out.
 * threshold:p keeps experts with p(k) >= p, and always at least the most likely one.
 */
export function routingWeights (
  posterior: Float32Array, batch: number, experts: number, routing: Routing
): Float32Array {
  const weights = new Float32Array(batch * experts)
  for (let b = 0; b < batch; b++) {
    const row = posterior.subarray(b * experts, (b + 1) * experts)
    const order = Array.from({ length: experts }, (_, k) => k).sort((i, j) => row[j] - row[i] || i - j)
    const keep = routing.kind === 'full'
      ? order
      : routing.kind === 'top'
        ? order.slice(0, Math.min(routing.k, experts))
        : order.filter((k, rank) => rank === 0 || row[k] >= routing.p)
    let total = 0
    for (const k of keep) total += row[k]
    for (const k of keep) weights[b * experts + k] = total > 0 ? row[k] / total : 1 / keep.length
  }
  return weights
}
