import { resolve } from 'node:path'
import { writeSwarmKey } from '../network/swarm-key.js'
import type { Command } from 'commander'
import type { RegisterCommand } from './register-command.js'

interface KeygenOptions {
  out: string
  force: boolean
}

/**
 * `hddm-node keygen --out FILE`: a new private-swarm key for `--swarm-key`. It never replaces
 * an existing file unless told to, since a new key cuts off every peer that holds the old one.
 */
export const registerKeygen: RegisterCommand = (program: Command) => {
  program.command('keygen')
    .description('Write a new private-swarm key (/key/swarm/psk/1.0.0/, mode 0600) for --swarm-key')
    .requiredOption('--out <file>', 'where to write the key')
    .option('--force', 'replace an existing file (peers holding the old key can no longer connect)', false)
    .action(async (o: KeygenOptions) => {
      const out = resolve(o.out)
      await writeSwarmKey(out, { force: o.force })
      process.stdout.write(`wrote swarm key ${out} (mode 0600); copy it to every peer over a private channel\n`)
    })
}
