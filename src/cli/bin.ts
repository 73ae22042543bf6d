#!/usr/bin/env node
// The only file with a shebang or process.exit: every command is a thin shell over src/index.ts.
import '../polyfills.js'
import { Command } from 'commander'
import { guardAgainstStrayErrors, reportAndExit } from './errors.js'
import { commandsFor } from './commands.js'

// The commands that serve peers for hours; one-shot commands still fail fast on a bug.
if (['start', 'bootstrap'].includes(process.argv[2] ?? '')) guardAgainstStrayErrors()

const program = new Command('hddm-node')
  .description('Train diffusion experts peer to peer and sample from their ensemble')
  .showHelpAfterError()

try {
  for (const register of await commandsFor(process.argv.slice(2))) register(program)
  await program.parseAsync(process.argv)
  // Background handles (wasm worker threads, timers of stopped services) must not keep a
  // finished command alive.
  process.exit(process.exitCode ?? 0)
} catch (err) {
  process.exit(reportAndExit(err))
}
