import { HddmError } from '../errors.js'

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
