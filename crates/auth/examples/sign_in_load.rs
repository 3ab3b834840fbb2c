//! Benchmark: complete sign-in round trips per second against a running server
//! (`GET /auth/nonce`, sign, `POST /auth/siwe`), from `CONCURRENCY` client tasks for
//! `SECONDS`. Run the server with `AUTH_RATE_LIMIT=0`, then:
//! `taskset -c 1 cargo run --release -p auth --example sign_in_load -- http://127.0.0.1:3000`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, keccak256};
use secp256k1::{Message, Secp256k1, SecretKey};

const CONCURRENCY: usize = 16;
const SECONDS: u64 = 10;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    let url = url::Url::parse(&base).expect("a base URL");
    let domain = format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(80)
    );
    let client = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (client, base, domain, done) = (
            client.clone(),
            base.trim_end_matches('/').to_owned(),
            domain.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let secp = Secp256k1::new();
            let mut seed = [9u8; 32];
            seed[0] = u8::try_from(worker + 1).expect("few workers");
            let key = SecretKey::from_byte_array(seed).expect("key");
            let public = key.public_key(&secp).serialize_uncompressed();
            let address = Address::from_slice(&keccak256(&public[1..])[12..]).to_checksum(None);
            while Instant::now() < deadline {
                let nonce: serde_json::Value = client.get(format!("{base}/auth/nonce")).send().await.expect("nonce").json().await.expect("json");
                let message = format!(
                    "{domain} wants you to sign in with your Ethereum account:\n{address}\n\nBenchmark\n\nURI: {base}\nVersion: 1\nChain ID: 1\nNonce: {}\nIssued At: {}",
                    nonce["nonce"].as_str().expect("nonce"),
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                );
                let mut prefixed = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
                prefixed.extend_from_slice(message.as_bytes());
                let (id, compact) = secp.sign_ecdsa_recoverable(Message::from_digest(keccak256(&prefixed).0), &key).serialize_compact();
                let mut signature = compact.to_vec();
                signature.push(27 + u8::try_from(i32::from(id)).expect("0..=3"));
                let response = client
                    .post(format!("{base}/auth/siwe"))
                    .json(&serde_json::json!({ "message": message, "signature": format!("0x{}", hex::encode(&signature)) }))
                    .send()
                    .await
                    .expect("sign in");
                assert!(response.status().is_success(), "sign-in failed: {}", response.text().await.unwrap_or_default());
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    let total = done.load(Ordering::Relaxed);
    println!(
        "{total} sign-ins in {SECONDS} s: {:.0} sign-in round trips per second ({CONCURRENCY} clients)",
        total as f64 / SECONDS as f64
    );
}
