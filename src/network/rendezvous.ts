import { createHash } from 'node:crypto'

/**
 * Rendezvous (highest-random-weight) hashing: each peer ranks tasks by sha256(peer, task), so
 * peers joining at once start on different tasks without talking, and a peer's preference does
 * not change when other tasks come and go.
 */
export function rendezvousScore (peer: string, task: string): Buffer {
  // The NUL separator keeps ("ab", "c") and ("a", "bc") apart; neither id can contain it.
  return createHash('sha256').update(peer).update('\0').update(task).digest()
}

/** `tasks` ordered by the peer's preference, best first. */
export function rankTasks (peer: string, tasks: Iterable<string>): string[] {
  return [...tasks]
    .map((task) => ({ task, score: rendezvousScore(peer, task) }))
    .sort((a, b) => Buffer.compare(b.score, a.score) || (a.task < b.task ? -1 : 1))
    .map(({ task }) => task)
}

/** The free task this peer should claim, or undefined when none is free. */
export function pickTask (peer: string, freeTasks: Iterable<string>): string | undefined {
  return rankTasks(peer, freeTasks)[0]
}
