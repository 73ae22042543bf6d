/**
 * Names of the network namespaces a test internet makes, and the sweep of leftovers. Every
 * namespace is `hddmnet-<pid>-<tag>-<host>`: the pid is the test process that owns it, so a
 * leftover (a run that was SIGKILLed before its afterAll) is recognised as one whose owner is
 * gone, while the namespaces of a test running beside this one are left alone.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const NETNS_DIR = '/run/netns'
const NAME = /^hddmnet-(\d+)-([0-9a-f]+)-/

/** `ip`, `iptables`, `tc` and `sysctl` live in sbin, which a non-login PATH may lack. */
export const TOOLS_ENV = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` }

/** A fresh prefix for one internet: the owner's pid and a random tag. */
export function newPrefix (pid = process.pid): string {
  return `hddmnet-${pid}-${randomBytes(3).toString('hex')}-`
}

/** The owning pid of a namespace this harness made, or undefined for anyone else's. */
export function ownerOf (ns: string): number | undefined {
  const m = NAME.exec(ns)
  return m === null ? undefined : Number(m[1])
}

/** When a live process started (ms since the epoch), from /proc: tells a reused pid from the owner. */
async function startedAtMs (pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // Field 22, counted after the parenthesised command name (which may hold spaces).
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
    const boot = Number(/^btime (\d+)$/m.exec(await readFile('/proc/stat', 'utf8'))?.[1])
    // USER_HZ is 100 on every Linux architecture that matters here.
    return boot * 1000 + ticks * 10
  } catch {
    return undefined
  }
}

/** Whether the namespace's owner is gone: dead, or its pid now names a process started later. */
async function isStale (ns: string): Promise<boolean> {
  const owner = ownerOf(ns)
  if (owner === undefined) return false
  const started = await startedAtMs(owner)
  if (started === undefined) return true
  const made = (await stat(`${NETNS_DIR}/${ns}`)).mtimeMs
  // A second of slack: /proc's start time is counted in ticks.
  return started > made + 1000
}

/**
 * Deletes a namespace, first killing what still runs in it: a process holds a namespace (and
 * its interfaces) alive after `ip netns delete`. Only ever called on this harness's namespaces.
 */
export async function deleteNamespace (ns: string): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'pids', ns], { env: TOOLS_ENV }).catch(() => ({ stdout: '' }))
  for (const pid of stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
  await run('ip', ['netns', 'delete', ns], { env: TOOLS_ENV }).catch(() => {})
}

/** Removes the namespaces of earlier runs whose test process is gone. @returns their names */
export async function sweepStaleNamespaces (): Promise<string[]> {
  if (!existsSync(NETNS_DIR)) return []
  const stale: string[] = []
  for (const ns of await readdir(NETNS_DIR)) {
    if (await isStale(ns).catch(() => false)) stale.push(ns)
  }
  for (const ns of stale) await deleteNamespace(ns)
  return stale
}

/** The namespaces that exist now with this prefix. */
export async function namespacesWith (prefix: string): Promise<string[]> {
  if (!existsSync(NETNS_DIR)) return []
  return (await readdir(NETNS_DIR)).filter((ns) => ns.startsWith(prefix))
}

export interface NetnsSupport {
  ok: boolean
  /** Why namespaces cannot be made here, when they cannot. */
  reason?: string
}

/**
 * Whether this process can build a test internet: root, and `ip netns add` works (a container
 * without CAP_SYS_ADMIN fails there). iptables is not checked here: .ci/run installs it and
 * test/prerequisites.test.ts fails when it is missing, rather than the tests skipping.
 */
export async function netnsSupport (): Promise<NetnsSupport> {
  if (process.platform !== 'linux') {
    return { ok: false, reason: `network namespaces need Linux, not ${process.platform}` }
  }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root (run the tests as root)' }
  const probe = `${newPrefix()}probe`
  try {
    await run('ip', ['netns', 'add', probe], { env: TOOLS_ENV })
  } catch (err) {
    const why = (err as { code?: string }).code === 'ENOENT'
      ? '`ip` (iproute2) is not installed'
      : `\`ip netns add\` failed: ${String((err as { stderr?: string }).stderr ?? err).trim()}`
    return { ok: false, reason: why }
  }
  await deleteNamespace(probe)
  return { ok: true }
}

/**
 * Fails the calling test file, naming what is missing, where namespaces cannot be made: CI runs
 * as root and .ci/run installs iproute2 and iptables, so these tests run there, never skip.
 */
export async function requireNetns (): Promise<void> {
  const support = await netnsSupport()
  if (!support.ok) {
    throw new Error(`test/netns needs network namespaces: ${support.reason ?? ''} ` +
      '(run as root with iproute2 and iptables; .ci/run installs them)')
  }
}
