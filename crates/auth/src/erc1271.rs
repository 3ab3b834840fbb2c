//! Smart-contract wallet signatures (ERC-1271): `isValidSignature(hash, signature)` called
//! over JSON-RPC on `CHAIN_RPC_ENDPOINT`, only on the chain that endpoint serves.

use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::{SolCall, sol};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

sol! {
    function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
}

/// `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`, returned by a wallet that accepts.
const MAGIC_VALUE: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

#[derive(Debug, thiserror::Error)]
#[error("chain RPC failed: {0}")]
pub struct RpcError(String);

#[derive(Debug)]
pub struct ChainClient {
    http: reqwest::Client,
    endpoint: url::Url,
    chain_id: OnceCell<u64>,
}

impl ChainClient {
    pub fn new(endpoint: url::Url) -> ChainClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client with default TLS settings builds");
        ChainClient {
            http,
            endpoint,
            chain_id: OnceCell::new(),
        }
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response = self
            .http
            .post(self.endpoint.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| RpcError(e.to_string()))?;
        if !response.status().is_success() {
            return Err(RpcError(format!("HTTP {}", response.status())));
        }
        let mut reply: Value = response.json().await.map_err(|e| RpcError(e.to_string()))?;
        if let Some(error) = reply.get("error") {
            return Err(RpcError(error.to_string()));
        }
        Ok(reply["result"].take())
    }

    /// The chain id the endpoint serves (asked once, then remembered).
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        self.chain_id
            .get_or_try_init(|| async {
                let value = self.call("eth_chainId", json!([])).await?;
                parse_quantity(&value)
                    .ok_or_else(|| RpcError(format!("bad eth_chainId answer {value}")))
            })
            .await
            .copied()
    }

    /// Whether `address` holds contract code at the latest block.
    pub async fn has_code(&self, address: Address) -> Result<bool, RpcError> {
        let value = self
            .call("eth_getCode", json!([address.to_string(), "latest"]))
            .await?;
        let code = value
            .as_str()
            .ok_or_else(|| RpcError(format!("bad eth_getCode answer {value}")))?;
        Ok(code.trim_start_matches("0x").chars().any(|c| c != '0'))
    }

    /// Asks the wallet contract whether it accepts `signature` over `hash`.
    pub async fn is_valid_signature(
        &self,
        wallet: Address,
        hash: [u8; 32],
        signature: &[u8],
    ) -> Result<bool, RpcError> {
        let call = isValidSignatureCall {
            hash: B256::from(hash),
            signature: Bytes::copy_from_slice(signature),
        };
        let data = format!("0x{}", hex::encode(call.abi_encode()));
        let value = self
            .call(
                "eth_call",
                json!([{ "to": wallet.to_string(), "data": data }, "latest"]),
            )
            .await;
        let value = match value {
            Ok(value) => value,
            // A revert is the wallet's "no"; anything else (transport, node error) is an outage.
            Err(RpcError(message)) if message.contains("revert") => return Ok(false),
            Err(e) => return Err(e),
        };
        let returned = value
            .as_str()
            .and_then(|s| hex::decode(s.trim_start_matches("0x")).ok())
            .unwrap_or_default();
        Ok(returned.len() >= 4 && returned[..4] == MAGIC_VALUE)
    }
}

fn parse_quantity(value: &Value) -> Option<u64> {
    u64::from_str_radix(value.as_str()?.strip_prefix("0x")?, 16).ok()
}
