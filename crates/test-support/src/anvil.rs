//! `Anvil`: a local EVM node (the `anvil` binary from npm `@foundry-rs/anvil-linux-amd64`)
//! on a free loopback port, killed on drop, with the few JSON-RPC calls tests need.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

#[derive(Debug)]
pub struct Anvil {
    pub url: String,
    child: Child,
    client: reqwest::Client,
}

/// Anvil's default chain id.
pub const ANVIL_CHAIN_ID: u64 = 31337;

impl Anvil {
    /// Starts anvil and returns once it says it is listening.
    pub fn start() -> Anvil {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new(crate::node_tool("anvil"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--chain-id",
                &ANVIL_CHAIN_ID.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let stdout = child.stdout.take().expect("anvil stdout");
        let mut lines = BufReader::new(stdout).lines();
        let listening = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.contains("Listening on"));
        assert!(listening, "anvil exited before listening");
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Anvil {
            url: format!("http://127.0.0.1:{port}"),
            child,
            client: reqwest::Client::new(),
        }
    }

    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let reply: Value = self
            .client
            .post(&self.url)
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
            .send()
            .await
            .expect("anvil answers")
            .json()
            .await
            .expect("JSON-RPC reply");
        assert!(reply.get("error").is_none(), "{method} failed: {reply}");
        reply["result"].clone()
    }

    /// Deploys `bytecode` (0x-hex, constructor arguments appended) from anvil's first unlocked
    /// account and returns the contract address.
    pub async fn deploy(&self, bytecode: &str) -> String {
        let accounts = self.rpc("eth_accounts", json!([])).await;
        let from = accounts[0].as_str().expect("an account").to_owned();
        let hash = self
            .rpc(
                "eth_sendTransaction",
                json!([{ "from": from, "data": bytecode, "gas": "0x989680" }]),
            )
            .await;
        let receipt = self.receipt(&hash).await;
        assert_eq!(receipt["status"], "0x1", "deployment reverted: {receipt}");
        receipt["contractAddress"]
            .as_str()
            .expect("contract address")
            .to_owned()
    }

    /// The receipt of `hash`, once the node has mined it (anvil mines each transaction at
    /// once, but may publish the receipt a moment later).
    pub async fn receipt(&self, hash: &Value) -> Value {
        for _ in 0..500 {
            let receipt = self.rpc("eth_getTransactionReceipt", json!([hash])).await;
            if !receipt.is_null() {
                return receipt;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("transaction {hash} was never mined");
    }

    /// Stops the node (the chain becomes unreachable).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.stop();
    }
}
