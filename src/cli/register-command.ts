import type { Command } from 'commander'

/** Each command lives in its own file and adds itself to the program (commands.ts loads them). */
export type RegisterCommand = (program: Command) => void
