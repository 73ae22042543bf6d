import { connect } from 'node:net'
import { getNetConfig, lpStream } from '@libp2p/utils'
import {
  decodeDialBackRequest, decodeDialBackResponse, DIAL_BACK_MAX_FRAME_BYTES, DIAL_BACK_PROTOCOL,
  encodeDialBackRequest, encodeDialBackResponse, type DialBackResponse
} from '../protocol/dial-back-messages.js'
import type { AbortOptions } from '../progress.js'
import type { ComponentLogger, Connection, Libp2p, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'

/** How long the answering peer waits for a TCP handshake: a NAT drops the SYN, so this is the cost of "no". */
export const DIAL_BACK_TIMEOUT_MS = 3_000
/** Checks answered at once; more are refused (each holds sockets open for up to the timeout). */
const MAX_CONCURRENT = 8

export interface DialBackComponents { registrar: Registrar, logger: ComponentLogger }

/**
 * The answering side of `/hddm/dial-back/1.0.0`: opens a bare TCP connection to the asking
 * peer's address as seen on this connection, on each port it names, and says which were
 * accepted. It dials only the address the request came from (never one the requester names),
 * so it cannot be pointed at a third party; a relayed request is refused, its address being the
 * relay's.
 */
export class DialBack {
  private readonly registrar: Registrar
  private readonly log: Logger
  private running = 0

  constructor (components: DialBackComponents) {
    this.registrar = components.registrar
    this.log = components.logger.forComponent('hddm:dial-back')
  }

  async start (): Promise<void> {
    await this.registrar.handle(DIAL_BACK_PROTOCOL, async (stream, connection) => {
      await this.answer(stream, connection)
    }, { maxInboundStreams: 1 })
  }

  async stop (): Promise<void> {
    await this.registrar.unhandle(DIAL_BACK_PROTOCOL)
  }

  private async answer (stream: Stream, connection: Connection): Promise<void> {
    if (connection.limits != null || this.running >= MAX_CONCURRENT) {
      stream.abort(new Error('dial-back refused'))
      return
    }
    this.running++
    try {
      const signal = AbortSignal.timeout(DIAL_BACK_TIMEOUT_MS * 2)
      const lp = lpStream(stream, { maxDataLength: DIAL_BACK_MAX_FRAME_BYTES })
      const ports = decodeDialBackRequest((await lp.read({ signal })).subarray())
      const { host } = getNetConfig(connection.remoteAddr)
      const reachable = await Promise.all(ports.map(async (port) => await tcpAccepts(host, port)))
      await lp.write(encodeDialBackResponse({ observedHost: host, reachable }), { signal })
      await stream.close()
    } catch (err) {
      this.log('dial-back request from %p failed - %e', connection.remotePeer, err)
      stream.abort(err as Error)
    } finally {
      this.running--
    }
  }
}

export function dialBack (): (components: DialBackComponents) => DialBack {
  return (components) => new DialBack(components)
}

/** Whether host:port completes a TCP handshake within the timeout. */
export async function tcpAccepts (host: string, port: number, timeoutMs = DIAL_BACK_TIMEOUT_MS): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs })
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
    socket.once('connect', () => { done(true) })
    socket.once('timeout', () => { done(false) })
    socket.once('error', () => { done(false) })
  })
}

/** Asks `peer` to dial us back on `ports`. @throws when the peer does not answer or answers garbage */
export async function requestDialBack (
  libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, ports: number[], options: AbortOptions = {}
): Promise<DialBackResponse> {
  const signal = options.signal ?? AbortSignal.timeout(DIAL_BACK_TIMEOUT_MS * 3)
  const stream = await libp2p.dialProtocol(peer, DIAL_BACK_PROTOCOL, { signal })
  try {
    const lp = lpStream(stream, { maxDataLength: DIAL_BACK_MAX_FRAME_BYTES })
    await lp.write(encodeDialBackRequest(ports), { signal })
    return decodeDialBackResponse((await lp.read({ signal })).subarray(), ports.length)
  } finally {
    await stream.close().catch(() => {})
  }
}
