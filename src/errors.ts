/**
 * Every error hddm throws on purpose is a named class: callers and tests match on `name`
 * (never on message text), and the CLI maps them to a one-line message and a non-zero exit.
 * The base classes live in hddm-error.ts; each area keeps its own classes in
 * `<area>/errors.ts` (importing the base from here), and they are all re-exported here.
 */
export * from './hddm-error.js'
export * from './protocol/errors.js'
export * from './data/errors.js'
export * from './runtime/errors.js'
export * from './storage/errors.js'
export * from './network/errors.js'
export * from './checkpoint/errors.js'
export * from './node/errors.js'
export * from './training/errors.js'
export * from './network/sample-errors.js'
export * from './ensemble/errors.js'
export * from './eval/errors.js'
export * from './dashboard/errors.js'
