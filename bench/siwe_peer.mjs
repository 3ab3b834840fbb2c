// The peer of `crates/auth/examples/siwe_bench.rs`: the same full SIWE check (parse, field
// rules, EIP-191 hash, secp256k1 recovery, compare) with viem (`@noble/curves`), one thread.
// Run from the repo root, pinned like ours:
//   taskset -c 0 <bun or node> bench/siwe_peer.mjs
import { createRequire } from "node:module";

const require = createRequire(new URL("../tools/node/package.json", import.meta.url));
const { privateKeyToAccount } = require("viem/accounts");
const { parseSiweMessage, validateSiweMessage } = require("viem/siwe");
const { recoverMessageAddress } = require("viem");

const account = privateKeyToAccount(`0x${"07".repeat(32)}`);
const message = [
  "localhost:3000 wants you to sign in with your Ethereum account:",
  account.address,
  "",
  "Sign in to QuickDapp",
  "",
  "URI: http://localhost:3000",
  "Version: 1",
  "Chain ID: 1",
  "Nonce: AbCdEfGh123456789",
  "Issued At: 2026-11-21T23:00:00.000Z",
].join("\n");
const signature = await account.signMessage({ message });
const now = new Date();

async function check() {
  const parsed = parseSiweMessage(message);
  const valid = validateSiweMessage({ message: parsed, domain: "localhost:3000", time: now });
  if (!valid || parsed.chainId !== 1) throw new Error("invalid");
  const signer = await recoverMessageAddress({ message, signature });
  if (signer !== parsed.address) throw new Error("mismatch");
}

for (let i = 0; i < 500; i++) await check();
const rates = [];
for (let round = 0; round < 5; round++) {
  const n = 3000;
  const started = performance.now();
  for (let i = 0; i < n; i++) await check();
  rates.push(n / ((performance.now() - started) / 1000));
}
rates.sort((a, b) => a - b);
console.log(
  `viem full SIWE checks per second on one thread: median ${rates[2].toFixed(0)} ` +
    `(min ${rates[0].toFixed(0)}, max ${rates[4].toFixed(0)}, 5 runs of 3000)`,
);
