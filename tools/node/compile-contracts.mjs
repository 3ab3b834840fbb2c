// Compiles contracts/*.sol with the pinned solc-js (offline) into contracts/out/<Name>.json
// ({abi, bytecode}). Run: node tools/node/compile-contracts.mjs (from the repository root).
import fs from 'node:fs'
import path from 'node:path'
import solc from 'solc'

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..')
const dir = path.join(root, 'contracts')
const sources = Object.fromEntries(
  fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).map((f) => [f, { content: fs.readFileSync(path.join(dir, f), 'utf8') }]),
)
const input = {
  language: 'Solidity',
  sources,
  settings: { optimizer: { enabled: true, runs: 200 }, outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
}
const output = JSON.parse(solc.compile(JSON.stringify(input)))
const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage)
  process.exit(1)
}
fs.mkdirSync(path.join(dir, 'out'), { recursive: true })
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, artifact] of Object.entries(contracts)) {
    const out = { contract: name, source: file, compiler: solc.version(), abi: artifact.abi, bytecode: `0x${artifact.evm.bytecode.object}` }
    fs.writeFileSync(path.join(dir, 'out', `${name}.json`), JSON.stringify(out, null, 2) + '\n')
    console.log(`contracts/out/${name}.json`)
  }
}
