/**
 * Peak tensor memory of one DiT forward pass (sampling) and of one training step, by preset.
 *
 *   npm run bench test/bench/forward-memory.ts [-- --presets small,medium --batch 256]
 *
 * Sampling's peak is what a laptop must hold (and what the native kernels' buffer pool keeps
 * idle afterwards). The forward pass frees each block's activations before the next block runs,
 * so its peak should not grow with depth: the ratio column compares it with the same network cut
 * to one block, measured in the same run (one scope for the whole pass gave about the depth).
 * A training step keeps every block's activations for backprop, whatever the scopes.
 */
import * as tf from '@tensorflow/tfjs'
import { parseArgs } from 'node:util'
import { EXPERT_PRESETS, type ExpertPresetName } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { initBackend } from '../../src/runtime/index.js'
import { nativePoolStats } from '../../src/runtime/native/install.js'

const { values: args } = parseArgs({
  options: {
    presets: { type: 'string', default: 'small,medium' },
    batch: { type: 'string', default: '256' },
    'train-batch': { type: 'string', default: '32' }
  }
})
const backend = await initBackend({ backend: 'native' })
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0)

/** Peak bytes of `model.apply` on `batch` images, or of one gradient of its mean squared output. */
async function peak (preset: ExpertPresetName, depth: number, batch: number, train: boolean): Promise<number> {
  const config = { ...EXPERT_PRESETS[preset], depth }
  const model = new DiT(config, 0)
  const x = tf.randomNormal([batch, config.imageSize, config.imageSize, config.channels]) as tf.Tensor4D
  const t = tf.fill([batch], 0.5) as tf.Tensor1D
  const tokens = tf.zeros([batch, config.promptTokens], 'int32') as tf.Tensor2D
  const { peakBytes } = await tf.profile(() => {
    if (!train) return void tf.dispose(model.apply(x, t, tokens))
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.apply(x, t, tokens))) as tf.Scalar)
    tf.dispose([value, ...Object.values(grads)])
  })
  tf.dispose([x, t, tokens])
  model.dispose()
  return peakBytes
}

const batch = Number(args.batch)
const trainBatch = Number(args['train-batch'])
console.log(`backend ${backend.name}; sampling batch ${batch}, training batch ${trainBatch}\n`)
console.log('| preset | depth | sampling peak (MiB) | same net, 1 block | ratio | training step peak (MiB) |')
console.log('|---|---|---|---|---|---|')
for (const preset of args.presets!.split(',') as ExpertPresetName[]) {
  const { depth } = EXPERT_PRESETS[preset]
  const full = await peak(preset, depth, batch, false)
  const one = await peak(preset, 1, batch, false)
  const train = await peak(preset, depth, trainBatch, true)
  console.log(`| ${preset} | ${depth} | ${mib(full)} | ${mib(one)} | ${(full / one).toFixed(2)} | ${mib(train)} |`)
}
const idle = nativePoolStats()?.idleBytes
if (idle !== undefined) console.log(`\nnative buffer pool idle at the end: ${mib(idle)} MiB`)
