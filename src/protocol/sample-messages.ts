import * as dagJson from '@ipld/dag-json'
import { z } from 'zod'
import { RoutingTextSchema } from './ensemble-manifest.js'
import { InvalidMessageError } from './errors.js'
import {
  SAMPLE_MAX_COUNT, SAMPLE_MAX_PROMPT_CHARS, SAMPLE_MAX_PROMPTS, SAMPLE_MAX_REQUEST_BYTES,
  SAMPLE_MAX_RESPONSE_FRAME_BYTES, SAMPLE_MAX_STEPS
} from './limits.js'
import { cidString, formatIssues } from './schema-helpers.js'

/**
 * Frames of the sample protocol `/hddm/sample/1.0.0` (docs/PROTOCOL.md, "Sample protocol").
 * Each frame is one length-prefixed dag-json map: the client sends one request, the server
 * answers with progress frames, one image frame per sample, then `done` or `error`.
 */
export const SampleRequestSchema = z.strictObject({
  v: z.literal(1),
  ensemble: cidString,
  /** One prompt per image, cycled when shorter than `count`. */
  prompts: z.array(z.string().max(SAMPLE_MAX_PROMPT_CHARS)).min(1).max(SAMPLE_MAX_PROMPTS),
  count: z.int().min(1).max(SAMPLE_MAX_COUNT),
  steps: z.int().min(1).max(SAMPLE_MAX_STEPS),
  seed: z.int().min(0),
  /** Overrides the ensemble manifest's default routing. */
  routing: RoutingTextSchema.optional(),
  /** Classifier-free guidance scale; 1 means no guidance. */
  guidance: z.number().min(0).max(20).default(1)
})

/** Typed reasons a server refuses or aborts a request; clients map them to named errors. */
export const SAMPLE_ERROR_CODES = [
  'bad-request', 'busy', 'rate-limited', 'unknown-ensemble', 'invalid-ensemble', 'internal'
] as const

export const SampleResponseFrameSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('progress'), step: z.int().min(0), steps: z.int().min(1) }),
  z.strictObject({
    type: z.literal('image'), index: z.int().min(0), prompt: z.string(), png: z.instanceof(Uint8Array)
  }),
  z.strictObject({ type: z.literal('done'), count: z.int().min(0) }),
  z.strictObject({ type: z.literal('error'), code: z.enum(SAMPLE_ERROR_CODES), message: z.string().max(1024) })
])

export type SampleRequest = z.output<typeof SampleRequestSchema>
export type SampleRequestInput = z.input<typeof SampleRequestSchema>
export type SampleResponseFrame = z.infer<typeof SampleResponseFrameSchema>
export type SampleErrorCode = (typeof SAMPLE_ERROR_CODES)[number]

export function encodeSampleRequest (request: SampleRequestInput): Uint8Array {
  return encodeFrame(SampleRequestSchema, request, SAMPLE_MAX_REQUEST_BYTES)
}

/** @throws InvalidMessageError (`too-large`, `malformed`, `schema`) */
export function decodeSampleRequest (bytes: Uint8Array): SampleRequest {
  return decodeFrame(SampleRequestSchema, bytes, SAMPLE_MAX_REQUEST_BYTES)
}

export function encodeSampleFrame (frame: SampleResponseFrame): Uint8Array {
  return encodeFrame(SampleResponseFrameSchema, frame, SAMPLE_MAX_RESPONSE_FRAME_BYTES)
}

/** @throws InvalidMessageError (`too-large`, `malformed`, `schema`) */
export function decodeSampleFrame (bytes: Uint8Array): SampleResponseFrame {
  return decodeFrame(SampleResponseFrameSchema, bytes, SAMPLE_MAX_RESPONSE_FRAME_BYTES)
}

function encodeFrame<S extends z.ZodType> (schema: S, value: unknown, cap: number): Uint8Array {
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new InvalidMessageError('schema', formatIssues(parsed.error).join('; '))
  const bytes = dagJson.encode(parsed.data)
  checkSize(bytes, cap)
  return bytes
}

function decodeFrame<S extends z.ZodType> (schema: S, bytes: Uint8Array, cap: number): z.output<S> {
  checkSize(bytes, cap)
  let value: unknown
  try {
    value = dagJson.decode(bytes)
  } catch (err) {
    throw new InvalidMessageError('malformed', `not dag-json: ${(err as Error).message}`)
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new InvalidMessageError('schema', formatIssues(parsed.error).join('; '))
  return parsed.data
}

function checkSize (bytes: Uint8Array, cap: number): void {
  if (bytes.byteLength <= cap) return
  throw new InvalidMessageError('too-large', `frame is ${bytes.byteLength} bytes, cap is ${cap}`)
}
