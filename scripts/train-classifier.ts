/**
 * Trains the evaluation classifier of one dataset and writes its weights (committed under
 * src/eval/weights/). Run from the repository root:
 *
 *   npm run bench scripts/train-classifier.ts -- --dataset mnist [--epochs 12] [--seed 1] [--out FILE]
 *
 * Prints one line per epoch and the final test accuracy; the command line is recorded in the
 * weights' metadata.
 */
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { loadDataset } from '../src/data/index.js'
import { classifierPath, encodeClassifier } from '../src/eval/classifier.js'
import { trainClassifier } from '../src/eval/train-classifier.js'
import { disposeBackend, initBackend } from '../src/runtime/index.js'

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'mnist' },
    epochs: { type: 'string', default: '12' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
    backend: { type: 'string', default: 'native' }
  }
})
const dataset = values.dataset!
const backend = await initBackend({ backend: values.backend as 'native' })
const train = await loadDataset(dataset, { split: 'train' })
const test = await loadDataset(dataset, { split: 'test' })
const command = `npm run bench scripts/train-classifier.ts -- ${process.argv.slice(2).join(' ')}`.trim()
const started = performance.now()
const { classifier, testAccuracy } = await trainClassifier(train, test, {
  datasetName: dataset,
  command,
  training: { epochs: Number(values.epochs), seed: Number(values.seed) },
  onProgress: (e) => {
    const d = e.detail
    console.log(`epoch ${d.epoch}/${d.epochs} loss ${d.loss.toFixed(4)} test accuracy ${(100 * d.testAccuracy).toFixed(2)}% (${d.seconds.toFixed(1)} s)`)
  }
})
const out = values.out ?? classifierPath(dataset)
await writeFile(out, encodeClassifier(classifier))
console.log(JSON.stringify({ dataset, backend: backend.name, testAccuracy, testCount: test.count, seconds: (performance.now() - started) / 1000, out, command }))
classifier.dispose()
await disposeBackend()
