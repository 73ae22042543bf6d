import * as dagJson from '@ipld/dag-json'
import type { CID } from 'multiformats/cid'
import { z } from 'zod'
import { cidOfCanonical, DAG_JSON_CODE, encodeCanonical } from './canonical.js'
import { InvalidManifestError } from './errors.js'
import { MAX_CLUSTERS, MAX_ENSEMBLE_MANIFEST_BYTES } from './limits.js'
import { cidLink, formatIssues, UNIXFS_CODECS } from './schema-helpers.js'

/** Checkpoints are safetensors files in UnixFS. */
const checkpointLink = cidLink.refine((cid) => UNIXFS_CODECS.has(cid.code), {
  message: 'not a UnixFS file CID (dag-pb or raw)'
})

/**
 * Routing at inference as text (DESIGN section 4, `parseRouting` in src/diffusion): `full`,
 * `topK`, or `threshold:p`. Thresholds are rewritten in shortest form (`threshold:0.50` ->
 * `threshold:0.5`) so that one routing rule gives one manifest CID.
 */
const ROUTING_TEXT = /^(?:full|top[1-9][0-9]{0,2}|threshold:(?:0(?:\.[0-9]{1,6})?|1(?:\.0{1,6})?))$/
export const RoutingTextSchema = z.string()
  .regex(ROUTING_TEXT, 'full, topK or threshold:p with 0 <= p <= 1')
  .transform((text) => text.startsWith('threshold:') ? `threshold:${Number(text.slice('threshold:'.length))}` : text)
export type RoutingText = z.output<typeof RoutingTextSchema>

const EnsembleObject = z.strictObject({
  v: z.literal(1),
  /** The run the experts were trained in (its dag-json CID). */
  run: cidLink.refine((cid) => cid.code === DAG_JSON_CODE, { message: 'run id must be a dag-json CID' }),
  k: z.int().min(1).max(MAX_CLUSTERS),
  router: checkpointLink,
  /** One expert per cluster at most; a partial ensemble renormalises the router over its experts. */
  experts: z.array(z.strictObject({
    cid: checkpointLink,
    cluster: z.int().min(0),
    objective: z.enum(['ddpm', 'fm'])
  })).min(1),
  /** Default routing when a sample request does not choose one. */
  routing: RoutingTextSchema.default('full')
})

export const EnsembleManifestSchema = EnsembleObject.superRefine((m, ctx) => {
  const seen = new Set<number>()
  m.experts.forEach((expert, i) => {
    const path = ['experts', i, 'cluster']
    const issue = (message: string): void => { ctx.addIssue({ code: 'custom', path, message }) }
    if (expert.cluster >= m.k) issue(`cluster ${expert.cluster} is outside 0..${m.k - 1}`)
    if (seen.has(expert.cluster)) issue(`second expert for cluster ${expert.cluster}`)
    seen.add(expert.cluster)
  })
})

export type EnsembleManifestInput = z.input<typeof EnsembleManifestSchema>
export type EnsembleManifest = z.output<typeof EnsembleManifestSchema>

/**
 * Validates an ensemble manifest, fills defaults and orders experts by cluster, so that the same
 * router and experts always give the same bytes and the same model CID. @throws InvalidManifestError
 */
export function parseEnsembleManifest (value: unknown): EnsembleManifest {
  const parsed = EnsembleManifestSchema.safeParse(value)
  if (!parsed.success) throw new InvalidManifestError('invalid ensemble manifest', formatIssues(parsed.error))
  return { ...parsed.data, experts: [...parsed.data.experts].sort((a, b) => a.cluster - b.cluster) }
}

export function encodeEnsembleManifest (manifest: EnsembleManifestInput): Uint8Array {
  const bytes = encodeCanonical(parseEnsembleManifest(manifest))
  checkSize(bytes)
  return bytes
}

/** Decodes an ensemble manifest fetched by its CID. @throws InvalidManifestError */
export function decodeEnsembleManifest (bytes: Uint8Array): EnsembleManifest {
  checkSize(bytes)
  let value: unknown
  try {
    value = dagJson.decode(bytes)
  } catch (err) {
    throw new InvalidManifestError('ensemble manifest is not dag-json', [(err as Error).message])
  }
  return parseEnsembleManifest(value)
}

/** The model's name: CIDv1 (dag-json, sha2-256) of the canonical ensemble manifest. */
export async function ensembleIdOf (manifest: EnsembleManifestInput): Promise<CID> {
  return cidOfCanonical(encodeEnsembleManifest(manifest))
}

function checkSize (bytes: Uint8Array): void {
  if (bytes.byteLength > MAX_ENSEMBLE_MANIFEST_BYTES) {
    throw new InvalidManifestError(`ensemble manifest exceeds ${MAX_ENSEMBLE_MANIFEST_BYTES} bytes`)
  }
}
