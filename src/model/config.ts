/**
 * Model configurations: one typed object per network, and the named presets.
 *
 * Presets: `tiny` trains a step in well under a second (tests); `mini` is the embedded default
 * run's expert, the largest shape whose whole run fits ten minutes on two cores (4x4 patches:
 * 7x7 ones leave seams a small model cannot hide); `small` is a real CPU expert for 28x28
 * digits; `medium` is the benchmark's larger CPU shape; `xl2` and `router-b2` are the paper's
 * shapes (counted, far too large to train here).
 */
export type AdaLNKind = 'single' | 'zero'

/**
 * What an expert reads besides (x_t, t): `text` (absent: every hddm expert) is a prompt's tokens,
 * cross-attended in every block; `class` is DiT's ImageNet label, whose embedding is added to
 * the time embedding (c = t_emb + y_emb) and reaches the blocks only through the modulation.
 */
export type ExpertConditioning = 'text' | 'class'

/** The shape every DiT here shares: the expert and the router. */
export interface TransformerShape {
  /** Input side length (square), channels: 28x28x1 for MNIST, 32x32x4 latents for the paper. */
  imageSize: number
  channels: number
  /** Patch side p: tokens T = (imageSize / p)^2. */
  patchSize: number
  /** Width D, depth L, heads H (D divisible by H). */
  hidden: number
  depth: number
  heads: number
  /** MLP width = mlpRatio * D (4 in DiT). */
  mlpRatio: number
}

export interface DiTConfig extends TransformerShape {
  /** 'single' = PixArt-alpha AdaLN-Single (one global modulation); 'zero' = DiT per-block AdaLN-Zero. */
  adaln: AdaLNKind
  /** Prompt tokens per example (padded) and vocabulary size of the tokenizer. */
  promptTokens: number
  vocabSize: number
  /**
   * Width of the text features fed to the caption projection. The paper uses frozen 768-d text
   * encoder features; we learn a token table of this width instead (counted separately).
   */
  textDim: number
  /**
   * Absent means 'text'. With 'class' the tokens [B, 1] are labels 0 .. numClasses-1, or
   * numClasses for "no label" (classifier-free guidance); promptTokens is 1 and the text fields
   * vocabSize and textDim are 0 (the imported public DiT, checkpoint/import/).
   */
  conditioning?: ExpertConditioning
  numClasses?: number
  /**
   * DiT's learned variance: the final layer writes 2C channels, eps then the variance
   * interpolation. `apply` returns eps only (what hddm's objectives and samplers read).
   */
  learnSigma?: boolean
  /**
   * The time frequencies are exp(-ln(10^4) i / (128 - shift)): 0 (absent) in DiT and PixArt,
   * 1 in diffusers' DiT port (its Timesteps(downscale_freq_shift=1)).
   */
  timeFrequencyShift?: number
  /** LayerNorm eps before each block's MLP (absent: 1e-6 as DiT; diffusers' DiT port uses 1e-5). */
  mlpNormEps?: number
}

/**
 * What the router reads besides (x_t, t): `prompt` also reads the prompt and estimates
 * p(k | x_t, t, c), as DDM's router uses its denoiser's conditioning; `none` is the HDDM
 * paper's router, p(k | x_t, t).
 */
export type RouterConditioning = 'prompt' | 'none'

export interface RouterConfig extends TransformerShape {
  /** Number of experts (clusters) the router scores. */
  numExperts: number
  /** Absent means 'none' (routers written before prompt conditioning existed). */
  conditioning?: RouterConditioning
  /** With `prompt`: the run tokenizer's vocabulary size and prompt length. */
  vocabSize?: number
  promptTokens?: number
}

export const TIME_FREQUENCY_DIM = 256

export const EXPERT_PRESETS = {
  tiny: {
    imageSize: 28, channels: 1, patchSize: 7, hidden: 64, depth: 2, heads: 2, mlpRatio: 4,
    adaln: 'single', promptTokens: 4, vocabSize: 16, textDim: 16
  },
  mini: {
    imageSize: 28, channels: 1, patchSize: 4, hidden: 96, depth: 3, heads: 4, mlpRatio: 4,
    adaln: 'single', promptTokens: 4, vocabSize: 16, textDim: 64
  },
  small: {
    imageSize: 28, channels: 1, patchSize: 4, hidden: 128, depth: 4, heads: 4, mlpRatio: 4,
    adaln: 'single', promptTokens: 4, vocabSize: 16, textDim: 64
  },
  medium: {
    imageSize: 28, channels: 1, patchSize: 4, hidden: 192, depth: 6, heads: 6, mlpRatio: 4,
    adaln: 'single', promptTokens: 4, vocabSize: 16, textDim: 64
  },
  xl2: {
    imageSize: 32, channels: 4, patchSize: 2, hidden: 1152, depth: 28, heads: 16, mlpRatio: 4,
    adaln: 'single', promptTokens: 120, vocabSize: 32128, textDim: 768
  }
} as const satisfies Record<string, DiTConfig>

export const ROUTER_PRESETS = {
  'router-tiny': {
    imageSize: 28, channels: 1, patchSize: 7, hidden: 32, depth: 2, heads: 2, mlpRatio: 4, numExperts: 4
  },
  'router-small': {
    imageSize: 28, channels: 1, patchSize: 4, hidden: 64, depth: 3, heads: 4, mlpRatio: 4, numExperts: 4
  },
  'router-b2': {
    imageSize: 32, channels: 4, patchSize: 2, hidden: 768, depth: 12, heads: 12, mlpRatio: 4, numExperts: 8
  }
} as const satisfies Record<string, RouterConfig>

export type ExpertPresetName = keyof typeof EXPERT_PRESETS
export type RouterPresetName = keyof typeof ROUTER_PRESETS

export function tokenCount (c: { imageSize: number, patchSize: number }): number {
  return (c.imageSize / c.patchSize) ** 2
}

/** Channels the final layer writes: C, or 2C with DiT's learned variance. */
export function outputChannels (c: DiTConfig): number {
  return c.learnSigma === true ? 2 * c.channels : c.channels
}
