/**
 * The router: a small DiT with per-block AdaLN-Zero that reads a noisy flow-matching state
 * (x_t, t), and with `conditioning: 'prompt'` the prompt c, and scores the K experts. A CLS
 * token is prepended; its final state goes through Linear-GELU-LN-GELU-Linear to K logits, and
 * softmax(logits) estimates p(k | x_t, t, c) (or p(k | x_t, t) for `none`, the HDDM paper's).
 * The prompt enters as DiT's class label does: an embedding added to the time embedding, here
 * the mean of the prompt's word embeddings (the null prompt of guidance is one more word, so
 * a router trained with prompt dropout also gives p(k | x_t, t)).
 * The router only ever sees flow-matching states: DDPM experts are converted to that space,
 * and the posterior is invariant to the conversion's rescale, so one router serves both kinds.
 *
 *   c = MLP(sinusoid(1000 t)) [+ mean_l table[prompt_l]]             [B, D]
 *   h = [cls; Linear(patchify(x))] + pos                            [B, T+1, D]   (pos learned, sin-cos init)
 *   block: (b1,g1,a1,b2,g2,a2) = chunk6(Linear(D,6D)(SiLU(c)))      zero-init: blocks start as identity
 *     h += a1 * SelfAttn(LN(h)*(1+g1)+b1);  h += a2 * MLP(LN(h)*(1+g2)+b2)
 *   logits = head(LN(h[:, 0]))                                      [B, K]
 */
import * as tf from '@tensorflow/tfjs'
import { attention, geluTanh, layerNormModulate } from '../runtime/fused-ops.js'
import { TIME_FREQUENCY_DIM, tokenCount, type RouterConfig } from './config.js'
import { chunk, embed, layerNorm, linear, patchify, silu, sincosPositions2d, timestepFrequencies } from './layers.js'
import { PAD_ID } from '../data/tokenizer.js'
import { InvalidArgumentError } from '../hddm-error.js'
import { linearParams, Params, type LinearParams } from './params.js'
import { validateDiTConfig } from './validate.js'

interface RouterBlock {
  adaLN: LinearParams
  qkv: LinearParams
  attnProj: LinearParams
  fc1: LinearParams
  fc2: LinearParams
}

export class Router {
  readonly params: Params
  private readonly xEmbed: LinearParams
  private readonly cls: tf.Variable
  private readonly positions: tf.Variable
  private readonly tMlp1: LinearParams
  private readonly tMlp2: LinearParams
  private readonly promptTable?: tf.Variable
  private readonly blocks: RouterBlock[]
  private readonly head1: LinearParams
  private readonly headNormGamma: tf.Variable
  private readonly headNormBeta: tf.Variable
  private readonly head2: LinearParams

  constructor (readonly config: RouterConfig, seed = 0) {
    validateDiTConfig(config)
    const { hidden: D, patchSize: P, channels: C, depth, mlpRatio, numExperts: K } = config
    const p = this.params = new Params(seed)
    const T = tokenCount(config)
    this.xEmbed = linearParams(p, 'x_embedder.proj', P * P * C, D)
    this.cls = p.normal('cls_token', [1, D], 0.02)
    // Learned positions (initialised from the 2-D sin-cos table, CLS at zero): a classifier
    // benefits from adapting them, as in ViT.
    const table = new Float32Array((T + 1) * D)
    table.set(sincosPositions2d(D, config.imageSize / P), D)
    this.positions = p.fromValues('pos_embed', tf.tensor2d(table, [T + 1, D]))
    this.tMlp1 = linearParams(p, 't_embedder.mlp.0', TIME_FREQUENCY_DIM, D, { std: 0.02 })
    this.tMlp2 = linearParams(p, 't_embedder.mlp.2', D, D, { std: 0.02 })
    if (config.conditioning === 'prompt') {
      const { vocabSize, promptTokens } = config
      const positive = (n: number | undefined): boolean => Number.isSafeInteger(n) && n! >= 1
      if (!positive(vocabSize) || !positive(promptTokens)) {
        throw new InvalidArgumentError('a prompt-conditioned router needs positive vocabSize and promptTokens')
      }
      this.promptTable = p.normal('y_embedder.embedding_table', [vocabSize!, D], 0.02)
    }
    this.blocks = Array.from({ length: depth }, (_, b) => ({
      adaLN: linearParams(p, `blocks.${b}.adaLN_modulation.1`, D, 6 * D, 'zeros'),
      qkv: linearParams(p, `blocks.${b}.attn.qkv`, D, 3 * D),
      attnProj: linearParams(p, `blocks.${b}.attn.proj`, D, D),
      fc1: linearParams(p, `blocks.${b}.mlp.fc1`, D, mlpRatio * D),
      fc2: linearParams(p, `blocks.${b}.mlp.fc2`, mlpRatio * D, D)
    }))
    this.head1 = linearParams(p, 'head.0', D, D)
    this.headNormGamma = p.fromValues('head.2.weight', tf.ones([D]))
    this.headNormBeta = p.zeros('head.2.bias', [D])
    this.head2 = linearParams(p, 'head.4', D, K)
  }

  get conditioning (): 'prompt' | 'none' {
    return this.promptTable !== undefined ? 'prompt' : 'none'
  }

  /**
   * x [B, H, W, C] flow-matching state, t [B] flow time in [0, 1], tokens [B, L] int32 (read
   * by prompt routers only; required there) -> logits [B, K].
   */
  logits (x: tf.Tensor4D, t: tf.Tensor1D, tokens?: tf.Tensor2D): tf.Tensor2D {
    const { hidden: D, patchSize: P, heads } = this.config
    return tf.tidy(() => {
      const B = x.shape[0]
      const tFreq = timestepFrequencies(tf.mul(t, 1000) as tf.Tensor1D)
      let c = linear(silu(linear(tFreq, this.tMlp1)), this.tMlp2)                                    // [B, D]
      if (this.promptTable !== undefined) c = tf.add(c, this.promptEmbedding(tokens, B))                    // [B, D]
      const patches = linear(patchify(x, P), this.xEmbed)                                            // [B, T, D]
      const cls = tf.tile(tf.expandDims(this.cls, 0), [B, 1, 1])                                     // [B, 1, D]
      let h = tf.add(tf.concat([cls, patches], 1), this.positions) as tf.Tensor3D                    // [B, T+1, D]
      const cAct = silu(c)
      for (const block of this.blocks) {
        const modulation = linear(cAct, block.adaLN) as tf.Tensor2D                                  // [B, 6D]
        const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = chunk(modulation, 6)
        const [q, k, v] = tf.split(linear(layerNormModulate(h, shiftMsa, scaleMsa), block.qkv), 3, 2) as tf.Tensor3D[]
        const attn = linear(attention(q, k, v, heads), block.attnProj)
        h = tf.add(h, tf.mul(tf.expandDims(gateMsa, 1), attn)) as tf.Tensor3D
        const mlp = linear(geluTanh(linear(layerNormModulate(h, shiftMlp, scaleMlp), block.fc1)), block.fc2)
        h = tf.add(h, tf.mul(tf.expandDims(gateMlp, 1), mlp)) as tf.Tensor3D
      }
      const clsOut = layerNorm(tf.reshape(tf.slice(h, [0, 0, 0], [B, 1, D]), [B, D]))                // [B, D]
      const z = geluTanh(layerNorm(geluTanh(linear(clsOut, this.head1)), 1e-6, this.headNormGamma, this.headNormBeta))
      return linear(z, this.head2) as tf.Tensor2D                                                    // [B, K]
    })
  }

  /** p(k | x_t, t[, c]): softmax of the logits. [B, K] */
  posterior (x: tf.Tensor4D, t: tf.Tensor1D, tokens?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.softmax(this.logits(x, t, tokens)))
  }

  /** tokens [B, L] -> the mean embedding of the non-padding tokens [B, D]. */
  private promptEmbedding (tokens: tf.Tensor2D | undefined, B: number): tf.Tensor2D {
    if (tokens === undefined || tokens.shape[0] !== B) {
      throw new InvalidArgumentError(`a prompt router needs tokens [${B}, L]`)
    }
    const table = this.promptTable!
    const [, L] = tokens.shape
    return tf.tidy(() => {
      const ids = tf.reshape(tokens, [-1]) as tf.Tensor1D
      const rows = tf.reshape(embed(ids, table as tf.Tensor2D), [B, L, -1])                 // [B, L, D]
      const mask = tf.reshape(tf.cast(tf.notEqual(tokens, PAD_ID), 'float32'), [B, L, 1])  // [B, L, 1]
      const count = tf.maximum(tf.sum(mask, 1), 1)                                           // [B, 1]
      return tf.div(tf.sum(tf.mul(rows, mask), 1), count) as tf.Tensor2D                     // [B, D]
    })
  }

  trainableVariables (): tf.Variable[] {
    return [...this.params.variables.values()]
  }

  dispose (): void {
    this.params.dispose()
  }
}
