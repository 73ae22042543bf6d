import { CID } from 'multiformats/cid'
import { InvalidArgumentError } from '../hddm-error.js'

/** Prefix of the per-run gossip topic; the `1` is the protocol major version. */
export const RUN_TOPIC_PREFIX = '/hddm/1/run/'

/** Request/response protocol for sampling from an ensemble on another peer. */
export const SAMPLE_PROTOCOL = '/hddm/sample/1.0.0'

/**
 * The gossip topic of a run: `/hddm/1/run/<runCID>`. The CID is normalised to its canonical
 * string (base32 CIDv1) so that every peer subscribes to the same topic whatever form it was given.
 */
export function runTopic (runCid: string | CID): string {
  return RUN_TOPIC_PREFIX + parseCid(runCid).toString()
}

/** The run CID string of a run topic, or undefined when the topic is not one of ours. */
export function parseRunTopic (topic: string): string | undefined {
  if (!topic.startsWith(RUN_TOPIC_PREFIX)) return undefined
  const rest = topic.slice(RUN_TOPIC_PREFIX.length)
  try {
    const cid = CID.parse(rest)
    return cid.toString() === rest ? rest : undefined
  } catch {
    return undefined
  }
}

function parseCid (value: string | CID): CID {
  if (typeof value !== 'string') return value
  try {
    return CID.parse(value)
  } catch {
    throw new InvalidArgumentError(`not a CID: ${value.slice(0, 80)}`)
  }
}
