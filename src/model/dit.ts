/**
 * The expert: a DiT (Peebles & Xie, 2023) with PixArt-alpha's AdaLN-Single (Chen et al., 2023).
 *
 *   t_emb = MLP(sinusoid(t, 256))                   Linear(256,D) SiLU Linear(D,D)
 *   t0    = Linear(D, 6D)(SiLU(t_emb))              ONE global modulation, shared by all blocks
 *   y     = Linear(E, D)(tokenTable[prompt])        text features, cross-attended in every block
 *   block b: (b1,g1,a1,b2,g2,a2) = chunk6(table_b[6,D] + t0)
 *     x += a1 * SelfAttn(LN(x)*(1+g1)+b1);  x += CrossAttn(x, y);  x += a2 * MLP(LN(x)*(1+g2)+b2)
 *   final: (shift,scale) = chunk2(table_f[2,D] + t_emb); out = Linear(D, P*P*C)(LN(x)*(1+scale)+shift)
 *
 * `adaln: 'zero'` swaps the global t0 and the tables for DiT's per-block modulation MLPs
 * (Linear(D, 6D) in every block, Linear(D, 2D) in the final layer), to measure what
 * AdaLN-Single saves. The time input is each objective's own time (t*1000 for flow matching,
 * the DDPM step for DDPM), as a float.
 *
 * `conditioning: 'class'` is the public DiT's ImageNet form (models.py), brought in by
 * checkpoint/import/: no text layers and no cross-attention; the label's row of a
 * [numClasses+1, D] table is added to the time embedding, c = t_emb + y_emb, and c replaces
 * t_emb above. `learnSigma` adds DiT's C variance channels to the output (`apply` drops them).
 */
import * as tf from '@tensorflow/tfjs'
import { attention, geluTanh, layerNormModulate } from '../runtime/fused-ops.js'
import { outputChannels, TIME_FREQUENCY_DIM, tokenCount, type DiTConfig } from './config.js'
import { chunk, embed, linear, patchify, silu, sincosPositions2d, timestepFrequencies, unpatchify } from './layers.js'
import { linearParams, Params, type LinearParams } from './params.js'
import { validateExpertConfig } from './validate.js'

interface Block {
  /** [6, D] learned table (single) or per-block modulation MLP (zero). */
  table?: tf.Variable
  adaLN?: LinearParams
  qkv: LinearParams
  attnProj: LinearParams
  /** Text conditioning only. */
  cross?: CrossAttentionParams
  fc1: LinearParams
  fc2: LinearParams
}

interface CrossAttentionParams {
  q: LinearParams
  kv: LinearParams
  proj: LinearParams
}

function crossAttentionParams (p: Params, name: string, D: number): CrossAttentionParams {
  return {
    q: linearParams(p, `${name}.q_linear`, D, D),
    kv: linearParams(p, `${name}.kv_linear`, D, 2 * D),
    proj: linearParams(p, `${name}.proj`, D, D, 'zeros')
  }
}

export class DiT {
  readonly params: Params
  private readonly xEmbed: LinearParams
  private readonly positions: tf.Tensor2D
  private readonly tMlp1: LinearParams
  private readonly tMlp2: LinearParams
  private readonly tBlock?: LinearParams
  private readonly tokenTable?: tf.Variable
  private readonly yProj?: LinearParams
  private readonly classTable?: tf.Variable
  private readonly blocks: Block[]
  private readonly finalTable?: tf.Variable
  private readonly finalAdaLN?: LinearParams
  private readonly finalLinear: LinearParams

  constructor (readonly config: DiTConfig, seed = 0) {
    validateExpertConfig(config)
    const { hidden: D, patchSize: P, channels: C, depth, mlpRatio, textDim } = config
    const p = this.params = new Params(seed)
    const single = config.adaln === 'single'
    const text = config.conditioning !== 'class'
    // Initialisation follows DiT's initialize_weights and PixArt's: Xavier linears, N(0, 0.02)
    // for the time MLP and t_block, tables ~ N(0,1)/sqrt(D), zero output projections.
    this.xEmbed = linearParams(p, 'x_embedder.proj', P * P * C, D)
    this.positions = tf.tensor2d(sincosPositions2d(D, config.imageSize / P), [tokenCount(config), D])
    this.tMlp1 = linearParams(p, 't_embedder.mlp.0', TIME_FREQUENCY_DIM, D, { std: 0.02 })
    this.tMlp2 = linearParams(p, 't_embedder.mlp.2', D, D, { std: 0.02 })
    if (single) this.tBlock = linearParams(p, 't_block.1', D, 6 * D, { std: 0.02 })
    if (text) {
      this.tokenTable = p.normal('text_encoder.embedding', [config.vocabSize, textDim], 1)
      this.yProj = linearParams(p, 'y_embedder.proj', textDim, D)
    } else {
      // DiT's LabelEmbedder: a row per class and one for "no label", N(0, 0.02).
      this.classTable = p.normal('y_embedder.embedding_table', [(config.numClasses as number) + 1, D], 0.02)
    }
    this.blocks = Array.from({ length: depth }, (_, b) => ({
      table: single ? p.normal(`blocks.${b}.scale_shift_table`, [6, D], 1 / Math.sqrt(D)) : undefined,
      adaLN: single ? undefined : linearParams(p, `blocks.${b}.adaLN_modulation.1`, D, 6 * D, 'zeros'),
      qkv: linearParams(p, `blocks.${b}.attn.qkv`, D, 3 * D),
      attnProj: linearParams(p, `blocks.${b}.attn.proj`, D, D),
      cross: text ? crossAttentionParams(p, `blocks.${b}.cross_attn`, D) : undefined,
      fc1: linearParams(p, `blocks.${b}.mlp.fc1`, D, mlpRatio * D),
      fc2: linearParams(p, `blocks.${b}.mlp.fc2`, mlpRatio * D, D)
    }))
    if (single) this.finalTable = p.normal('final_layer.scale_shift_table', [2, D], 1 / Math.sqrt(D))
    else this.finalAdaLN = linearParams(p, 'final_layer.adaLN_modulation.1', D, 2 * D, 'zeros')
    this.finalLinear = linearParams(p, 'final_layer.linear', D, P * P * outputChannels(config), 'zeros')
  }

  /**
   * x [B, H, W, C] noisy input, t [B] time in the objective's own units, tokens [B, L] int32
   * (class conditioning: labels [B, 1]) -> [B, H, W, C] the objective's target (eps or
   * velocity); with `withSigma` and learnSigma, [B, H, W, 2C] (eps, then DiT's variance channels).
   */
  apply (x: tf.Tensor4D, t: tf.Tensor1D, tokens: tf.Tensor2D, withSigma = false): tf.Tensor4D {
    const { hidden: D, patchSize: P, imageSize, channels, promptTokens } = this.config
    const frequencyShift = this.config.timeFrequencyShift ?? 0
    return tf.tidy(() => {
      const B = x.shape[0]
      let h = tf.add(linear(patchify(x, P), this.xEmbed), this.positions) as tf.Tensor3D  // [B, T, D]
      const frequencies = timestepFrequencies(t, TIME_FREQUENCY_DIM, frequencyShift)          // [B, 256]
      let tEmb = linear(silu(linear(frequencies, this.tMlp1)), this.tMlp2) as tf.Tensor2D  // [B, D]
      const ids = tf.reshape(tokens, [-1]) as tf.Tensor1D                                     // [B*L]
      // Class conditioning: c = t_emb + y_emb takes t_emb's place everywhere below.
      if (this.classTable !== undefined) tEmb = tf.add(tEmb, embed(ids, this.classTable as tf.Tensor2D))  // [B, D]
      const t0 = this.tBlock !== undefined ? linear(silu(tEmb), this.tBlock) as tf.Tensor2D : undefined  // [B, 6D]
      let y: tf.Tensor3D | undefined
      if (this.tokenTable !== undefined && this.yProj !== undefined) {
        const tokenEmb = linear(embed(ids, this.tokenTable as tf.Tensor2D), this.yProj)  // [B*L, D]
        y = tf.reshape(tokenEmb, [B, promptTokens, D]) as tf.Tensor3D  // [B, L, D]
      }

      // A scope per block frees its activations before the next block runs, so a forward pass holds
      // one block's worth at a time (sampling's peak memory); under a gradient tape the tensors that
      // backprop needs are kept by the tape itself, so training is unchanged.
      for (const block of this.blocks) h = tf.tidy(() => this.applyBlock(h, block, B, tEmb, t0, y))

      const finalMod = this.finalTable !== undefined
        ? tf.reshape(tf.add(tf.expandDims(tEmb, 1), this.finalTable), [B, 2 * D]) as tf.Tensor2D  // [B, 2D]
        : linear(silu(tEmb), this.finalAdaLN as LinearParams) as tf.Tensor2D                         // [B, 2D]
      const [shift, scale] = chunk(finalMod, 2)
      const out = linear(layerNormModulate(h, shift, scale), this.finalLinear) as tf.Tensor3D     // [B, T, P*P*C']
      const image = unpatchify(out, P, imageSize, outputChannels(this.config))                    // [B, H, W, C']
      return withSigma || this.config.learnSigma !== true ? image : tf.slice(image, 0, [-1, -1, -1, channels])
    })
  }

  /** One DiT block: h [B, T, D] -> [B, T, D], modulated by c = tEmb [B, D] (or AdaLN-Single's t0 [B, 6D]). */
  private applyBlock (h: tf.Tensor3D, block: Block, B: number, tEmb: tf.Tensor2D, t0?: tf.Tensor2D, y?: tf.Tensor3D):
  tf.Tensor3D {
    const D = this.config.hidden
    const mod = block.table !== undefined && t0 !== undefined
      ? tf.add(tf.reshape(t0, [B, 6, D]), block.table)                              // [B, 6, D]
      : tf.reshape(linear(silu(tEmb), block.adaLN as LinearParams), [B, 6, D])       // [B, 6, D]
    const modulation = tf.reshape(mod, [B, 6 * D]) as tf.Tensor2D
    const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = chunk(modulation, 6)  // 6 x [B, D]
    const attn = this.selfAttention(layerNormModulate(h, shiftMsa, scaleMsa), block)  // [B, T, D]
    h = tf.add(h, tf.mul(tf.expandDims(gateMsa, 1), attn)) as tf.Tensor3D
    if (block.cross !== undefined && y !== undefined) {
      h = tf.add(h, crossAttention(h, y, block.cross, this.config.heads)) as tf.Tensor3D
    }
    const mlpIn = layerNormModulate(h, shiftMlp, scaleMlp, this.config.mlpNormEps ?? 1e-6)
    const mlp = linear(geluTanh(linear(mlpIn, block.fc1)), block.fc2)  // [B, T, D]
    return tf.add(h, tf.mul(tf.expandDims(gateMlp, 1), mlp)) as tf.Tensor3D
  }

  private selfAttention (x: tf.Tensor3D, block: Block): tf.Tensor3D {
    const [q, k, v] = tf.split(linear(x, block.qkv), 3, 2) as tf.Tensor3D[]   // 3 x [B, T, D]
    return linear(attention(q, k, v, this.config.heads), block.attnProj) as tf.Tensor3D
  }

  /** Trainable variables, for optimizers. */
  trainableVariables (): tf.Variable[] {
    return [...this.params.variables.values()]
  }

  dispose (): void {
    this.params.dispose()
    this.positions.dispose()
  }
}

/** x [B, T, D] attends to the prompt y [B, L, D] -> [B, T, D]. */
function crossAttention (x: tf.Tensor3D, y: tf.Tensor3D, p: CrossAttentionParams, heads: number): tf.Tensor3D {
  const q = linear(x, p.q) as tf.Tensor3D                           // [B, T, D]
  const [k, v] = tf.split(linear(y, p.kv), 2, 2) as tf.Tensor3D[]   // 2 x [B, L, D]
  return linear(attention(q, k, v, heads), p.proj) as tf.Tensor3D
}
