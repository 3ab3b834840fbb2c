//! Benchmark: full SIWE checks per second on one thread (parse, field rules, EIP-191 hash,
//! secp256k1 recovery, address compare), the work `POST /auth/siwe` does before any IO.
//! Run: `taskset -c 0 cargo run --release -p auth --example siwe_bench`.

use std::time::Instant;

use auth::signature::{decode_signature, eip191_hash, recover_address};
use auth::siwe::{Expectations, SiweMessage};
use secp256k1::{Message, Secp256k1, SecretKey};

fn main() {
    let key = SecretKey::from_byte_array([7u8; 32]).expect("a valid key");
    let secp = Secp256k1::new();
    let public = key.public_key(&secp).serialize_uncompressed();
    let address =
        alloy_primitives::Address::from_slice(&alloy_primitives::keccak256(&public[1..])[12..]);
    let message = format!(
        "localhost:3000 wants you to sign in with your Ethereum account:\n{}\n\nSign in to QuickDapp\n\nURI: http://localhost:3000\nVersion: 1\nChain ID: 1\nNonce: AbCdEfGh123456789\nIssued At: 2026-11-21T23:00:00.000Z",
        address.to_checksum(None)
    );
    let hash = eip191_hash(message.as_bytes());
    let (id, compact) = secp
        .sign_ecdsa_recoverable(Message::from_digest(hash), &key)
        .serialize_compact();
    let mut signature = compact.to_vec();
    signature.push(27 + u8::try_from(i32::from(id)).expect("0..=3"));
    let signature_hex = format!("0x{}", hex::encode(&signature));
    let origin = url::Url::parse("http://localhost:3000").expect("url");
    let now = chrono::Utc::now();
    let chains = [1u64];

    let check = || {
        let parsed = SiweMessage::parse(&message).expect("parses");
        parsed
            .check(&Expectations {
                domain: "localhost:3000",
                uri_origin: Some(&origin),
                chain_ids: Some(&chains),
                nonce: None,
                now,
                issued_at_skew: Some(std::time::Duration::from_secs(60)),
            })
            .expect("valid");
        let signature = decode_signature(&signature_hex).expect("hex");
        let signer =
            recover_address(&eip191_hash(message.as_bytes()), &signature).expect("recovers");
        assert_eq!(signer, parsed.address);
    };
    for _ in 0..2_000 {
        check();
    }
    let mut rates = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let n = 20_000;
        for _ in 0..n {
            check();
        }
        rates.push(f64::from(n) / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "full SIWE checks per second on one thread: median {:.0} (min {:.0}, max {:.0}, 5 runs of 20000)",
        rates[2], rates[0], rates[4]
    );
}
