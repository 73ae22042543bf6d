import type { Command } from 'commander'
import { registerData } from './data.js'
import { registerTrain } from './train.js'
import { registerSample } from './sample.js'
import { registerBootstrap } from './bootstrap.js'
import { registerStart } from './start.js'
import { registerStatus } from './status.js'

/** Each command lives in its own file and adds itself to the program; order = help order. */
export type RegisterCommand = (program: Command) => void

export const commands: RegisterCommand[] = [
  registerData,
  registerTrain,
  registerSample,
  registerBootstrap,
  registerStart,
  registerStatus,
]
