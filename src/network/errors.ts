import { HddmError } from '../hddm-error.js'

/** Another live process holds `<dataDir>/LOCK`: two nodes must never share one identity or blockstore. */
export class DataDirInUseError extends HddmError {
  static override name = 'DataDirInUseError'
  override name = 'DataDirInUseError'
}

/** `<dataDir>/identity.key` exists but is not a protobuf-encoded Ed25519 private key. */
export class InvalidIdentityError extends HddmError {
  static override name = 'InvalidIdentityError'
  override name = 'InvalidIdentityError'
}

/** A service was used before `start()` or after `stop()`. */
export class NotStartedError extends HddmError {
  static override name = 'NotStartedError'
  override name = 'NotStartedError'
  constructor (message = 'The service is not started') { super(message) }
}

/** `publish` or `leave` named a run this node has not joined. */
export class NotJoinedError extends HddmError {
  static override name = 'NotJoinedError'
  override name = 'NotJoinedError'
}

/** A listen, announce or bootstrap address is not a valid multiaddr (or not allowed by the gater). */
export class InvalidMultiaddrError extends HddmError {
  static override name = 'InvalidMultiaddrError'
  override name = 'InvalidMultiaddrError'
}

/** `publish` was given bytes that the run's validator does not accept; `code` says why. */
export class InvalidGossipMessageError extends HddmError {
  static override name = 'InvalidGossipMessageError'
  override name = 'InvalidGossipMessageError'
  readonly code: string
  constructor (message: string, code: string) {
    super(message)
    this.code = code
  }
}

/** A swarm key file is missing, unreadable or not in the `/key/swarm/psk/1.0.0/` format. */
export class InvalidSwarmKeyError extends HddmError {
  static override name = 'InvalidSwarmKeyError'
  override name = 'InvalidSwarmKeyError'
}

/** `keygen` was asked to write over an existing key file: replacing a key cuts its holders off. */
export class SwarmKeyExistsError extends HddmError {
  static override name = 'SwarmKeyExistsError'
  override name = 'SwarmKeyExistsError'
}

/** An allowlist entry is not a peer id. */
export class InvalidPeerIdError extends HddmError {
  static override name = 'InvalidPeerIdError'
  override name = 'InvalidPeerIdError'
}

/** Bootstrap peers were listed, answering was required, and none answered. */
export class NoBootstrapPeerError extends HddmError {
  static override name = 'NoBootstrapPeerError'
  override name = 'NoBootstrapPeerError'
}
