import { HddmError } from '../hddm-error.js'

/** Dataset bytes or files that cannot be read as what they claim to be (bad magic, wrong dims, truncated, missing). */
export class InvalidDatasetError extends HddmError {
  static override name = 'InvalidDatasetError'
  override name = 'InvalidDatasetError'
}

/** A PNG that is corrupt or uses a feature the codec does not decode (e.g. interlacing). */
export class InvalidPngError extends HddmError {
  static override name = 'InvalidPngError'
  override name = 'InvalidPngError'
}

/** Shard bytes that are corrupt, truncated, of another format version, or inconsistent with their header. */
export class InvalidShardError extends HddmError {
  static override name = 'InvalidShardError'
  override name = 'InvalidShardError'
}

/** A serialised tokenizer that does not validate. */
export class InvalidTokenizerError extends HddmError {
  static override name = 'InvalidTokenizerError'
  override name = 'InvalidTokenizerError'
}
