// Builds a SIWE message with the npm `siwe` package and signs it with a `viem` account, the
// way a dapp front end does. Input: one JSON argument {domain, uri, chainId, nonce,
// privateKey, statement?}. Output: JSON {address, message, signature}.
import { SiweMessage } from 'siwe'
import { privateKeyToAccount } from 'viem/accounts'

const input = JSON.parse(process.argv[2])
const account = privateKeyToAccount(input.privateKey)
const message = new SiweMessage({
  domain: input.domain,
  address: account.address,
  statement: input.statement ?? 'Sign in to QuickDapp',
  uri: input.uri,
  version: '1',
  chainId: input.chainId,
  nonce: input.nonce,
  issuedAt: new Date().toISOString(),
}).prepareMessage()
const signature = await account.signMessage({ message })
process.stdout.write(JSON.stringify({ address: account.address, message, signature }))
