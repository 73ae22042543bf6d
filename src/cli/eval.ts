/**
 * `hddm-node eval`: scores an ensemble (DESIGN section 7). The ensemble comes from Helia by its
 * manifest CID (blocks held in --data-dir, or fetched from --bootstrap peers), or from local
 * checkpoint files (--router plus one --expert per cluster). For every --routing rule it draws
 * --samples images with balanced prompts and reports FID against the dataset's test split,
 * intra-prompt diversity, prompt accuracy and GFLOPs per sample; with held-out shards (the run's,
 * fetched through the ensemble's run manifest, or --held-out DIR) also the expert x cluster
 * held-out loss matrix. Prints a summary and writes everything as JSON with --json.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { InvalidArgumentError } from '../errors.js'
import { BACKEND_CHOICES, type BackendChoice } from '../runtime/backend.js'
import type { RegisterCommand } from './register-command.js'
import {
  allowPeerOption, backendOption, collect, integerOption, numberOption, privateSwarm, swarmKeyOption, type PrivateSwarmFlags
} from './options.js'

interface EvalCommandOptions extends PrivateSwarmFlags {
  ensemble?: string
  dataDir?: string
  bootstrap?: string[]
  timeout: number
  router?: string
  expert?: string[]
  dataset: string
  classifier?: string
  routing?: string[]
  samples: number
  steps: number
  guidance: number
  seed: number
  heldOut?: string
  json?: string
  grid?: string
  backend: BackendChoice
}


export const registerEval: RegisterCommand = (program: Command) => {
  program.command('eval')
    .description('Evaluate an ensemble: FID, intra-prompt diversity, prompt accuracy and GFLOPs per sample for each routing, and the expert x cluster held-out loss matrix')
    .option('--ensemble <cid>', 'ensemble manifest CID (blocks from --data-dir or --bootstrap peers)')
    .option('--data-dir <dir>', 'with --ensemble: a node data directory that holds the blocks (default: a fresh temporary one)')
    .option('--bootstrap <multiaddr>', 'with --ensemble: a peer to fetch missing blocks from (repeatable; none = local blocks only)', collect)
    .option('--timeout <ms>', 'with --ensemble: give up fetching a block after this long', integerOption('--timeout', 1), 60_000)
    .addOption(swarmKeyOption())
    .addOption(allowPeerOption())
    .option('--router <file>', 'router checkpoint (instead of --ensemble)')
    .option('--expert <cluster=file>', 'expert checkpoint of a cluster (repeatable; instead of --ensemble)', collect)
    .option('--dataset <name>', 'classifier and test split: mnist | fashion-mnist', 'mnist')
    .option('--classifier <file>', 'classifier weights (default: the committed ones of --dataset)')
    .option('--routing <rule>', 'full | topK | threshold:p (repeatable; default: the manifest\'s, else full)', collect)
    .option('--samples <n>', 'images per routing (prompts cycle through the classes)', integerOption('--samples', 2), 300)
    .option('--steps <n>', 'Euler steps', integerOption('--steps', 1), 20)
    .option('--guidance <w>', 'classifier-free guidance scale (1 = none)', numberOption('--guidance', 0), 2)
    .option('--seed <n>', 'noise seed', integerOption('--seed'), 1)
    .option('--held-out <dir>', 'held-out shards (cluster-<i>.held-out.hddmshard, as `data cluster --write-shards` writes) for the loss matrix')
    .option('--json <file>', 'write every result as JSON')
    .option('--grid <file>', 'PNG of samples of the first routing (one row per class)')
    .option('--backend <name>', BACKEND_CHOICES.join(' | '), backendOption, 'auto')
    .action(async (options: EvalCommandOptions) => { await evalCommand(options) })
}

interface Source {
  members: import('../ensemble/sample.js').EnsembleMember[]
  router: import('../checkpoint/router.js').LoadedRouter
  tokenizer: import('../data/tokenizer.js').Tokenizer
  defaultRouting: string
  /** Expert checkpoints (for the loss matrix) and the held-out shards, when known. */
  checkpoints: Array<{ cluster: number, checkpoint: import('../checkpoint/format.js').Checkpoint }>
  heldOut?: Uint8Array[]
  id: string
  dispose: () => Promise<void>
}

async function evalCommand (o: EvalCommandOptions): Promise<void> {
  if ((o.ensemble === undefined) === (o.router === undefined)) throw new InvalidArgumentError('give either --ensemble CID or --router FILE with --expert CLUSTER=FILE')
  if (o.router !== undefined && (o.expert === undefined || o.expert.length === 0)) throw new InvalidArgumentError('--router needs at least one --expert CLUSTER=FILE')
  const { initBackend, disposeBackend } = await import('../runtime/backend.js')
  const { parseRouting, formatRouting } = await import('../diffusion/routing.js')
  const { loadDataset } = await import('../data/sources.js')
  const { loadClassifier, referenceStatistics, evaluateEnsemble, expertClusterLossMatrix, formatLossMatrix, promptGrid, LOSS_MATRIX_EVAL } = await import('../eval/index.js')
  const routings = (o.routing ?? []).map(parseRouting)

  await initBackend({ backend: o.backend })
  // The classifier first: it checks --samples before any network or checkpoint work, and
  // whatever is open when something fails is closed below.
  const classifier = await loadClassifier(o.classifier ?? o.dataset)
  let source: Source | undefined
  try {
    const classes = classifier.info.classNames.length
    if (o.samples < 2 * classes) throw new InvalidArgumentError(`--samples must be at least ${2 * classes} (two per class, for the diversity), got ${o.samples}`)
    source = o.ensemble !== undefined ? await fromHelia(o) : await fromFiles(o)
    const test = await loadDataset(`${o.dataset}:test`)
    const reference = referenceStatistics(classifier, test)
    const results = []
    const rules = routings.length > 0 ? routings : [parseRouting(source.defaultRouting)]
    for (const [i, routing] of rules.entries()) {
      const { evaluation, images, shape, prompts } = await evaluateEnsemble({
        members: source.members, router: source.router, tokenizer: source.tokenizer, routing, classifier, reference,
        samples: o.samples, steps: o.steps, guidance: o.guidance, seed: o.seed
      })
      results.push(evaluation)
      process.stdout.write(`${formatRouting(routing).padEnd(8)} FID ${evaluation.fid.toFixed(2)}  diversity ${evaluation.diversity.mean.toFixed(3)} +- ${evaluation.diversity.std.toFixed(3)}  prompt accuracy ${(100 * evaluation.promptAccuracy.accuracy).toFixed(1)}%  ${evaluation.gflopsPerSample.toFixed(3)} GFLOPs/sample  (${evaluation.count} samples, ${evaluation.seconds.toFixed(0)} s)\n`)
      if (i === 0 && o.grid !== undefined) await writeFile(resolve(o.grid), promptGrid(images, shape, prompts))
    }
    let lossMatrix
    if (source.heldOut !== undefined) {
      lossMatrix = await expertClusterLossMatrix(source.checkpoints, source.heldOut, LOSS_MATRIX_EVAL)
      process.stdout.write(['expert x cluster held-out loss:', ...formatLossMatrix(lossMatrix)].join('\n') + '\n')
    }
    process.stdout.write(`reference: ${reference.name} (${reference.count} images, diversity ${reference.diversity?.toFixed(3) ?? '-'})\n`)
    if (o.json !== undefined) {
      await writeFile(resolve(o.json), JSON.stringify({
        ensemble: source.id, dataset: o.dataset, classifier: { dataset: classifier.info.dataset, testAccuracy: classifier.info.testAccuracy },
        reference: { name: reference.name, count: reference.count, diversity: reference.diversity ?? null }, results, lossMatrix: lossMatrix ?? null
      }, null, 2) + '\n')
    }
  } finally {
    classifier.dispose()
    await source?.dispose()
    await disposeBackend()
  }
}

async function fromFiles (o: EvalCommandOptions): Promise<Source> {
  const { readCheckpointFile } = await import('../checkpoint/file.js')
  const { loadExpert } = await import('../checkpoint/expert.js')
  const { loadRouter } = await import('../checkpoint/router.js')
  const router = loadRouter(await readCheckpointFile(resolve(o.router!)))
  const members: Source['members'] = []
  const checkpoints: Source['checkpoints'] = []
  try {
    for (const spec of o.expert!) {
      const eq = spec.indexOf('=')
      const cluster = Number(spec.slice(0, eq))
      if (eq < 1 || !Number.isInteger(cluster) || cluster < 0) throw new InvalidArgumentError(`--expert ${spec}: expected CLUSTER=FILE`)
      const checkpoint = await readCheckpointFile(resolve(spec.slice(eq + 1)))
      checkpoints.push({ cluster, checkpoint })
      members.push({ cluster, expert: loadExpert(checkpoint) })
    }
  } catch (err) {
    router.dispose()
    for (const m of members) m.expert.dispose()
    throw err
  }
  const heldOut = o.heldOut !== undefined ? await heldOutFromDir(resolve(o.heldOut), router.model.config.numExperts) : undefined
  return {
    members, router, tokenizer: members[0].expert.tokenizer, defaultRouting: 'full', checkpoints, heldOut, id: 'local files',
    dispose: async () => { router.dispose(); for (const m of members) m.expert.dispose() }
  }
}

async function heldOutFromDir (dir: string, k: number): Promise<Uint8Array[]> {
  const files = new Set(await readdir(dir))
  return await Promise.all(Array.from({ length: k }, async (_, c) => {
    const name = `cluster-${c}.held-out.hddmshard`
    if (!files.has(name)) throw new InvalidArgumentError(`--held-out ${dir}: no ${name}`)
    return await readFile(join(dir, name))
  }))
}

async function fromHelia (o: EvalCommandOptions): Promise<Source> {
  const { CID } = await import('multiformats/cid')
  const { createSwarmNode } = await import('../network/swarm-node.js')
  const { createStorage } = await import('../storage/helia.js')
  const { resolveEnsemble } = await import('../ensemble/resolve.js')
  const { decodeCheckpoint } = await import('../checkpoint/format.js')
  const { parseResolvedRunManifest } = await import('../protocol/run-manifest.js')
  let id: import('multiformats/cid').CID
  try {
    id = CID.parse(o.ensemble!)
  } catch {
    throw new InvalidArgumentError(`--ensemble ${o.ensemble!} is not a CID`)
  }
  const dataDir = o.dataDir !== undefined ? resolve(o.dataDir) : await mkdtemp(join(tmpdir(), 'hddm-eval-'))
  const bootstrap = o.bootstrap ?? []
  const swarm = createSwarmNode({ dataDir, bootstrap, listen: ['/ip4/127.0.0.1/tcp/0'], ...privateSwarm(o) })
  let storage: import('../storage/helia.js').Storage | undefined
  const stop = async (): Promise<void> => {
    await storage?.stop().catch(() => {})
    await swarm.stop().catch(() => {})
    if (o.dataDir === undefined) await rm(dataDir, { recursive: true, force: true })
  }
  try {
    await swarm.start()
    storage = createStorage({ dataDir }, { libp2p: swarm.libp2p })
    await storage.start()
    const store = storage
    const fetch = { timeoutMs: o.timeout, offline: bootstrap.length === 0 }
    const ensemble = await resolveEnsemble(store, id, fetch)
    const checkpoints: Source['checkpoints'] = []
    for (const e of ensemble.manifest.experts) checkpoints.push({ cluster: e.cluster, checkpoint: decodeCheckpoint(await store.getBytes(e.cid, fetch)) })
    let heldOut: Uint8Array[] | undefined
    if (o.heldOut !== undefined) {
      heldOut = await heldOutFromDir(resolve(o.heldOut), ensemble.manifest.k)
    } else {
      // The run manifest names the held-out shards; a peer that holds the ensemble usually holds the run.
      try {
        const run = parseResolvedRunManifest(await store.getJson(ensemble.manifest.run, fetch))
        heldOut = await Promise.all(run.resolved.shards.map(async s => await store.getBytes(s.heldOut, fetch)))
      } catch {
        process.stderr.write('hddm-node eval: the run manifest or its held-out shards are not reachable: no loss matrix (give --held-out DIR)\n')
      }
    }
    return {
      members: ensemble.members, router: ensemble.router, tokenizer: ensemble.tokenizer, defaultRouting: ensemble.manifest.routing,
      checkpoints, heldOut, id: ensemble.id,
      dispose: async () => { ensemble.dispose(); await stop() }
    }
  } catch (err) {
    await stop()
    throw err
  }
}
