#!/usr/bin/env node
// Write `.br` (brotli q11) and `.gz` (gzip -9) copies next to every text
// asset in dist/ larger than MIN_SIZE bytes, so the server can serve them
// without compressing at runtime.
//
// The output must be byte-for-byte reproducible because dist/ is committed:
// files are processed in sorted order, and the gzip header is normalised
// (MTIME = 0, OS = 3/Unix regardless of the platform Node was built for).
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'

const MIN_SIZE = 256
const TEXT_EXTENSIONS = new Set(['.html', '.js', '.css', '.svg', '.json', '.txt', '.map', '.webmanifest'])

const root = resolve(fileURLToPath(new URL('..', import.meta.url)), process.argv[2] ?? 'dist')

async function walk(dir) {
  const entries = await readdir(dir, { withFileTypes: true })
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const files = []
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) files.push(...(await walk(path)))
    else if (entry.isFile()) files.push(path)
  }
  return files
}

function extensionOf(path) {
  const name = path.slice(path.lastIndexOf('/') + 1)
  const dot = name.lastIndexOf('.')
  return dot > 0 ? name.slice(dot).toLowerCase() : ''
}

function gzip(data) {
  const out = gzipSync(data, { level: 9 })
  // RFC 1952 header: ID1 ID2 CM FLG MTIME(4) XFL OS. Node writes no name,
  // comment or header CRC, so these bytes can be fixed up safely.
  if (out[0] !== 0x1f || out[1] !== 0x8b || out[3] !== 0) throw new Error('unexpected gzip header')
  out.fill(0, 4, 8) // MTIME: none
  out[9] = 3 // OS: Unix
  return out
}

function brotli(data) {
  return brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  })
}

const kb = (n) => `${(n / 1000).toFixed(2)} kB`

let count = 0
for (const file of await walk(root)) {
  if (!TEXT_EXTENSIONS.has(extensionOf(file))) continue
  if ((await stat(file)).size <= MIN_SIZE) continue
  const data = await readFile(file)
  const br = brotli(data)
  const gz = gzip(data)
  await writeFile(`${file}.br`, br)
  await writeFile(`${file}.gz`, gz)
  count++
  console.log(
    `${relative(root, file).padEnd(40)} ${kb(data.length).padStart(10)}  br ${kb(br.length).padStart(9)}  gz ${kb(gz.length).padStart(9)}`,
  )
}
console.log(`precompress: wrote .br and .gz for ${count} file(s) in ${relative(process.cwd(), root) || '.'}`)
