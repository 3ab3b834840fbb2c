//! A small EVM JSON-RPC client over reqwest: the block number, a block's hash, and logs.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::JobsError;

/// One log as `eth_getLogs` returns it (hex strings kept as they came).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcLog {
    pub address: String,
    pub topics: Vec<String>,
    pub data: String,
    pub block_number: String,
    pub block_hash: String,
    pub transaction_hash: String,
    pub log_index: String,
    #[serde(default)]
    pub removed: bool,
}

#[derive(Debug, Clone)]
pub struct RpcClient {
    endpoint: url::Url,
    http: reqwest::Client,
}

impl RpcClient {
    pub fn new(endpoint: url::Url) -> Result<RpcClient, JobsError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| JobsError::Chain(format!("HTTP client: {e}")))?;
        Ok(RpcClient { endpoint, http })
    }

    /// Calls `method`; an RPC error becomes `JobsError::Chain` with its message.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, JobsError> {
        let request = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response: Value = self
            .http
            .post(self.endpoint.clone())
            .json(&request)
            .send()
            .await
            .map_err(|e| JobsError::Chain(format!("{method}: {}", e.without_url())))?
            .json()
            .await
            .map_err(|e| JobsError::Chain(format!("{method}: unreadable answer: {e}")))?;
        if let Some(error) = response.get("error") {
            return Err(JobsError::Chain(format!("{method}: {error}")));
        }
        Ok(response.get("result").cloned().unwrap_or(Value::Null))
    }

    pub async fn block_number(&self) -> Result<u64, JobsError> {
        let result = self.call("eth_blockNumber", json!([])).await?;
        parse_quantity(result.as_str().unwrap_or_default())
    }

    /// The hash of canonical block `number`, `None` when the chain is shorter.
    pub async fn block_hash(&self, number: u64) -> Result<Option<String>, JobsError> {
        let block = self
            .call("eth_getBlockByNumber", json!([quantity(number), false]))
            .await?;
        Ok(block["hash"].as_str().map(str::to_ascii_lowercase))
    }

    /// Logs of `addresses` whose first topic is one of `topics0`, in blocks `from..=to`.
    pub async fn logs(
        &self,
        from: u64,
        to: u64,
        addresses: &[String],
        topics0: &[String],
    ) -> Result<Vec<RpcLog>, JobsError> {
        let filter = json!({
            "fromBlock": quantity(from),
            "toBlock": quantity(to),
            "address": addresses,
            "topics": [topics0],
        });
        let result = self.call("eth_getLogs", json!([filter])).await?;
        serde_json::from_value(result)
            .map_err(|e| JobsError::Chain(format!("eth_getLogs: unexpected log shape: {e}")))
    }
}

pub fn quantity(n: u64) -> String {
    format!("{n:#x}")
}

pub fn parse_quantity(text: &str) -> Result<u64, JobsError> {
    u64::from_str_radix(text.trim_start_matches("0x"), 16)
        .map_err(|_| JobsError::Chain(format!("{text:?} is not a hex quantity")))
}
