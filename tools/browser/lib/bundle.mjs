// What the landing route downloads, read from the committed web/dist (what the binary embeds).
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './server.mjs'

export const distDir = join(repoRoot, 'web/dist')

/** index.html and every asset it pulls in on load (scripts, module preloads, stylesheets). */
export function initialRouteAssets(dist = distDir) {
  const html = readFileSync(join(dist, 'index.html'), 'utf8')
  const paths = new Set(['/index.html'])
  for (const match of html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)) paths.add(match[1])
  return [...paths].map((path) => {
    const file = join(dist, path)
    const raw = statSync(file).size
    // Files too small to be precompressed are sent as they are.
    const size = (suffix) => {
      try {
        return statSync(file + suffix).size
      } catch {
        return raw
      }
    }
    return { path, raw, gzip: size('.gz'), brotli: size('.br') }
  })
}
