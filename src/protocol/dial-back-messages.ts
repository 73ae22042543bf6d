/**
 * `/hddm/dial-back/1.0.0` (src/network/dial-back.ts): a peer asks another to open a TCP
 * connection back to it, to learn whether it can be reached from outside. Both messages are
 * one length-prefixed frame of fixed, tiny layout: no schema is worth its weight here.
 *
 * request:  up to DIAL_BACK_MAX_PORTS big-endian uint16 ports
 * response: one byte per requested port (1 = a TCP connection was accepted), then the
 *           requester's address as the answering peer saw it (UTF-8)
 */
import { HddmError } from '../hddm-error.js'

/** Bytes that are not a well-formed dial-back message. */
export class InvalidDialBackMessageError extends HddmError {
  static override name = 'InvalidDialBackMessageError'
  override name = 'InvalidDialBackMessageError'
}

export const DIAL_BACK_PROTOCOL = '/hddm/dial-back/1.0.0'
export const DIAL_BACK_MAX_PORTS = 4
/** A frame is never longer than this (ports or results, plus an IPv6 address in text). */
export const DIAL_BACK_MAX_FRAME_BYTES = 64

export interface DialBackResponse {
  /** The requester's IP as the answering peer saw it: its router's, behind NAT. */
  observedHost: string
  /** Per requested port, in order: whether a TCP connection to observedHost:port was accepted. */
  reachable: boolean[]
}

export function encodeDialBackRequest (ports: number[]): Uint8Array {
  if (ports.length === 0 || ports.length > DIAL_BACK_MAX_PORTS) {
    throw new InvalidDialBackMessageError(`a dial-back request names 1 to ${DIAL_BACK_MAX_PORTS} ports`)
  }
  const bytes = new Uint8Array(ports.length * 2)
  const view = new DataView(bytes.buffer)
  ports.forEach((port, i) => {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidDialBackMessageError(`bad port ${port}`)
    view.setUint16(i * 2, port)
  })
  return bytes
}

export function decodeDialBackRequest (bytes: Uint8Array): number[] {
  if (bytes.length === 0 || bytes.length % 2 !== 0 || bytes.length > DIAL_BACK_MAX_PORTS * 2) {
    throw new InvalidDialBackMessageError(`a dial-back request of ${bytes.length} bytes`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const ports = Array.from({ length: bytes.length / 2 }, (_, i) => view.getUint16(i * 2))
  if (ports.includes(0)) throw new InvalidDialBackMessageError('port 0 in a dial-back request')
  return ports
}

export function encodeDialBackResponse (response: DialBackResponse): Uint8Array {
  const host = new TextEncoder().encode(response.observedHost)
  const bytes = new Uint8Array(1 + response.reachable.length + host.length)
  bytes[0] = response.reachable.length
  response.reachable.forEach((ok, i) => { bytes[1 + i] = ok ? 1 : 0 })
  bytes.set(host, 1 + response.reachable.length)
  return bytes
}

export function decodeDialBackResponse (bytes: Uint8Array, ports: number): DialBackResponse {
  const n = bytes[0]
  if (bytes.length < 1 + n || n !== ports) {
    throw new InvalidDialBackMessageError(`a dial-back response for ${String(n)} ports, asked ${ports}`)
  }
  const reachable = Array.from(bytes.subarray(1, 1 + n), (b) => b === 1)
  const observedHost = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(1 + n))
  if (!/^[0-9a-fA-F.:]{2,45}$/.test(observedHost)) throw new InvalidDialBackMessageError('bad observed address')
  return { observedHost, reachable }
}
