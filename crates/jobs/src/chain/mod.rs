//! `watchChain`: reads EVM logs for the modules' chain subscriptions over
//! `CHAIN_RPC_ENDPOINT`, in bounded block ranges from `CHAIN_START_BLOCK`, only once a block has
//! `CHAIN_CONFIRMATIONS` blocks on top, and hands each log once to its subscription's handler
//! job. Its cursor (block number and hash) lives in `settings`; a cursor whose block is no longer
//! canonical is a reorg: deliveries in orphaned blocks are retracted (the handler gets the log
//! again with `removed: true`) and the range is read again.

pub mod rpc;

use std::collections::BTreeMap;
use std::str::FromStr;

use alloy_primitives::{Address, B256, keccak256};
use alloy_sol_types::SolEvent;
use chrono::Utc;
use platform::job::{ChainSubscription, JobContext, JobFailure};
use platform::{Config, JobRegistry};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::conn::{Pooled, Tx};
use crate::domain::NewJob;
use crate::error::JobsError;
use crate::service;
use crate::store::{self, DeliveryInsert};
use platform::Timestamp;
use rpc::{RpcClient, RpcLog, parse_quantity};

pub const WATCH_CHAIN: &str = "watchChain";
/// The `settings` key of the cursor.
pub const CURSOR_KEY: &str = "jobs.watchChain.cursor";
/// How far back a detected reorg rewinds (blocks re-read; deliveries there re-checked).
pub const REORG_WINDOW: u64 = 64;
/// Most block ranges one run reads (the next run goes on).
const RANGES_PER_RUN: u32 = 50;

/// Registers `watchChain` and its schedule when `CHAIN_RPC_ENDPOINT` is set. Subscriptions
/// are read from the registry at run time, so modules registered later still count.
pub fn register(registry: &mut JobRegistry, config: &Config) {
    if config.jobs.chain_rpc_endpoint.is_some() {
        registry.register(WATCH_CHAIN, watch_chain);
        registry.schedule_cron(WATCH_CHAIN, config.jobs.chain_poll_schedule.clone());
    }
}

/// The data of a handler job: one log, as the chain returned it, and whether it was retracted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainLog {
    pub subscription: String,
    pub address: String,
    pub topics: Vec<String>,
    pub data: String,
    pub block_number: u64,
    pub block_hash: String,
    pub transaction_hash: String,
    pub log_index: u64,
    /// True when the block left the canonical chain after this log was delivered: undo it.
    pub removed: bool,
}

impl ChainLog {
    /// The log a handler job was given.
    pub fn from_job(context: &JobContext) -> Result<ChainLog, JobFailure> {
        serde_json::from_value(context.data.clone())
            .map_err(|e| JobFailure::permanent(format!("not a chain log: {e}")))
    }

    /// Decodes the log as event `E` (from `alloy_sol_types::sol!`).
    pub fn decode<E: SolEvent>(&self) -> Result<E, JobFailure> {
        let topics = self
            .topics
            .iter()
            .map(|t| B256::from_str(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| JobFailure::permanent(format!("bad topic: {e}")))?;
        let data = alloy_primitives::hex::decode(&self.data)
            .map_err(|e| JobFailure::permanent(format!("bad log data: {e}")))?;
        E::decode_raw_log(topics, &data)
            .map_err(|e| JobFailure::permanent(format!("log does not decode: {e}")))
    }
}

/// Where the watcher has read up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    number: u64,
    hash: String,
}

/// A subscription with its address and topic parsed.
#[derive(Debug, Clone)]
struct Filter {
    subscription: ChainSubscription,
    address: String,
    topic0: String,
}

fn filters(subscriptions: &[ChainSubscription]) -> Result<Vec<Filter>, JobFailure> {
    subscriptions
        .iter()
        .map(|s| {
            let address = Address::from_str(&s.address).map_err(|e| {
                JobFailure::permanent(format!("subscription {}: bad address: {e}", s.name))
            })?;
            Ok(Filter {
                subscription: s.clone(),
                address: format!("{address:#x}"),
                topic0: format!("{:#x}", keccak256(s.event.as_bytes())),
            })
        })
        .collect()
}

async fn watch_chain(context: JobContext) -> Result<Value, JobFailure> {
    let Some(endpoint) = context.config.jobs.chain_rpc_endpoint.clone() else {
        return Ok(json!({ "skipped": "CHAIN_RPC_ENDPOINT is not set" }));
    };
    let filters = filters(context.registry.chain_subscriptions())?;
    if filters.is_empty() {
        return Ok(json!({ "skipped": "no chain subscriptions" }));
    }
    let client = RpcClient::new(endpoint)?;
    Ok(watch(&context, &client, &filters).await?)
}

async fn watch(
    context: &JobContext,
    client: &RpcClient,
    filters: &[Filter],
) -> Result<Value, JobsError> {
    let jobs = &context.config.jobs;
    let head = client.block_number().await?;
    let safe = head.saturating_sub(jobs.chain_confirmations);
    let mut cursor = read_cursor(context).await?;
    let mut retracted = 0;
    if let Some(current) = cursor.clone()
        && client.block_hash(current.number).await?.as_deref() != Some(current.hash.as_str())
    {
        let (rewound, undone) = rewind(context, client, filters, &current).await?;
        retracted = undone;
        cursor = rewound;
    }

    let addresses: Vec<String> = filters.iter().map(|f| f.address.clone()).collect();
    let mut topics: Vec<String> = filters.iter().map(|f| f.topic0.clone()).collect();
    topics.sort();
    topics.dedup();
    let mut from = cursor
        .as_ref()
        .map_or(jobs.chain_start_block, |c| c.number + 1);
    let mut delivered = 0;
    let mut ranges = 0;
    while from <= safe && ranges < RANGES_PER_RUN {
        let to = safe.min(from.saturating_add(jobs.chain_block_range - 1));
        let mut logs = client.logs(from, to, &addresses, &topics).await?;
        let Some(to_hash) = client.block_hash(to).await? else {
            break;
        };
        logs.retain(|log| !log.removed);
        logs.sort_by_key(|log| {
            (
                parse_quantity(&log.block_number).unwrap_or(0),
                parse_quantity(&log.log_index).unwrap_or(0),
            )
        });
        let next = Cursor {
            number: to,
            hash: to_hash,
        };
        match deliver_range(context, filters, &logs, cursor.as_ref(), &next).await? {
            Some(count) => delivered += count,
            // Another run moved the cursor first; it owns the range now.
            None => break,
        }
        cursor = Some(next);
        from = to + 1;
        ranges += 1;
    }
    Ok(json!({
        "head": head,
        "safe": safe,
        "cursor": cursor.map(|c| c.number),
        "delivered": delivered,
        "retracted": retracted,
    }))
}

async fn read_cursor(context: &JobContext) -> Result<Option<Cursor>, JobsError> {
    let mut pooled = Pooled::acquire(&context.db).await?;
    let raw = store::read_setting(&mut pooled.conn(), CURSOR_KEY).await?;
    Ok(raw.and_then(|text| serde_json::from_str(&text).ok()))
}

/// In one transaction: records each new log's delivery and enqueues its handler job, then moves
/// the cursor from `previous` to `next` (compare-and-set). `None` when the cursor had moved.
async fn deliver_range(
    context: &JobContext,
    filters: &[Filter],
    logs: &[RpcLog],
    previous: Option<&Cursor>,
    next: &Cursor,
) -> Result<Option<u64>, JobsError> {
    let now = Timestamp::from(Utc::now());
    let mut tx = Tx::begin(&context.db).await?;
    let mut delivered = 0;
    for log in logs {
        let address = log.address.to_ascii_lowercase();
        let topic0 = log
            .topics
            .first()
            .map(|t| t.to_ascii_lowercase())
            .unwrap_or_default();
        for filter in filters
            .iter()
            .filter(|f| f.address == address && f.topic0 == topic0)
        {
            let chain_log = ChainLog {
                subscription: filter.subscription.name.clone(),
                address: address.clone(),
                topics: log.topics.clone(),
                data: log.data.clone(),
                block_number: parse_quantity(&log.block_number)?,
                block_hash: log.block_hash.to_ascii_lowercase(),
                transaction_hash: log.transaction_hash.clone(),
                log_index: parse_quantity(&log.log_index)?,
                removed: false,
            };
            let log_json =
                serde_json::to_value(&chain_log).map_err(|e| JobsError::Chain(e.to_string()))?;
            let delivery = DeliveryInsert {
                subscription: &chain_log.subscription,
                block_number: i64::try_from(chain_log.block_number).unwrap_or(i64::MAX),
                block_hash: &chain_log.block_hash,
                transaction_hash: &chain_log.transaction_hash,
                log_index: i64::try_from(chain_log.log_index).unwrap_or(i64::MAX),
                log: &log_json,
            };
            let Some(delivery_id) = store::insert_chain_delivery(&mut tx.conn(), &delivery).await?
            else {
                continue;
            };
            let job = handler_job(&filter.subscription.handler, &chain_log)?;
            let job = service::schedule_job(&mut tx.conn(), &job).await?;
            store::set_chain_delivery_job(&mut tx.conn(), delivery_id, job.id).await?;
            delivered += 1;
        }
    }
    let next_text = serialize_cursor(next)?;
    let moved = match previous {
        Some(previous) => {
            store::replace_setting_if(
                &mut tx.conn(),
                CURSOR_KEY,
                &serialize_cursor(previous)?,
                &next_text,
                now,
            )
            .await?
        }
        None => {
            store::insert_setting_if_absent(&mut tx.conn(), CURSOR_KEY, &next_text, now).await?
        }
    };
    if !moved {
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(delivered))
}

fn handler_job(handler: &str, log: &ChainLog) -> Result<NewJob, JobsError> {
    let data = serde_json::to_value(log).map_err(|e| JobsError::Chain(e.to_string()))?;
    Ok(NewJob::new(handler).data(data).max_attempts(10))
}

fn serialize_cursor(cursor: &Cursor) -> Result<String, JobsError> {
    serde_json::to_string(cursor).map_err(|e| JobsError::Chain(e.to_string()))
}

/// After a reorg: retracts live deliveries in the last `REORG_WINDOW` blocks whose block is no
/// longer canonical (their handlers get the log again with `removed: true`), and moves the
/// cursor back before the window, so the window is read again (logs still canonical were
/// delivered already and are skipped). Returns the new cursor and how many were retracted.
async fn rewind(
    context: &JobContext,
    client: &RpcClient,
    filters: &[Filter],
    current: &Cursor,
) -> Result<(Option<Cursor>, u64), JobsError> {
    let start = context.config.jobs.chain_start_block;
    let back_to = current.number.saturating_sub(REORG_WINDOW).max(start);
    tracing::warn!(target: "chain", cursor = current.number, back_to, "reorg: the cursor's block is no longer canonical");
    let deliveries = {
        let mut pooled = Pooled::acquire(&context.db).await?;
        store::list_live_chain_deliveries_from(
            &mut pooled.conn(),
            i64::try_from(back_to).unwrap_or(i64::MAX),
        )
        .await?
    };
    // Network first, so that no transaction stays open across RPC calls.
    let mut canonical: BTreeMap<i64, Option<String>> = BTreeMap::new();
    let mut orphaned = Vec::new();
    for (id, number, hash, log) in deliveries {
        let known = match canonical.entry(number) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => entry.insert(
                client
                    .block_hash(u64::try_from(number).unwrap_or(0))
                    .await?,
            ),
        };
        if known.as_deref() != Some(hash.as_str()) {
            orphaned.push((id, log.0));
        }
    }
    let rewound = match back_to.checked_sub(1).filter(|_| back_to > start) {
        Some(number) => client
            .block_hash(number)
            .await?
            .map(|hash| Cursor { number, hash }),
        None => None,
    };
    let handlers: BTreeMap<&str, &str> = filters
        .iter()
        .map(|f| {
            (
                f.subscription.name.as_str(),
                f.subscription.handler.as_str(),
            )
        })
        .collect();

    let now = Timestamp::from(Utc::now());
    let mut tx = Tx::begin(&context.db).await?;
    let mut retracted = 0;
    for (id, log) in orphaned {
        if !store::retract_chain_delivery(&mut tx.conn(), id).await? {
            continue;
        }
        retracted += 1;
        let mut log: ChainLog = serde_json::from_value(log)
            .map_err(|e| JobsError::Chain(format!("delivery {id}: {e}")))?;
        log.removed = true;
        if let Some(handler) = handlers.get(log.subscription.as_str()) {
            service::schedule_job(&mut tx.conn(), &handler_job(handler, &log)?).await?;
        }
    }
    let current_text = serialize_cursor(current)?;
    let moved = match &rewound {
        Some(rewound) => {
            store::replace_setting_if(
                &mut tx.conn(),
                CURSOR_KEY,
                &current_text,
                &serialize_cursor(rewound)?,
                now,
            )
            .await?
        }
        None => store::delete_setting_if(&mut tx.conn(), CURSOR_KEY, &current_text).await?,
    };
    if !moved {
        return Err(JobsError::Chain(
            "the cursor moved during a reorg rewind; the next run retries".to_owned(),
        ));
    }
    tx.commit().await?;
    Ok((rewound, retracted))
}
