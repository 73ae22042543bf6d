/**
 * Node 20 lacks `Promise.withResolvers` (ES2024, Node 22+), which libp2p 3 and its
 * dependencies call at run time: without it every dial fails with a misleading ECONNRESET.
 * Import this module before anything else (the CLI, the library entry and vitest do).
 */
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T> (): PromiseWithResolvers<T> {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}

export {}
