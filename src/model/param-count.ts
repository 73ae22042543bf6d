/**
 * Analytic parameter counts, so the paper's shapes can be checked without allocating 2.4 GB.
 * Tests compare these formulas with the built models at small shapes.
 */
import { outputChannels, TIME_FREQUENCY_DIM, tokenCount, type DiTConfig, type RouterConfig } from './config.js'

export interface ExpertParamCount {
  /** Everything but the token table (the paper's text encoder is frozen and external). */
  denoiser: number
  /** The learned token table that stands in for the text encoder here. */
  textEncoder: number
  perBlock: number
  total: number
}

const linear = (i: number, o: number): number => i * o + o

export function expertParamCount (c: DiTConfig): ExpertParamCount {
  const D = c.hidden
  const patchIn = c.patchSize * c.patchSize * c.channels
  const out = c.patchSize * c.patchSize * outputChannels(c)
  const single = c.adaln === 'single'
  const text = c.conditioning !== 'class'
  // attn qkv + proj (4D^2+4D), cross q, kv, proj (4D^2+4D, text only), MLP (2 * mlpRatio D^2 + (mlpRatio+1) D)
  const cross = text ? linear(D, D) + linear(D, 2 * D) + linear(D, D) : 0
  const core = linear(D, 3 * D) + linear(D, D) + cross + linear(D, c.mlpRatio * D) + linear(c.mlpRatio * D, D)
  const perBlock = core + (single ? 6 * D : linear(D, 6 * D))
  const condition = text ? linear(c.textDim, D) : ((c.numClasses ?? 0) + 1) * D
  const shared = linear(patchIn, D) + linear(TIME_FREQUENCY_DIM, D) + linear(D, D) + condition +
    (single ? linear(D, 6 * D) : 0)
  const final = (single ? 2 * D : linear(D, 2 * D)) + linear(D, out)
  const denoiser = shared + c.depth * perBlock + final
  const textEncoder = text ? c.vocabSize * c.textDim : 0
  return { denoiser, textEncoder, perBlock, total: denoiser + textEncoder }
}

export function routerParamCount (c: RouterConfig): number {
  const D = c.hidden
  const attention = linear(D, 3 * D) + linear(D, D)
  const mlp = linear(D, c.mlpRatio * D) + linear(c.mlpRatio * D, D)
  const perBlock = linear(D, 6 * D) + attention + mlp
  const patchEmbed = linear(c.patchSize * c.patchSize * c.channels, D)
  const timeEmbed = linear(TIME_FREQUENCY_DIM, D) + linear(D, D)
  const embeddings = patchEmbed + D /* cls */ + (tokenCount(c) + 1) * D /* pos */ + timeEmbed
  const head = linear(D, D) + 2 * D + linear(D, c.numExperts)
  const prompt = c.conditioning === 'prompt' ? (c.vocabSize ?? 0) * D : 0
  return embeddings + prompt + c.depth * perBlock + head
}

/**
 * Forward FLOPs of one expert evaluation for one image (multiply-adds x 2), counting the
 * matrix products only: the figure routing reports compare (top-k evaluates k experts).
 */
export function expertForwardFlops (c: DiTConfig): number {
  const D = c.hidden
  const T = tokenCount(c)
  const L = c.promptTokens
  const patchIn = c.patchSize * c.patchSize * c.channels
  const out = c.patchSize * c.patchSize * outputChannels(c)
  const cross = c.conditioning === 'class' ? 0 : T * D * D + L * 2 * D * D + T * D * D + 2 * T * L * D
  const perBlock = T * (3 * D * D + D * D) + 2 * T * T * D +          // self-attention projections + scores/values
    cross +                                                          // cross-attention (text only)
    T * 2 * c.mlpRatio * D * D                                       // MLP
  return 2 * (T * patchIn * D + c.depth * perBlock + T * D * out)
}

export function routerForwardFlops (c: RouterConfig): number {
  const D = c.hidden
  const T = tokenCount(c) + 1
  const perBlock = T * (4 * D * D) + 2 * T * T * D + T * 2 * c.mlpRatio * D * D
  return 2 * (T * c.patchSize * c.patchSize * c.channels * D + c.depth * perBlock + D * D + D * c.numExperts)
}
