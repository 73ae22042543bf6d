/**
 * The test side of a helper process that answers JSON requests, one per line on stdin, with one
 * JSON answer per line on stdout carrying the request's `id` (id 0: "ready"). tcp-probe.ts and
 * swarm-peer.ts are such processes; Probe and SwarmPeer add their typed requests on top.
 */
import { createInterface } from 'node:readline'
import { waitFor } from '../utils/wait.js'
import type { ChildProcess } from 'node:child_process'

type Answer = Record<string, unknown> & { id: number, error?: string }

/** The last bytes of a child's stderr kept for error messages. */
const STDERR_KEPT = 8000

export class LineRpcChild<Request extends object> {
  readonly host: string
  protected readonly child: ChildProcess
  private readonly role: string
  private readonly answers = new Map<number, Answer>()
  private next = 1
  private stderr = ''

  /** `role` names the process in errors: "the probe on pub-1". */
  constructor (host: string, child: ChildProcess, role: string) {
    this.host = host
    this.child = child
    this.role = role
    child.stderr?.on('data', (chunk: Buffer) => { this.stderr = (this.stderr + chunk.toString()).slice(-STDERR_KEPT) })
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const answer = JSON.parse(line) as Answer
        this.answers.set(answer.id, answer)
      } catch {}
    })
  }

  /** Resolves once the process has loaded and said so. */
  async ready (timeoutMs = 60_000): Promise<void> { await this.answer(0, timeoutMs) }

  protected async request<T> (request: Request, timeoutMs = 60_000): Promise<T> {
    const id = this.next++
    this.child.stdin!.write(JSON.stringify({ id, ...request }) + '\n')
    return await this.answer(id, timeoutMs) as T
  }

  private async answer (id: number, timeoutMs: number): Promise<Answer> {
    const answer = await waitFor(() => this.answers.get(id) ?? this.child.exitCode !== null,
      `the ${this.role} on ${this.host} to answer request ${id}`,
      { timeoutMs, intervalMs: 10, explain: () => this.stderr })
    if (answer === true) throw new Error(`the ${this.role} on ${this.host} exited: ${this.stderr}`)
    this.answers.delete(id)
    if (answer.error !== undefined) throw new Error(`${this.role} on ${this.host}: ${answer.error}`)
    return answer
  }
}
