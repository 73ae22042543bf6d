/**
 * `hddm-node sample --ensemble CID`: an ensemble by its manifest CID, drawn here (fetching what
 * this data directory lacks from the swarm) or, with --peer, by a remote node over
 * /hddm/sample/1.0.0 (node/draw-ensemble.ts), written as a grid and, with --out-dir, one PNG
 * per image.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { decodePng, imageGrid } from '../data/png.js'
import { parseRouting } from '../diffusion/routing.js'
import { InvalidArgumentError } from '../errors.js'
import { silentLogger, type Logger } from '../logger.js'
import { privateSwarm, type PrivateSwarmFlags } from './options.js'
import { drawEnsembleHere, drawEnsembleOnPeer, type DrawnImages } from '../node/draw-ensemble.js'
import { SAMPLE_MAX_COUNT } from '../protocol/limits.js'
import { initBackend, type BackendChoice } from '../runtime/backend.js'
import type { NetworkScope } from '../network/gater.js'
import type { SamplerName } from '../ensemble/sample.js'

export interface EnsembleSampleOptions extends PrivateSwarmFlags {
  ensemble: string
  prompt: string[]
  n: number
  steps: number
  sampler: SamplerName
  guidance: number
  seed: number
  routing?: string
  scale: number
  out: string
  outDir?: string
  peer?: string
  bootstrap: string[]
  dataDir?: string
  scope: NetworkScope
  timeout: number
  backend: BackendChoice
  json: boolean
  logger?: Logger
}

export async function sampleEnsembleCommand (o: EnsembleSampleOptions): Promise<void> {
  let ensemble: CID
  try {
    ensemble = CID.parse(o.ensemble)
  } catch {
    throw new InvalidArgumentError(`--ensemble must be a CID, got ${o.ensemble}`)
  }
  if (o.routing !== undefined) parseRouting(o.routing)
  // One row of n images per prompt, prompt-major: the same list goes to the sampler or the peer.
  const prompts = o.prompt.flatMap((p) => new Array<string>(o.n).fill(p))
  const started = performance.now()
  const request = {
    ensemble, prompts, steps: o.steps, seed: o.seed, guidance: o.guidance, routing: o.routing, timeoutMs: o.timeout,
    dataDir: o.dataDir, bootstrap: o.bootstrap, scope: o.scope, ...privateSwarm(o), logger: o.logger
  }
  let drawn: DrawnImages
  if (o.peer !== undefined) {
    if (o.sampler !== 'euler') {
      const why = 'the sample protocol has no sampler field'
      throw new InvalidArgumentError(`--peer draws with the euler sampler only (${why})`)
    }
    if (prompts.length > SAMPLE_MAX_COUNT) {
      const limit = `a peer draws at most ${SAMPLE_MAX_COUNT} images per request`
      throw new InvalidArgumentError(`${limit}, asked for ${prompts.length}`)
    }
    // A throwaway identity unless a data directory is given: asking a peer needs no blocks.
    drawn = await drawEnsembleOnPeer({ ...request, peer: parsePeer(o.peer) })
  } else {
    await initBackend({ backend: o.backend, logger: o.logger ?? silentLogger })
    drawn = await drawEnsembleHere({ ...request, dataDir: o.dataDir ?? '.hddm', sampler: o.sampler })
  }
  const files = await writeImages(drawn.pngs, prompts, o)
  const summary = {
    ensemble: ensemble.toString(), mode: o.peer !== undefined ? 'remote' : 'local',
    ...(o.peer !== undefined ? { peer: o.peer } : {}),
    out: files.out, images: files.images, prompts: o.prompt, perPrompt: o.n, steps: o.steps,
    routing: o.routing ?? 'manifest default', guidance: o.guidance, seed: o.seed,
    usage: drawn.usage, flops: drawn.flops, seconds: (performance.now() - started) / 1000
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(summary) + '\n')
    return
  }
  const via = o.peer !== undefined ? ` via ${o.peer}` : ''
  const lines = [`wrote ${files.out} (${o.prompt.length} x ${o.n} images, ${o.steps} steps, ${summary.mode}${via})`]
  if (o.outDir !== undefined) lines.push(`wrote ${files.images.length} PNGs to ${resolve(o.outDir)}`)
  if (drawn.usage !== undefined) {
    lines.push('expert usage (router weight per expert, mean over images and steps):')
    for (const u of drawn.usage) {
      const weight = `${u.meanWeight.toFixed(3)}  (${u.evaluations} evaluations)`
      lines.push(`  cluster ${u.cluster} ${u.objective.padEnd(4)} ${weight}`)
    }
  } else {
    lines.push('expert usage: not reported by a remote peer')
  }
  process.stdout.write(lines.join('\n') + '\n')
}

function parsePeer (text: string): Multiaddr {
  try {
    return multiaddr(text)
  } catch (err) {
    const why = (err as Error).message
    throw new InvalidArgumentError(`--peer must be a multiaddr /ip4/.../tcp/.../p2p/<id>, got ${text} (${why})`)
  }
}

/** The grid (one row per prompt) and, with --out-dir, one PNG per image as drawn. */
async function writeImages (
  pngs: Uint8Array[], prompts: string[], o: EnsembleSampleOptions
): Promise<{ out: string, images: string[] }> {
  const decoded = pngs.map((png) => decodePng(png))
  const { width, height, channels } = decoded[0]
  const pixels = new Uint8Array(decoded.length * width * height * channels)
  decoded.forEach((image, i) => { pixels.set(image.pixels, i * width * height * channels) })
  const out = resolve(o.out)
  await writeFile(out, imageGrid({ width, height, channels, pixels }, { cols: o.n, scale: o.scale }))
  const images: string[] = []
  if (o.outDir !== undefined) {
    const dir = resolve(o.outDir)
    await mkdir(dir, { recursive: true })
    for (const [i, png] of pngs.entries()) {
      const slug = prompts[i].replace(/[^a-z0-9]+/gi, '-').slice(0, 40)
      const file = join(dir, `${String(i).padStart(3, '0')}-${slug}.png`)
      await writeFile(file, png)
      images.push(file)
    }
  }
  return { out, images }
}
