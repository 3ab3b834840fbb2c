//! `watchChain` against a real anvil node (npm `@foundry-rs/anvil-linux-amd64`), on SQLite and
//! PostgreSQL: a deployed contract's events are delivered once each, with backfill, in bounded
//! ranges, across a restart; an event orphaned by a reorg is retracted; one inside the
//! confirmation window is never delivered.
//!
//! The contract is `fixtures/Emitter.sol`, compiled offline with
//! `tools/node/node_modules/.bin/solcjs --bin --optimize Emitter.sol` into `fixtures/Emitter.bin`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use alloy_sol_types::{SolCall, sol};
use jobs::chain::ChainLog;
use jobs::domain::{JobStatus, NewJob};
use jobs::service::{self, JobFilter};
use jobs::{Runner, chain};
use platform::job::{ChainSubscription, JobContext, JobFailure};
use platform::{Config, Db};
use serde_json::{Value, json};
use test_support::{Backend, TestDb, both_backends};

sol! {
    event Ping(address indexed from, uint256 value);
    function ping(uint256 value) external;
}

const EMITTER_BIN: &str = include_str!("fixtures/Emitter.bin");

/// A local anvil node on a free port, killed on drop.
struct Anvil {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Anvil {
    async fn start() -> Anvil {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(test_support::node_tool("anvil"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--silent",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let anvil = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while anvil.try_rpc("eth_blockNumber", json!([])).await.is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "anvil did not answer"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anvil
    }

    async fn try_rpc(&self, method: &str, params: Value) -> Option<Value> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response: Value = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        response.get("result").cloned()
    }

    async fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .await
            .unwrap_or_else(|| panic!("anvil answered {method} with an error"))
    }

    /// Like `rpc`, for methods whose answer may be `null`.
    async fn rpc_nullable(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params).await.unwrap_or(Value::Null)
    }

    async fn account(&self) -> String {
        self.rpc("eth_accounts", json!([])).await[0]
            .as_str()
            .expect("an unlocked account")
            .to_owned()
    }

    /// Sends a transaction from the first unlocked account (automine: one block each).
    async fn send(&self, to: Option<&str>, data: &str) -> Value {
        let from = self.account().await;
        let mut tx = json!({ "from": from, "data": data, "gas": "0x200000" });
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        let hash = self.rpc("eth_sendTransaction", json!([tx])).await;
        // Automine seals the block right after answering: wait for the receipt to exist.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let receipt = self
                .rpc_nullable("eth_getTransactionReceipt", json!([hash.clone()]))
                .await;
            if !receipt.is_null() {
                return receipt;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no receipt for {hash}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn deploy_emitter(&self) -> String {
        let receipt = self.send(None, &format!("0x{}", EMITTER_BIN.trim())).await;
        receipt["contractAddress"]
            .as_str()
            .expect("a contract address")
            .to_owned()
    }

    /// Emits `Ping(value)`; returns the block number it was mined in.
    async fn ping(&self, contract: &str, value: u64) -> u64 {
        let call = pingCall {
            value: U256::from(value),
        };
        let data = format!("0x{}", alloy_primitives::hex::encode(call.abi_encode()));
        let receipt = self.send(Some(contract), &data).await;
        assert_eq!(receipt["status"], "0x1", "{receipt}");
        quantity(&receipt["blockNumber"])
    }

    async fn mine(&self, blocks: u64) {
        for _ in 0..blocks {
            self.rpc("evm_mine", json!([])).await;
        }
    }

    async fn snapshot(&self) -> Value {
        self.rpc("evm_snapshot", json!([])).await
    }

    async fn revert(&self, snapshot: Value) {
        assert_eq!(self.rpc("evm_revert", json!([snapshot])).await, json!(true));
    }

    async fn head(&self) -> u64 {
        quantity(&self.rpc("eth_blockNumber", json!([])).await)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn quantity(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)
        .expect("a hex quantity")
}

/// A handler that decodes the Ping and returns what it saw.
async fn on_ping(context: JobContext) -> Result<Value, JobFailure> {
    let log = ChainLog::from_job(&context)?;
    let ping: Ping = log.decode()?;
    Ok(json!({
        "value": ping.value.to::<u64>(),
        "removed": log.removed,
        "block": log.block_number,
    }))
}

struct Watcher {
    db: Db,
    config: Arc<Config>,
    contract: String,
}

impl Watcher {
    async fn new(test_db: &TestDb, anvil: &Anvil, contract: &str, confirmations: &str) -> Watcher {
        let config = test_support::test_config(
            &test_db.url,
            "http://localhost:3000",
            &[
                ("CHAIN_RPC_ENDPOINT", anvil.url.as_str()),
                ("CHAIN_CONFIRMATIONS", confirmations),
                ("CHAIN_BLOCK_RANGE", "2"),
            ],
        );
        let db = Db::connect(&test_db.url, Duration::from_secs(10))
            .await
            .expect("connects");
        db.migrate(&server::modules()).await.expect("migrates");
        Watcher {
            db,
            config: Arc::new(config),
            contract: contract.to_owned(),
        }
    }

    /// A fresh runner, as a restarted process would build it.
    fn runner(&self) -> Runner {
        let mut registry =
            jobs::build_registry(&server::modules(), &self.config).expect("a valid registry");
        registry.register("test.onPing", on_ping);
        registry.watch_chain_events(ChainSubscription {
            name: "pings".into(),
            address: self.contract.clone(),
            event: "Ping(address,uint256)".into(),
            handler: "test.onPing".into(),
        });
        Runner::new(self.db.clone(), self.config.clone(), Arc::new(registry))
    }

    /// Runs `watchChain` once, then every handler job it enqueued.
    async fn watch(&self, runner: &Runner) -> Value {
        let job = jobs::enqueue(&self.db, &NewJob::new(chain::WATCH_CHAIN))
            .await
            .expect("enqueued");
        runner.run_until_idle().await.expect("drains");
        let done = service::find_job(&self.db, job.id).await.expect("found");
        assert_eq!(done.status(), JobStatus::Succeeded, "{done:#?}");
        done.result.expect("a result").0
    }

    /// What the handler saw, oldest first: (value, removed).
    async fn seen(&self) -> Vec<(u64, bool)> {
        let mut jobs = service::list_jobs(
            &self.db,
            &JobFilter {
                job_type: Some("test.onPing".into()),
                limit: Some(500),
                ..JobFilter::default()
            },
        )
        .await
        .expect("listed");
        jobs.reverse();
        jobs.iter()
            .map(|job| {
                assert_eq!(job.status(), JobStatus::Succeeded, "{job:#?}");
                let result = &job.result.as_ref().expect("a result").0;
                (
                    result["value"].as_u64().expect("value"),
                    result["removed"].as_bool().expect("removed"),
                )
            })
            .collect()
    }
}

async fn events_are_delivered_once_with_backfill_and_across_a_restart(backend: Backend) {
    let anvil = Anvil::start().await;
    let contract = anvil.deploy_emitter().await;
    for value in 1..=3 {
        anvil.ping(&contract, value).await;
    }
    anvil.mine(1).await;
    let test_db = TestDb::new(backend).await;
    let watcher = Watcher::new(&test_db, &anvil, &contract, "1").await;

    // Backfill from block 0, two blocks per range.
    let first = watcher.watch(&watcher.runner()).await;
    assert_eq!(first["delivered"], 3, "{first}");
    assert_eq!(first["cursor"], json!(anvil.head().await - 1));
    assert_eq!(
        watcher.seen().await,
        vec![(1, false), (2, false), (3, false)]
    );

    // Nothing new: nothing delivered again.
    let idle = watcher.watch(&watcher.runner()).await;
    assert_eq!(idle["delivered"], 0, "{idle}");

    // A restarted worker (new registry and runner, same database) goes on from the cursor.
    anvil.ping(&contract, 4).await;
    let unconfirmed = watcher.watch(&watcher.runner()).await;
    assert_eq!(
        unconfirmed["delivered"], 0,
        "not confirmed yet: {unconfirmed}"
    );
    anvil.mine(1).await;
    let restarted = watcher.runner();
    let after = watcher.watch(&restarted).await;
    assert_eq!(after["delivered"], 1, "{after}");
    assert_eq!(
        watcher.seen().await,
        vec![(1, false), (2, false), (3, false), (4, false)]
    );
    watcher.db.close().await;
}

async fn an_event_orphaned_by_a_reorg_is_retracted(backend: Backend) {
    let anvil = Anvil::start().await;
    let contract = anvil.deploy_emitter().await;
    let test_db = TestDb::new(backend).await;
    let watcher = Watcher::new(&test_db, &anvil, &contract, "0").await;
    let runner = watcher.runner();
    watcher.watch(&runner).await;

    let before_fork = anvil.snapshot().await;
    anvil.ping(&contract, 7).await;
    let delivered = watcher.watch(&runner).await;
    assert_eq!(delivered["delivered"], 1);
    assert_eq!(watcher.seen().await, vec![(7, false)]);

    // The block with Ping(7) leaves the chain; a longer fork carries Ping(8) instead.
    anvil.revert(before_fork).await;
    anvil.mine(2).await;
    anvil.ping(&contract, 8).await;
    let after = watcher.watch(&runner).await;
    assert_eq!(after["retracted"], 1, "{after}");
    assert_eq!(after["delivered"], 1, "{after}");
    assert_eq!(
        watcher.seen().await,
        vec![(7, false), (7, true), (8, false)]
    );

    // And nothing more on the next run.
    let idle = watcher.watch(&runner).await;
    assert_eq!(
        (idle["delivered"].clone(), idle["retracted"].clone()),
        (json!(0), json!(0))
    );
    watcher.db.close().await;
}

async fn an_event_inside_the_confirmation_window_is_never_delivered_if_orphaned(backend: Backend) {
    let anvil = Anvil::start().await;
    let contract = anvil.deploy_emitter().await;
    let test_db = TestDb::new(backend).await;
    let watcher = Watcher::new(&test_db, &anvil, &contract, "2").await;
    let runner = watcher.runner();

    let before_fork = anvil.snapshot().await;
    anvil.ping(&contract, 9).await;
    anvil.mine(1).await;
    let early = watcher.watch(&runner).await;
    assert_eq!(
        early["delivered"], 0,
        "one confirmation is not enough: {early}"
    );

    anvil.revert(before_fork).await;
    anvil.mine(3).await;
    anvil.ping(&contract, 10).await;
    anvil.mine(2).await;
    watcher.watch(&runner).await;
    assert_eq!(
        watcher.seen().await,
        vec![(10, false)],
        "9 was never delivered"
    );
    watcher.db.close().await;
}

both_backends!(
    events_are_delivered_once_with_backfill_and_across_a_restart,
    an_event_orphaned_by_a_reorg_is_retracted,
    an_event_inside_the_confirmation_window_is_never_delivered_if_orphaned,
);
