/**
 * Every size cap and time bound of the hddm wire protocol, in one place. docs/PROTOCOL.md
 * quotes these names; change a value here and there together.
 */

/**
 * Largest encoded gossip message. The biggest legitimate message (a checkpoint announcement:
 * two CIDs, a peer id, a task id and three numbers) is about 400 bytes of dag-json, so 2 KiB
 * leaves room without letting one peer push bulk data through the mesh: bulk data moves by CID.
 */
export const MAX_GOSSIP_MESSAGE_BYTES = 2048

/** Task ids are short slugs (`expert-3`, `router`); the cap keeps claim-table keys small. */
export const MAX_TASK_ID_LENGTH = 64

/** A nonce is 8 to 32 random bytes, hex; 8 bytes make accidental reuse by one peer negligible. */
export const MIN_NONCE_HEX_LENGTH = 16
export const MAX_NONCE_HEX_LENGTH = 64

/**
 * How far a sender's clock may run ahead of ours. Messages stamped further in the future are
 * ignored, so a peer cannot buy claim priority by post-dating beyond this bound.
 */
export const MAX_CLOCK_SKEW_MS = 30_000

/**
 * How old a message may be when it arrives: the clock skew in the other direction plus gossip
 * propagation. It also bounds how long the duplicate filter must remember a nonce: anything
 * older is ignored as stale, so a forgotten nonce cannot be replayed.
 */
export const MAX_MESSAGE_AGE_MS = 60_000

/** Default claim lease when a manifest does not set one; progress messages renew it. */
export const DEFAULT_LEASE_MS = 120_000

/** Bounds on a manifest's lease: shorter than a few heartbeats flaps, longer strands a task. */
export const MIN_LEASE_MS = 5_000
export const MAX_LEASE_MS = 3_600_000

/**
 * How long a holder may go without lease evidence (docs/PROTOCOL.md section 5.8) when the
 * manifest does not say: a checkpoint of its task that every node fetches and checks itself.
 * `manifests/default.json` checkpoints every 1 000 expert steps; three contributors on two
 * cores take about 121 ms a step natively (2 min per checkpoint) and 4-9x that on wasm (up to
 * 18 min), so 30 min leaves honest slow contributors a margin while a squatter holds a task for
 * at most that long per penalty.
 */
export const DEFAULT_EVIDENCE_MS = 30 * 60_000

/** Bounds on a manifest's evidence window and penalty: shorter than a lease flaps, a week is plenty. */
export const MIN_EVIDENCE_MS = 5_000
export const MAX_EVIDENCE_MS = 7 * 24 * 3_600_000

/**
 * Held-out examples a node scores each evidence checkpoint on (an expert: one batch of this many
 * from its cluster; the router: this many of each cluster). The evidence check tells training from
 * no training, once per checkpoint per holder on every node, so it must be cheap; the thorough
 * judgement is the final's (section 7.1), with `eval.heldOutBatches` batches and fresh seeds.
 */
export const EVIDENCE_EXAMPLES = 16

/** Largest per-address-range task cap a manifest may set (more than any run has tasks). */
export const MAX_TASKS_PER_ADDRESS_RANGE = 4096

/** Entries the duplicate filter keeps; the oldest are evicted first when it is full. */
export const SEEN_CACHE_SIZE = 16_384

/** Largest run manifest (resolved, dag-json); K up to 256 shards fits in far less. */
export const MAX_RUN_MANIFEST_BYTES = 256 * 1024

/** Largest ensemble manifest (dag-json). */
export const MAX_ENSEMBLE_MANIFEST_BYTES = 64 * 1024

/** Largest K a run may declare; keeps manifests and router heads bounded. */
export const MAX_CLUSTERS = 256

/** Largest number of replicas per task and tasks per peer a manifest may ask for. */
export const MAX_REPLICAS = 16
export const MAX_TASKS_PER_PEER = 64

/**
 * Claim-table memory per (task, peer): the newest claims kept. Only a peer that spams its own
 * claims can hit it, and then only its own priority suffers.
 */
export const MAX_CLAIMS_PER_PEER_TASK = 4

// Sample protocol `/hddm/sample/1.0.0` (see docs/PROTOCOL.md section "Sample protocol").

/** Largest request frame: a few prompts and options, never image data. */
export const SAMPLE_MAX_REQUEST_BYTES = 4096
/** Images per request; each one costs `steps` forward passes of every routed expert. */
export const SAMPLE_MAX_COUNT = 64
/** Sampler steps per request; 250 is well past where Euler/Heun stop improving. */
export const SAMPLE_MAX_STEPS = 250
/** Prompts per request and characters per prompt. */
export const SAMPLE_MAX_PROMPTS = 64
export const SAMPLE_MAX_PROMPT_CHARS = 256
/** Requests a serving peer runs at once; more queue or are refused with `busy`. */
export const SAMPLE_MAX_CONCURRENT = 2
/** Per-peer rate limit: requests allowed per window. */
export const SAMPLE_RATE_LIMIT_REQUESTS = 10
export const SAMPLE_RATE_LIMIT_WINDOW_MS = 60_000
/** Largest response frame: one PNG of a small image, or a progress/done/error frame. */
export const SAMPLE_MAX_RESPONSE_FRAME_BYTES = 1024 * 1024
