/**
 * Images per second of the ensemble sampler by routing, against a single expert, same run.
 *
 *   npm run bench test/bench/ensemble-sampling.ts [-- --preset small --images 16 --steps 10 --rounds 3]
 *
 * Four experts (2 DDPM, 2 flow matching, random weights: throughput does not depend on what
 * they learned) and a router of the matching `router-*` size, on the fastest backend. Each
 * configuration keeps its best of `rounds` (the machine is shared). The ratio column is
 * throughput relative to one expert sampled alone: top-1 should cost about one expert plus the
 * router, full about four experts plus the router.
 *
 * It first times one top-1 call in the fresh process against the warm calls after it: top-k
 * routing changes each expert's rows at every step, so every buffer size is new to the native
 * kernels' pool at first (src/runtime/native/pool.ts), and a one-off `hddm-node sample` is such
 * a first call. The pool's idle memory after it is printed too.
 */
import * as tf from '@tensorflow/tfjs'
import { EXPERT_PRESETS, ROUTER_PRESETS, type ExpertPresetName } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { Router } from '../../src/model/router.js'
import { CHECKPOINT_FORMAT, paramsToTensors } from '../../src/checkpoint/format.js'
import { loadRouter, type LoadedRouter } from '../../src/checkpoint/router.js'
import { loadExpert, type LoadedExpert } from '../../src/checkpoint/expert.js'
import { sampleEnsemble, type EnsembleMember } from '../../src/ensemble/sample.js'
import { parseRouting } from '../../src/diffusion/routing.js'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { disposeBackend, initBackend } from '../../src/runtime/backend.js'
import { nativePoolStats } from '../../src/runtime/native/install.js'

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : fallback
}
const preset = arg('preset', 'small') as ExpertPresetName
const images = Number(arg('images', '16'))
const steps = Number(arg('steps', '10'))
const rounds = Number(arg('rounds', '3'))

const backend = await initBackend({ backend: 'auto' })
const digits = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']
const tokenizer = Tokenizer.fromPrompts(digits)
const config = { ...EXPERT_PRESETS[preset], vocabSize: tokenizer.vocabSize, promptTokens: tokenizer.maxLength }
const routerPreset = preset === 'tiny' ? ROUTER_PRESETS['router-tiny'] : ROUTER_PRESETS['router-small']
const routerConfig = { ...routerPreset, numExperts: 4 }

function expert (objective: 'ddpm' | 'fm', cluster: number): LoadedExpert {
  const model = new DiT(config, cluster)
  const tensors = paramsToTensors(model.params)
  model.dispose()
  return loadExpert({
    metadata: {
      format: CHECKPOINT_FORMAT, network: 'expert', config: { ...config }, objective, cluster, step: 0,
      extra: { tokenizer: tokenizer.toJSON() }
    },
    tensors
  })
}
const objectives = ['ddpm', 'fm', 'ddpm', 'fm'] as const
const members: EnsembleMember[] = objectives.map((objective, cluster) => ({
  cluster, expert: expert(objective, cluster)
}))
const r = new Router(routerConfig, 9)
const loaded = loadRouter({
  metadata: { format: CHECKPOINT_FORMAT, network: 'router', config: { ...routerConfig }, step: 0 },
  tensors: paramsToTensors(r.params)
})
// A random router gives every image nearly the same posterior (its conditioning enters through
// zero-initialised AdaLN), so top-1 would send them all to one expert. This one still runs the
// router (its cost), then decides by a fixed random projection of x_t: the images spread over the
// experts and move between them from step to step, as with a trained router.
const side = config.imageSize * config.imageSize * config.channels
const projection = tf.randomNormal([side, 4], 0, 1, 'float32', 5)
const router: LoadedRouter = {
  ...loaded,
  posterior: (x, t, tokens) => tf.tidy(() => {
    loaded.posterior(x, t, tokens)
    return tf.softmax(tf.matMul(tf.reshape(x, [x.shape[0], side]), projection)) as tf.Tensor2D
  })
}
r.dispose()

const prompts = Array.from({ length: images }, (_, i) => tokenizer.vocab[3 + (i % 10)])
async function measure (routing: string | 'single'): Promise<{ seconds: number, gflopsPerImage: number }> {
  let best = Infinity
  let gflopsPerImage = 0
  for (let round = 0; round < rounds; round++) {
    const started = performance.now()
    const request = { tokenizer, prompts, steps, seed: round, guidance: 2 }
    const result = routing === 'single'
      ? await sampleEnsemble({ ...request, members: [members[1]], routing: parseRouting('full') })
      : await sampleEnsemble({ ...request, members, router, routing: parseRouting(routing) })
    best = Math.min(best, (performance.now() - started) / 1000)
    gflopsPerImage = result.flops.perImage / 1e9
  }
  return { seconds: best, gflopsPerImage }
}

/** One top-1 call: its seconds, and each expert's mean routed weight (the images must spread). */
async function topOne (seed: number): Promise<{ seconds: number, weights: string }> {
  const started = performance.now()
  const request = { members, router, tokenizer, prompts, steps, seed, guidance: 2, routing: parseRouting('top1') }
  const { usage } = await sampleEnsemble(request)
  const weights = usage.map(u => u.meanWeight.toFixed(2)).join(' ')
  return { seconds: (performance.now() - started) / 1000, weights }
}
const firstCall = await topOne(100)
const first = firstCall.seconds
const idleAfterFirst = nativePoolStats()?.idleBytes
const warm = Math.min((await topOne(101)).seconds, (await topOne(102)).seconds)

await measure('single') // warm-up: kernels, pool
const single = await measure('single')
const machine = `backend ${backend.name} (${backend.threads} threads)`
console.log(`${machine}, preset ${preset}, ${images} images, ${steps} Euler steps, guidance 2, best of ${rounds}`)
const idleMiB = idleAfterFirst !== undefined ? (idleAfterFirst / 2 ** 20).toFixed(0) : undefined
const idle = idleMiB !== undefined ? `, buffer pool idle after it ${idleMiB} MiB` : ''
console.log(`first top-1 call ${first.toFixed(2)} s = ${(first / warm).toFixed(2)} x the best warm one${idle}` +
  ` (mean routed weights ${firstCall.weights})\n`)
console.log('| sampler | images/s | GFLOP/image | x single expert (throughput) |')
console.log('|---|---|---|---|')
console.log(`| single expert | ${(images / single.seconds).toFixed(2)} | ${single.gflopsPerImage.toFixed(3)} | 1.00 |`)
for (const routing of ['top1', 'top2', 'full']) {
  const m = await measure(routing)
  const throughput = (images / m.seconds).toFixed(2)
  const ratio = (single.seconds / m.seconds).toFixed(2)
  console.log(`| ensemble ${routing} | ${throughput} | ${m.gflopsPerImage.toFixed(3)} | ${ratio} |`)
}
for (const m of members) m.expert.dispose()
router.dispose()
projection.dispose()
tf.disposeVariables()
await disposeBackend()
