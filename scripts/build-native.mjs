// Builds the optional native kernels (src/runtime/native). A failed build must never fail
// `npm install`: hddm then runs on the wasm backend and says so once at start.
// Filled in by the native-kernels work (issue 8); until then there is nothing to build.
import { existsSync } from 'node:fs'
if (!existsSync(new URL('../src/runtime/native/binding.gyp', import.meta.url))) process.exit(0)
