/**
 * A tiny TCP tool that runs inside a host's namespace (`node --import tsx test/netns/tcp-probe.ts`)
 * and takes requests as JSON lines on stdin, answering each with one JSON line on stdout with
 * the same `id`. One process per host serves a whole test, so tsx starts once per host.
 *
 * Requests: `listen {host, port}` (a server that records who connected, sinks bulk transfers
 * and echoes pings), `accepted {}` (the remote addresses seen so far), `connect {host, port,
 * timeoutMs}`, `send {host, port, bytes}` (a bulk transfer, timed until the server has it all),
 * `rtt {host, port, count}` (1-byte round trips).
 *
 * On the wire, a connection's first byte says what it is: `B` then an 8-byte length and that
 * many bytes (answered with `k` once all arrived), `E` then bytes echoed back, else nothing.
 */
import { connect, createServer, type Socket } from 'node:net'
import { createInterface } from 'node:readline'

export type ProbeRequest =
  | { op: 'listen', host: string, port: number }
  | { op: 'accepted' }
  | { op: 'connect', host: string, port: number, timeoutMs: number }
  | { op: 'send', host: string, port: number, bytes: number }
  | { op: 'rtt', host: string, port: number, count: number }

const accepted: string[] = []

function serve (socket: Socket): void {
  accepted.push(socket.remoteAddress ?? '?')
  socket.on('error', () => {})
  let mode: number | undefined
  let header = Buffer.alloc(0)
  let left = -1n
  socket.on('data', (chunk: Buffer) => {
    if (mode === undefined) {
      mode = chunk[0]
      chunk = chunk.subarray(1)
    }
    if (mode === 0x45) { socket.write(chunk); return } // 'E'
    if (mode !== 0x42) return // 'B'
    if (left < 0n) {
      header = Buffer.concat([header, chunk])
      if (header.length < 8) return
      left = header.readBigUInt64BE(0)
      chunk = header.subarray(8)
    }
    left -= BigInt(chunk.length)
    if (left === 0n) socket.end('k')
  })
}

async function opened (host: string, port: number, timeoutMs = 30_000): Promise<Socket> {
  const socket = connect({ host, port })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('ETIMEDOUT')) }, timeoutMs)
    socket.once('connect', () => { clearTimeout(timer); resolve(socket) })
    socket.once('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

async function handle (r: ProbeRequest): Promise<Record<string, unknown>> {
  switch (r.op) {
    case 'listen': {
      const server = createServer(serve)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(r.port, r.host, resolve)
      })
      return { port: (server.address() as { port: number }).port }
    }
    case 'accepted': return { remotes: accepted }
    case 'connect': {
      try {
        (await opened(r.host, r.port, r.timeoutMs)).destroy()
        return { connected: true }
      } catch (err) {
        return { connected: false, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message }
      }
    }
    case 'send': {
      const started = performance.now()
      const socket = await opened(r.host, r.port)
      const done = new Promise<void>((resolve) => { socket.once('data', () => { resolve() }) })
      const header = Buffer.alloc(9)
      header[0] = 0x42
      header.writeBigUInt64BE(BigInt(r.bytes), 1)
      socket.write(header)
      const chunk = Buffer.alloc(64 * 1024, 7)
      for (let sent = 0; sent < r.bytes; sent += chunk.length) {
        const part = chunk.subarray(0, Math.min(chunk.length, r.bytes - sent))
        if (!socket.write(part)) await new Promise((resolve) => socket.once('drain', resolve))
      }
      await done
      socket.destroy()
      return { ms: performance.now() - started }
    }
    case 'rtt': {
      const socket = await opened(r.host, r.port)
      socket.setNoDelay(true)
      socket.write('E')
      const ms: number[] = []
      for (let i = 0; i < r.count; i++) {
        const started = performance.now()
        const echoed = new Promise((resolve) => socket.once('data', resolve))
        socket.write('p')
        await echoed
        ms.push(performance.now() - started)
      }
      socket.destroy()
      return { ms }
    }
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const request = JSON.parse(line) as ProbeRequest & { id: number }
  handle(request).then(
    (answer) => { process.stdout.write(JSON.stringify({ id: request.id, ...answer }) + '\n') },
    (err: Error) => { process.stdout.write(JSON.stringify({ id: request.id, error: err.message }) + '\n') }
  )
})
process.stdout.write(JSON.stringify({ id: 0, ready: true }) + '\n')
