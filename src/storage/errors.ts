import { HddmError } from '../hddm-error.js'

/** An offline read (`offline: true`) asked for a block this node does not hold. */
export class BlockNotFoundError extends HddmError {
  static override name = 'BlockNotFoundError'
  override name = 'BlockNotFoundError'
}

/** No peer supplied the content within the fetch timeout (the CID may not exist anywhere). */
export class FetchTimeoutError extends HddmError {
  static override name = 'FetchTimeoutError'
  override name = 'FetchTimeoutError'
}

/** The content is larger than the caller's `maxBytes`: refused before (or while) downloading it. */
export class ContentTooLargeError extends HddmError {
  static override name = 'ContentTooLargeError'
  override name = 'ContentTooLargeError'
}

/** The CID's codec is not the one the read expects (e.g. a dag-json read of a raw block). */
export class WrongCodecError extends HddmError {
  static override name = 'WrongCodecError'
  override name = 'WrongCodecError'
}

/** The CID does not name a UnixFS file (a directory, or a block of another codec). */
export class NotAFileError extends HddmError {
  static override name = 'NotAFileError'
  override name = 'NotAFileError'
}

/** A peer sent a block whose hash is not the CID it stands for: the peer lies (or its disk is corrupt). */
export class BlockVerificationError extends HddmError {
  static override name = 'BlockVerificationError'
  override name = 'BlockVerificationError'
}

/** A file transfer broke the protocol: a cut-short stream, an oversized frame, a DAG that is not a file. */
export class TransferProtocolError extends HddmError {
  static override name = 'TransferProtocolError'
  override name = 'TransferProtocolError'
}
