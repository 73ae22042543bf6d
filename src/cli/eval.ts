/**
 * `hddm-node eval`: scores an ensemble (DESIGN section 7). The ensemble comes from Helia by its
 * manifest CID (blocks held in --data-dir, or fetched from --bootstrap peers), or from local
 * checkpoint files (--router plus one --expert per cluster). For every --routing rule it draws
 * --samples images with balanced prompts and reports FID against the dataset's test split,
 * intra-prompt diversity, prompt accuracy and GFLOPs per sample; with held-out shards (the run's,
 * fetched through the ensemble's run manifest, or --held-out DIR) also the expert x cluster
 * held-out loss matrix. Prints a summary and writes everything as JSON with --json.
 */
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { EvalSource } from '../node/eval-source.js'
import type { EnsembleEvaluation } from '../eval/index.js'
import { InvalidArgumentError } from '../errors.js'
import { BACKEND_CHOICES, type BackendChoice } from '../runtime/backend.js'
import type { RegisterCommand } from './register-command.js'
import {
  allowPeerOption, backendOption, collect, integerOption, numberOption, privateSwarm, swarmKeyOption,
  type PrivateSwarmFlags
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
    .description('Evaluate an ensemble: FID, intra-prompt diversity, prompt accuracy and GFLOPs per sample ' +
      'for each routing, and the expert x cluster held-out loss matrix')
    .option('--ensemble <cid>', 'ensemble manifest CID (blocks from --data-dir or --bootstrap peers)')
    .option('--data-dir <dir>',
      'with --ensemble: a node data directory that holds the blocks (default: a fresh temporary one)')
    .option('--bootstrap <multiaddr>', 'with --ensemble: a peer to fetch missing blocks from ' +
      '(repeatable; none = local blocks only)', collect)
    .option('--timeout <ms>', 'with --ensemble: give up fetching a block after this long',
      integerOption('--timeout', 1), 60_000)
    .addOption(swarmKeyOption())
    .addOption(allowPeerOption())
    .option('--router <file>', 'router checkpoint (instead of --ensemble)')
    .option('--expert <cluster=file>', 'expert checkpoint of a cluster (repeatable; instead of --ensemble)', collect)
    .option('--dataset <name>', 'classifier and test split: mnist | fashion-mnist', 'mnist')
    .option('--classifier <file>', 'classifier weights (default: the committed ones of --dataset)')
    .option('--routing <rule>', 'full | topK | threshold:p (repeatable; default: the manifest\'s, else full)', collect)
    .option('--samples <n>', 'images per routing (prompts cycle through the classes)',
      integerOption('--samples', 2), 300)
    .option('--steps <n>', 'Euler steps', integerOption('--steps', 1), 20)
    .option('--guidance <w>', 'classifier-free guidance scale (1 = none)', numberOption('--guidance', 0), 2)
    .option('--seed <n>', 'noise seed', integerOption('--seed'), 1)
    .option('--held-out <dir>', 'held-out shards (cluster-<i>.held-out.hddmshard, ' +
      'as `data cluster --write-shards` writes) for the loss matrix')
    .option('--json <file>', 'write every result as JSON')
    .option('--grid <file>', 'PNG of samples of the first routing (one row per class)')
    .option('--backend <name>', BACKEND_CHOICES.join(' | '), backendOption, 'auto')
    .action(async (options: EvalCommandOptions) => { await evalCommand(options) })
}

async function evalCommand (o: EvalCommandOptions): Promise<void> {
  if ((o.ensemble === undefined) === (o.router === undefined)) {
    throw new InvalidArgumentError('give either --ensemble CID or --router FILE with --expert CLUSTER=FILE')
  }
  if (o.router !== undefined && (o.expert === undefined || o.expert.length === 0)) {
    throw new InvalidArgumentError('--router needs at least one --expert CLUSTER=FILE')
  }
  const { initBackend, disposeBackend } = await import('../runtime/backend.js')
  const { parseRouting, formatRouting } = await import('../diffusion/routing.js')
  const { loadDataset } = await import('../data/sources.js')
  const {
    loadClassifier, referenceStatistics, evaluateEnsemble, expertClusterLossMatrix, formatLossMatrix, promptGrid,
    LOSS_MATRIX_EVAL
  } = await import('../eval/index.js')
  const routings = (o.routing ?? []).map(parseRouting)

  await initBackend({ backend: o.backend })
  // The classifier first: it checks --samples before any network or checkpoint work, and
  // whatever is open when something fails is closed below.
  const classifier = await loadClassifier(o.classifier ?? o.dataset)
  let source: EvalSource | undefined
  try {
    const classes = classifier.info.classNames.length
    if (o.samples < 2 * classes) {
      const least = `at least ${2 * classes} (two per class, for the diversity)`
      throw new InvalidArgumentError(`--samples must be ${least}, got ${o.samples}`)
    }
    source = await openSource(o)
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
      process.stdout.write(evaluationLine(formatRouting(routing), evaluation) + '\n')
      if (i === 0 && o.grid !== undefined) await writeFile(resolve(o.grid), promptGrid(images, shape, prompts))
    }
    let lossMatrix
    if (source.heldOut !== undefined) {
      lossMatrix = await expertClusterLossMatrix(source.checkpoints, source.heldOut, LOSS_MATRIX_EVAL)
      process.stdout.write(['expert x cluster held-out loss:', ...formatLossMatrix(lossMatrix)].join('\n') + '\n')
    }
    const referenceDiversity = reference.diversity?.toFixed(3) ?? '-'
    process.stdout.write(`reference: ${reference.name} (${reference.count} images, diversity ${referenceDiversity})\n`)
    if (o.json !== undefined) {
      const report = {
        ensemble: source.id,
        dataset: o.dataset,
        classifier: { dataset: classifier.info.dataset, testAccuracy: classifier.info.testAccuracy },
        reference: { name: reference.name, count: reference.count, diversity: reference.diversity ?? null },
        results,
        lossMatrix: lossMatrix ?? null
      }
      await writeFile(resolve(o.json), JSON.stringify(report, null, 2) + '\n')
    }
  } finally {
    classifier.dispose()
    await source?.dispose()
    await disposeBackend()
  }
}

/** One routing's line of the summary: FID, diversity, prompt accuracy, cost. */
function evaluationLine (rule: string, e: EnsembleEvaluation): string {
  const diversity = `diversity ${e.diversity.mean.toFixed(3)} +- ${e.diversity.std.toFixed(3)}`
  const accuracy = `prompt accuracy ${(100 * e.promptAccuracy.accuracy).toFixed(1)}%`
  const cost = `${e.gflopsPerSample.toFixed(3)} GFLOPs/sample`
  const size = `${e.count} samples, ${e.seconds.toFixed(0)} s`
  return `${rule.padEnd(8)} FID ${e.fid.toFixed(2)}  ${diversity}  ${accuracy}  ${cost}  (${size})`
}

/** The ensemble from the swarm or from files (node/eval-source.ts). */
async function openSource (o: EvalCommandOptions): Promise<EvalSource> {
  const { evalSourceFromFiles, evalSourceFromSwarm } = await import('../node/eval-source.js')
  const heldOutDir = o.heldOut !== undefined ? resolve(o.heldOut) : undefined
  if (o.ensemble === undefined) {
    const experts = o.expert!.map((spec) => {
      const eq = spec.indexOf('=')
      const cluster = Number(spec.slice(0, eq))
      if (eq < 1 || !Number.isInteger(cluster) || cluster < 0) {
        throw new InvalidArgumentError(`--expert ${spec}: expected CLUSTER=FILE`)
      }
      return { cluster, file: resolve(spec.slice(eq + 1)) }
    })
    return await evalSourceFromFiles({ router: resolve(o.router!), experts, heldOutDir })
  }
  const { CID } = await import('multiformats/cid')
  let ensemble: import('multiformats/cid').CID
  try {
    ensemble = CID.parse(o.ensemble)
  } catch {
    throw new InvalidArgumentError(`--ensemble ${o.ensemble} is not a CID`)
  }
  const source = await evalSourceFromSwarm({
    ensemble, dataDir: o.dataDir !== undefined ? resolve(o.dataDir) : undefined, bootstrap: o.bootstrap ?? [],
    timeoutMs: o.timeout, heldOutDir, ...privateSwarm(o)
  })
  if (source.heldOut === undefined) {
    const note = 'the run manifest or its held-out shards are not reachable: no loss matrix (give --held-out DIR)'
    process.stderr.write(`hddm-node eval: ${note}\n`)
  }
  return source
}
