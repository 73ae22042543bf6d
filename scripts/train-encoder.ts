/**
 * Trains the clustering encoder of one dataset and writes its weights (committed under
 * src/data/weights/). Run from the repository root:
 *
 *   npm run bench scripts/train-encoder.ts -- --dataset mnist|fashion-mnist [--objective supcon|simclr] [--steps 1000] [--seed 1] [--out FILE]
 *
 * `supcon` (the shipped weights) uses the labels to pick positives; `simclr` reads none.
 * Prints the loss, a 1-NN probe of the features on the test split, and at the end the class
 * concentration of the run's two-stage clustering with K = 4 and 8, next to pixel PCA's; the
 * command line is recorded in the weights' metadata.
 */
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { clusterDataset, loadDataset, subsetDataset } from '../src/data/index.js'
import { GARMENT_AUGMENT, DIGIT_AUGMENT } from '../src/data/augment.js'
import { encoderFeatureMap, encodeEncoderFile, encoderPath, weightsFromEncoder } from '../src/training/clustering-encoder.js'
import { trainEncoder } from '../src/training/encoder-trainer.js'
import { disposeBackend, initBackend } from '../src/runtime/index.js'

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'mnist' },
    objective: { type: 'string', default: 'supcon' },
    steps: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '256' },
    lr: { type: 'string', default: '1e-3' },
    temperature: { type: 'string', default: '0.2' },
    hidden: { type: 'string', default: '512,256' },
    features: { type: 'string', default: '64' },
    seed: { type: 'string', default: '1' },
    augment: { type: 'string', default: '' },
    out: { type: 'string' },
    backend: { type: 'string', default: 'native' }
  }
})
const dataset = values.dataset!
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)
const backend = await initBackend({ backend: values.backend as 'native' })
const train = await loadDataset(dataset, { split: 'train' })
const test = await loadDataset(dataset, { split: 'test' })
const command = `npm run bench scripts/train-encoder.ts -- ${process.argv.slice(2).join(' ')}`.trim()
const started = performance.now()
const hidden = values.hidden!.split(',').map(Number)
const { encoder, config } = await trainEncoder(train, {
  training: {
    objective: values.objective as 'simclr' | 'supcon',
    steps: Number(values.steps),
    batchSize: Number(values.batch),
    learningRate: Number(values.lr),
    temperature: Number(values.temperature),
    seed: Number(values.seed),
    encoder: { inputSize: 784, hidden, featureDim: Number(values.features), projectionDim: 64 },
    // --augment key=value,...: overrides of the dataset's augmentation (data/augment.ts)
    augment: { ...(dataset.startsWith('fashion') ? GARMENT_AUGMENT : DIGIT_AUGMENT), ...Object.fromEntries(values.augment!.split(',').filter(Boolean).map(kv => [kv.split('=')[0], Number(kv.split('=')[1])])) }
  },
  // Disjoint halves of the test split: queries never find themselves.
  probe: { reference: subsetDataset(test, range(1000, 6000)), queries: subsetDataset(test, range(0, 1000)), every: 500 },
  onProgress: (e) => {
    if (e.type === 'hddm:train:encoder:probe') console.log(`step ${e.detail.step}: 1-NN accuracy ${(100 * e.detail.knnAccuracy).toFixed(1)}%`)
    else if (e.detail.step % 100 === 0) console.log(`step ${e.detail.step}/${e.detail.steps} loss ${e.detail.loss.toFixed(4)} (${((performance.now() - started) / 1000).toFixed(0)} s)`)
  }
})
const seconds = (performance.now() - started) / 1000
const weights = weightsFromEncoder(encoder, { dataset, command, training: { ...config, encoder: undefined }, seconds })
encoder.dispose()
const report: Record<string, number> = {}
for (const k of [4, 8]) {
  const enc = await clusterDataset(train, { k, seed: 0, features: encoderFeatureMap(weights) })
  const pca = await clusterDataset(train, { k, seed: 0 })
  report[`encoder-k${k}`] = enc.concentration!
  report[`pca-k${k}`] = pca.concentration!
  console.log(`K=${k}: class concentration ${enc.concentration!.toFixed(3)} (pixel PCA ${pca.concentration!.toFixed(3)}), purity ${enc.purity!.toFixed(3)} (PCA ${pca.purity!.toFixed(3)})`)
}
weights.info.concentration = report
const out = values.out ?? encoderPath(dataset)
await writeFile(out, encodeEncoderFile(weights))
console.log(JSON.stringify({ dataset, backend: backend.name, seconds, out, command, concentration: report }))
await disposeBackend()
