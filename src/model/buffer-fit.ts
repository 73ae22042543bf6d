/**
 * Does a network fit a WebGPU device? tfjs's webgpu backend keeps each tensor in one GPU buffer
 * and binds it whole as a storage buffer, so the largest single tensor of a training step must
 * fit both maxStorageBufferBindingSize (128 MiB on lavapipe, often 1-4 GiB on a GPU) and
 * maxBufferSize. Total memory is the driver's business; this catches the shape that can never
 * run, before a run starts, with the limit and the tensor named.
 */
import { currentBackend } from '../runtime/backend.js'
import { WebGpuLimitError, type WebGpuLimitName } from '../runtime/errors.js'
import { ATTENTION, hasFusedKernel } from '../runtime/fused-ops.js'
import { tokenCount, type TransformerShape } from './config.js'

export interface DeviceBufferLimits { maxStorageBufferBindingSize: number, maxBufferSize: number }

/** One tensor of a step (forward, backward or optimizer state: gradients share these shapes). */
export interface BufferUse { tensor: string, shape: number[], bytes: number }

/** The text side of an expert (DiTConfig) or a prompt-conditioned router; absent or 0: none. */
interface PromptShape { promptTokens?: number, vocabSize?: number, textDim?: number }

export interface BufferFitOptions {
  /**
   * The fused attention kernel never materialises the logits; the composite path makes one
   * [B, T, S] tensor per head (heads are split on the last axis, one matmul each).
   */
  fusedAttention: boolean
}

const F32 = 4

/** The step's tensors that can be largest, largest first. `batch` is the training or sampling batch. */
export function largestBuffers (
  config: TransformerShape & PromptShape, batch: number, options: BufferFitOptions
): BufferUse[] {
  const B = batch
  const T = tokenCount(config)
  const D = config.hidden
  const P = config.patchSize
  const { imageSize: S, channels: C } = config
  const L = config.promptTokens ?? 0
  const vocab = config.vocabSize ?? 0
  const textDim = config.textDim !== undefined && config.textDim > 0 ? config.textDim : D
  const uses: Array<[string, number[]]> = [
    ['images', [B, S, S, C]],
    ['patches', [B, T, P * P * C]],
    ['tokens', [B, T, D]],
    ['qkv', [B, T, 3 * D]],
    ['mlp hidden', [B, T, config.mlpRatio * D]],
    ['qkv weight', [D, 3 * D]],
    ['mlp weight', [D, config.mlpRatio * D]],
    ['modulation weight', [D, 6 * D]]
  ]
  if (!options.fusedAttention) uses.push(['self-attention logits (one head)', [B, T, T]])
  if (L > 0 && vocab > 0) {
    // embed() is one-hot x table (wasm has no gather gradient), so the one-hot rows exist.
    uses.push(['prompt one-hot', [B * L, vocab]], ['token table', [vocab, textDim]])
    uses.push(['prompt features', [B * L, textDim]])
    uses.push(['cross-attention kv', [B, L, 2 * D]])
    if (!options.fusedAttention) uses.push(['cross-attention logits (one head)', [B, T, L]])
  }
  return uses
    .map(([tensor, shape]) => ({ tensor, shape, bytes: F32 * shape.reduce((a, b) => a * b, 1) }))
    .sort((a, b) => b.bytes - a.bytes)
}

/**
 * Throws WebGpuLimitError naming the first tensor (largest first) that exceeds a limit, and the
 * limit; returns the largest tensor otherwise (for logs).
 */
export function checkBufferFit (
  config: TransformerShape & PromptShape, batch: number, limits: DeviceBufferLimits, options: BufferFitOptions
): BufferUse {
  const uses = largestBuffers(config, batch, options)
  for (const use of uses) {
    const limit: WebGpuLimitName | undefined = use.bytes > limits.maxBufferSize
      ? 'maxBufferSize'
      : use.bytes > limits.maxStorageBufferBindingSize ? 'maxStorageBufferBindingSize' : undefined
    if (limit !== undefined) throw new WebGpuLimitError(limit, limits[limit], use.tensor, use.shape, use.bytes)
  }
  return uses[0]
}

/**
 * checkBufferFit against the device of the current backend when it is webgpu (training,
 * sampling and scoring call it before they start); undefined on every other backend.
 */
export function checkDeviceFit (config: TransformerShape & PromptShape, batch: number): BufferUse | undefined {
  const backend = currentBackend()
  if (backend?.name !== 'webgpu' || backend.adapter === undefined) return undefined
  return checkBufferFit(config, batch, backend.adapter.limits, { fusedAttention: hasFusedKernel(ATTENTION) })
}
