/**
 * How much the x0 clamp of 1 (PIXEL_X0_CLAMP, docs/MODEL.md step 4) moves the converted velocity of
 * a small DDPM expert, by flow time: the share of x0 estimates outside [-1, 1] and beyond 1.1, and
 * the clamp's shift of x0 relative to |v| (rms), on 64 held-out images of cluster 1.
 *
 *   npm run bench test/bench/clamp-probe.ts -- 400      (training steps of the expert)
 */
import * as tf from '@tensorflow/tfjs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadExpert } from '../../src/checkpoint/expert.js'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { decodeShard } from '../../src/data/shard.js'
import { inputRescale, snrMatchedStep } from '../../src/diffusion/convert.js'
import { cosineSchedule } from '../../src/diffusion/schedule.js'
import { initBackend } from '../../src/runtime/backend.js'
import { trainExpert } from '../../src/training/expert-run.js'
import { mnistShards } from '../training/fixtures.js'

await initBackend({ backend: 'auto' })
const steps = Number(process.argv[2] ?? 400)
const data = await mnistShards(4, 3000)
const dir = await mkdtemp(join(tmpdir(), 'hddm-clamp-probe-'))
const training = { steps, batchSize: 32, checkpointEvery: steps }
const trained = await trainExpert({ shard: data.train[1], preset: 'small', objective: 'ddpm', outDir: dir, training })
const expert = loadExpert(decodeCheckpoint(await readFile(trained.path)))
await rm(dir, { recursive: true, force: true })

const heldOut = decodeShard(data.heldOut[1])
const n = Math.min(64, heldOut.header.count)
const x0 = tf.tensor4d(Float32Array.from(heldOut.pixels.subarray(0, n * 784), v => v / 127.5 - 1), [n, 28, 28, 1])
const L = expert.model.config.promptTokens
const tokens = tf.tensor2d(new Int32Array(n * L), [n, L], 'int32')
const schedule = cosineSchedule(1000)
const percent = (x: number): string => `${(100 * x).toFixed(1)}%`
for (const t of [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95]) {
  const [outside, far, shift] = tf.tidy(() => {
    const xt = tf.add(tf.mul(x0, 1 - t), tf.mul(tf.randomNormal(x0.shape, 0, 1, 'float32', 7), t)) as tf.Tensor4D
    const time = tf.fill([n], snrMatchedStep(schedule, t)) as tf.Tensor1D
    const epsHat = expert.network(tf.mul(xt, inputRescale(t)) as tf.Tensor4D, time, tokens)
    const x0Hat = tf.div(tf.sub(xt, tf.mul(epsHat, t)), Math.max(1 - t, 0.01))
    const clamped = tf.clipByValue(x0Hat, -1, 1)
    const share = (bound: number): number => tf.mean(tf.cast(tf.greater(tf.abs(x0Hat), bound), 'float32')).dataSync()[0]
    const rms = (x: tf.Tensor): number => Math.sqrt(tf.mean(tf.square(x)).dataSync()[0])
    return [share(1), share(1.1), rms(tf.sub(x0Hat, clamped)) / rms(tf.sub(epsHat, clamped))]
  })
  const shares = `outside [-1, 1] ${percent(outside)}, beyond 1.1 ${percent(far)}`
  console.log(`t ${t}: ${shares}, shift / |v| ${shift.toFixed(3)}`)
}
