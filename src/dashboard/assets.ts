/**
 * The page's files: index.html, app.js and style.css next to this module (`assets/`, copied to
 * dist/dashboard/assets by `npm run build`), and the browser builds of Vega and Vega-Lite from
 * their packages (the project's one charting stack). Nothing comes from a CDN: the page works
 * on a machine without Internet, and the CSP allows only this server.
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Asset {
  body: Buffer
  type: string
  /** Vendor builds change only with the package version: the browser may keep them. */
  immutable: boolean
}

const require = createRequire(import.meta.url)
const own = (name: string): string => fileURLToPath(new URL(`./assets/${name}`, import.meta.url))
/** A package's build directory: where its main entry lives (both packages ship their UMD build there). */
const vendor = (pkg: string, name: string): string => join(dirname(require.resolve(pkg)), name)

const FILES: Record<string, { path: () => string, type: string, immutable: boolean }> = {
  '/': { path: () => own('index.html'), type: 'text/html; charset=utf-8', immutable: false },
  '/app.js': { path: () => own('app.js'), type: 'text/javascript; charset=utf-8', immutable: false },
  '/style.css': { path: () => own('style.css'), type: 'text/css; charset=utf-8', immutable: false },
  '/vendor/vega.min.js': {
    path: () => vendor('vega', 'vega.min.js'), type: 'text/javascript; charset=utf-8', immutable: true
  },
  '/vendor/vega-lite.min.js': {
    path: () => vendor('vega-lite', 'vega-lite.min.js'), type: 'text/javascript; charset=utf-8', immutable: true
  }
}

/** Static files by URL path, read once. */
export class AssetStore {
  private readonly cache = new Map<string, Promise<Asset>>()

  has (path: string): boolean {
    return Object.hasOwn(FILES, path)
  }

  async get (path: string): Promise<Asset> {
    let asset = this.cache.get(path)
    if (asset === undefined) {
      const file = FILES[path]
      asset = readFile(file.path()).then((body) => ({ body, type: file.type, immutable: file.immutable }))
      asset.catch(() => { this.cache.delete(path) })
      this.cache.set(path, asset)
    }
    return await asset
  }
}
