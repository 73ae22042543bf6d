/**
 * Commander argument parsers shared by the commands: a bad value is an InvalidArgumentError
 * (one line, exit 1), never commander's own message and exit code.
 */
import { Option } from 'commander'
import { InvalidArgumentError } from '../errors.js'
import { BACKEND_CHOICES } from '../runtime/backend-choice.js'
import type { SwarmNodeInit } from '../network/swarm-node.js'

export function integerOption (flag: string, min = -Infinity) {
  return (value: string): number => {
    const v = Number(value)
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(v) || v < min) {
      throw new InvalidArgumentError(`${flag} must be an integer${min > -Infinity ? ` >= ${min}` : ''}, got ${value}`)
    }
    return v
  }
}

export function numberOption (flag: string, min = -Infinity) {
  return (value: string): number => {
    const v = Number(value)
    if (value.trim() === '' || !Number.isFinite(v) || v < min) {
      throw new InvalidArgumentError(`${flag} must be a number${min > -Infinity ? ` >= ${min}` : ''}, got ${value}`)
    }
    return v
  }
}

export function choiceOption<T extends string> (flag: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`${flag} must be one of ${choices.join(', ')}, got ${value}`)
    }
    return value as T
  }
}

/** A repeatable flag: `--bootstrap a --bootstrap b` gives ['a', 'b']. */
export function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

export const scopeOption = choiceOption('--scope', ['loopback', 'private', 'any'] as const)
export const logFormatOption = choiceOption('--log-format', ['human', 'json'] as const)
export const backendOption = choiceOption('--backend', BACKEND_CHOICES)

/** The private-swarm flags of every command that joins the swarm (docs/OPERATIONS.md, "Private swarms"). */
export interface PrivateSwarmFlags {
  swarmKey?: string
  allowPeer?: string[]
}

export const swarmKeyOption = (): Option =>
  new Option('--swarm-key <file>',
    'private swarm: its pre-shared key file (hddm-node keygen); peers without it cannot connect')

export const allowPeerOption = (): Option =>
  new Option('--allow-peer <peerId>',
    'private swarm: only these peers may connect, either way (repeatable; list the bootstrap peers too)')
    .argParser(collect)

/** The flags as the swarm node's init: the key file is read, and the peer ids checked, at start. */
export function privateSwarm (o: PrivateSwarmFlags): Pick<SwarmNodeInit, 'swarmKeyFile' | 'allowPeers'> {
  return { swarmKeyFile: o.swarmKey, allowPeers: o.allowPeer }
}
