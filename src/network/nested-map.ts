/** The inner map of `outer` under `key`, created empty on first use (tables keyed by task, then peer). */
export function innerMap<V> (outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = outer.get(key)
  if (inner === undefined) {
    inner = new Map()
    outer.set(key, inner)
  }
  return inner
}
