import type { RegisterCommand } from './register-command.js'

/**
 * Command modules by name, loaded on demand: a command pulls in tfjs, libp2p or Helia, and
 * loading them all costs seconds that `hddm-node data cluster` should not pay. bin.ts loads
 * only the command on the command line (all of them for the top-level help). Order = help order.
 */
export const commandModules: Record<string, () => Promise<RegisterCommand>> = {
  data: async () => (await import('./data.js')).registerData,
  train: async () => (await import('./train.js')).registerTrain,
  import: async () => (await import('./import.js')).registerImport,
  sample: async () => (await import('./sample.js')).registerSample,
  eval: async () => (await import('./eval.js')).registerEval,
  keygen: async () => (await import('./keygen.js')).registerKeygen,
  bootstrap: async () => (await import('./bootstrap.js')).registerBootstrap,
  start: async () => (await import('./start.js')).registerStart,
  status: async () => (await import('./status.js')).registerStatus,
  ensemble: async () => (await import('./ensemble.js')).registerEnsemble,
  simulate: async () => (await import('./simulate.js')).registerSimulate
}

/** The command modules a command line needs: the named command, or every one (help, typos). */
export async function commandsFor (argv: string[]): Promise<RegisterCommand[]> {
  const name = argv.find(arg => !arg.startsWith('-'))
  const names = name !== undefined && Object.hasOwn(commandModules, name) ? [name] : Object.keys(commandModules)
  return await Promise.all(names.map(async n => await commandModules[n]()))
}
