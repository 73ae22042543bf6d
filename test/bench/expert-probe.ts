/**
 * One expert on one cluster of the default run's data, trained and scored on that cluster's
 * digits: how preset, steps, batch, objective and DDPM loss weighting change what it draws.
 * The measurements behind manifests/default.json (docs/RESULTS.md "The embedded default").
 *
 *   npm run bench test/bench/expert-probe.ts -- --preset mini --steps 2000 --batch 16 --cluster 0 \
 *     --objective ddpm --min-snr-gamma 5 [--guidance 1.5,2,3] [--sample-steps 20,40] [--threads 1] [--png out.png]
 *
 * Data: the first --limit MNIST training digits clustered as the default manifest does (shipped
 * encoder, K = 4, seed 1234, 64 fine centroids). Scoring: 30 samples per digit of the cluster (a
 * digit holding at least 10% of it), prompt accuracy and FID against the test digits of those
 * classes, with the evaluation classifier. One JSON line per (guidance, sampler steps).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  buildShards, clusterDataset, encodeShard, loadDataset, MNIST_CLASS_NAMES, subsetDataset, takeDataset
} from '../../src/data/index.js'
import { sampleEnsemble } from '../../src/ensemble/sample.js'
import { evaluateSamples, loadClassifier, promptGrid, referenceStatistics } from '../../src/eval/index.js'
import { initBackend } from '../../src/runtime/index.js'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { encoderFeatureMap, loadEncoderFile } from '../../src/training/clustering-encoder.js'
import { publishableCheckpoint } from '../../src/checkpoint/publishable.js'
import { loadExpert } from '../../src/checkpoint/expert.js'
import { trainExpert } from '../../src/training/index.js'

const { values: a } = parseArgs({
  options: {
    preset: { type: 'string', default: 'mini' },
    steps: { type: 'string', default: '2000' },
    batch: { type: 'string', default: '16' },
    lr: { type: 'string', default: '1e-3' },
    ema: { type: 'string', default: '0.99' },
    objective: { type: 'string', default: 'fm' },
    'min-snr-gamma': { type: 'string', default: '0' },
    cluster: { type: 'string', default: '0' },
    limit: { type: 'string', default: '12000' },
    threads: { type: 'string', default: '1' },
    guidance: { type: 'string', default: '2' },
    'sample-steps': { type: 'string', default: '20' },
    png: { type: 'string' }
  }
})
const num = (name: keyof typeof a): number => Number(a[name])
await initBackend({ backend: 'native', threads: num('threads') })
const train = takeDataset(await loadDataset('mnist'), num('limit'))
const encoder = (await loadEncoderFile('mnist')).file
const clustering = await clusterDataset(train, { k: 4, seed: 1234, fine: 64, features: encoderFeatureMap(encoder) })
const c = num('cluster')
const shard = buildShards(train, clustering, { heldOutFraction: 0.05, seed: 1234 })[c].train
const classes = clustering.labelCounts![c].flatMap((n, label) => n >= 0.1 * clustering.sizes[c] ? [label] : [])
const dir = await mkdtemp(join(tmpdir(), 'hddm-probe-'))
const steps = num('steps')
const started = performance.now()
let trained
try {
  const result = await trainExpert({
    shard: encodeShard(shard),
    preset: a.preset!,
    objective: a.objective as 'fm' | 'ddpm',
    outDir: dir,
    training: {
      steps,
      batchSize: num('batch'),
      learningRate: num('lr'),
      warmupSteps: Math.min(50, Math.floor(steps / 10)),
      checkpointEvery: steps,
      emaDecay: num('ema'),
      minSnrGamma: num('min-snr-gamma'),
      seed: 1
    }
  })
  trained = publishableCheckpoint(decodeCheckpoint(await readFile(result.path)))
} finally {
  await rm(dir, { recursive: true, force: true })
}
const trainSeconds = (performance.now() - started) / 1000
const expert = loadExpert(trained)
const classifier = await loadClassifier('mnist')
const test = await loadDataset('mnist:test')
const ofClasses = Array.from(test.labels!).flatMap((l, i) => classes.includes(l) ? [i] : [])
const reference = referenceStatistics(classifier, subsetDataset(test, ofClasses))
const prompts = Array.from({ length: 30 * classes.length }, (_, i) => MNIST_CLASS_NAMES[classes[i % classes.length]])
for (const guidance of a.guidance!.split(',').map(Number)) {
  for (const sampleSteps of a['sample-steps']!.split(',').map(Number)) {
    const out = await sampleEnsemble({
      members: [{ cluster: c, expert }], tokenizer: expert.tokenizer, prompts, steps: sampleSteps, seed: 5,
      routing: { kind: 'full' }, guidance
    })
    const m = evaluateSamples({ classifier, reference, images: out.images, prompts })
    if (a.png !== undefined) {
      const png = a.png.replace(/\.png$/, `-g${guidance}-s${sampleSteps}.png`)
      await writeFile(png, promptGrid(out.images, out.shape, prompts, 10))
    }
    console.log(JSON.stringify({
      preset: a.preset, objective: a.objective, minSnrGamma: num('min-snr-gamma'), cluster: c, classes,
      steps, batch: num('batch'), msPerStep: Math.round(1000 * trainSeconds / steps),
      guidance, sampleSteps, samples: prompts.length,
      fid: Number(m.fid.toFixed(2)), accuracy: Number(m.promptAccuracy.accuracy.toFixed(3))
    }))
  }
}
expert.dispose()
classifier.dispose()
