// Runs the real quickdapp binary for the browser tests: SQLite in a temp dir, a free port,
// readiness by polling /health/ready, and restart on the same database and port.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

/** `QUICKDAPP_BIN`, else `$CARGO_TARGET_DIR/debug/quickdapp`, else `target/debug/quickdapp`. */
export function binaryPath() {
  if (process.env.QUICKDAPP_BIN) return resolve(process.env.QUICKDAPP_BIN)
  const candidates = []
  if (process.env.CARGO_TARGET_DIR) candidates.push(join(resolve(repoRoot, process.env.CARGO_TARGET_DIR), 'debug/quickdapp'))
  candidates.push(join(repoRoot, 'target/debug/quickdapp'))
  const found = candidates.find((path) => existsSync(path))
  if (!found) throw new Error(`quickdapp binary not found (looked at ${candidates.join(', ')}); build it or set QUICKDAPP_BIN`)
  return found
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolvePort(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export class QuickdappServer {
  /**
   * @param {{ env?: Record<string, string>, port?: number }} options
   */
  constructor({ env = {}, port } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'qd-browser-'))
    this.extraEnv = env
    this.port = port
    this.proc = null
    this.logs = []
  }

  get url() {
    return `http://127.0.0.1:${this.port}`
  }

  env() {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? this.dir,
      APP_MODE: 'test',
      HOST: '127.0.0.1',
      PORT: String(this.port),
      BASE_URL: this.url,
      DATABASE_URL: `sqlite://${join(this.dir, 't.db')}`,
      SESSION_ENCRYPTION_KEY: 'a3f1c9e2b7d4058e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70',
      SIWE_CHAIN_IDS: '1,31337',
      WORKER_COUNT: '0',
      AUTH_RATE_LIMIT: '0',
      SHUTDOWN_TIMEOUT: '2s',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      ...this.extraEnv,
    }
  }

  /** Start the binary and resolve once `/health/ready` answers 200. */
  async start({ timeoutMs = 60_000 } = {}) {
    if (this.proc) throw new Error('already running')
    this.port ??= await freePort()
    const proc = spawn(binaryPath(), ['serve'], { cwd: this.dir, env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] })
    this.proc = proc
    const exited = new Promise((resolveExit) => proc.once('exit', (code, signal) => resolveExit({ code, signal })))
    this.exited = exited
    const keep = (chunk) => {
      this.logs.push(chunk.toString())
      if (this.logs.length > 500) this.logs.splice(0, this.logs.length - 500)
    }
    proc.stdout.on('data', keep)
    proc.stderr.on('data', keep)

    let exitInfo = null
    void exited.then((info) => {
      exitInfo = info
    })
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (exitInfo) throw new Error(`quickdapp exited during start (${JSON.stringify(exitInfo)}):\n${this.logs.join('')}`)
      try {
        const res = await fetch(`${this.url}/health/ready`)
        if (res.status === 200) return this
      } catch {
        // not listening yet
      }
      await sleep(100)
    }
    throw new Error(`quickdapp was not ready within ${timeoutMs} ms:\n${this.logs.join('')}`)
  }

  /** Stop the process: SIGTERM (graceful) or SIGKILL (crash). */
  async stop(signal = 'SIGTERM') {
    const proc = this.proc
    if (!proc) return
    this.proc = null
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill(signal)
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
      await this.exited
      clearTimeout(timer)
    }
  }

  async restart(signal = 'SIGKILL') {
    await this.stop(signal)
    await this.start()
  }

  async dispose() {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
