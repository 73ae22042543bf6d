import { HddmError } from '../hddm-error.js'

/** The bytes are not a well-formed checkpoint (truncated, bad header, bad offsets, wrong dtype). */
export class CorruptCheckpointError extends HddmError {
  static override name = 'CorruptCheckpointError'
  override name = 'CorruptCheckpointError'
}

/** A well-formed checkpoint that does not fit the model asked for (preset, tensor names or shapes). */
export class ShapeMismatchError extends HddmError {
  static override name = 'ShapeMismatchError'
  override name = 'ShapeMismatchError'
}

/** A checkpoint or init file that does not exist or cannot be read. */
export class CheckpointNotFoundError extends HddmError {
  static override name = 'CheckpointNotFoundError'
  override name = 'CheckpointNotFoundError'
}

/**
 * A public checkpoint (DiT, diffusers, PixArt) whose tensor names or shapes match no layout
 * `hddm-node import` supports, or that carries something hddm's expert cannot represent.
 */
export class UnsupportedLayoutError extends HddmError {
  static override name = 'UnsupportedLayoutError'
  override name = 'UnsupportedLayoutError'
}
