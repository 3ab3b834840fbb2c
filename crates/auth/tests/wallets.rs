//! Real wallets: a message built by the npm `siwe` package and signed by `viem` signs in, and
//! a smart-contract wallet deployed on a local anvil node signs in through ERC-1271, with an
//! outage of the node answered 503 and never a session.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::{ANVIL_CHAIN_ID, Anvil, Backend, TestApp, TestWallet, both_backends, repo_root};

async fn post_siwe(app: &TestApp, message: &str, signature: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/auth/siwe"))
        .json(&json!({ "message": message, "signature": signature }))
        .send()
        .await
        .expect("request");
    (response.status(), response.json().await.expect("json"))
}

async fn a_message_from_the_npm_siwe_and_viem_packages_signs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let nonce = app.nonce().await;
    let input = json!({
        "domain": app.addr.to_string(),
        "uri": app.base_url,
        "chainId": 1,
        "nonce": nonce,
        "privateKey": TestWallet::from_seed(40).key_hex(),
    });
    let script = repo_root().join("tools/node/siwe-sign.mjs");
    let output = Command::new("node")
        .arg(&script)
        .arg(input.to_string())
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let signed: Value = serde_json::from_slice(&output.stdout).expect("script JSON");
    let (status, body) = post_siwe(
        &app,
        signed["message"].as_str().expect("message"),
        signed["signature"].as_str().expect("sig"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["user"]["wallet"],
        signed["address"].as_str().expect("address").to_lowercase()
    );
    app.stop().await;
}

/// `TestSmartWallet` bytecode with its constructor argument (the owner) appended.
fn wallet_deployment(owner: &TestWallet) -> String {
    let artifact: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("contracts/out/TestSmartWallet.json"))
            .expect("compiled contract"),
    )
    .expect("artifact JSON");
    let bytecode = artifact["bytecode"].as_str().expect("bytecode");
    format!("{bytecode}{:0>64}", hex::encode(owner.address.as_slice()))
}

async fn a_smart_contract_wallet_signs_in_through_erc1271(backend: Backend) {
    let mut anvil = Anvil::start();
    let owner = TestWallet::from_seed(41);
    let contract = anvil.deploy(&wallet_deployment(&owner)).await;
    let contract_checksummed = contract
        .parse::<alloy_primitives::Address>()
        .expect("address")
        .to_checksum(None);
    let app = TestApp::spawn_with(backend, &[("CHAIN_RPC_ENDPOINT", &anvil.url)], &[]).await;

    let message_for = |nonce: &str| {
        let mut fields = owner.siwe_fields(&app.base_url, ANVIL_CHAIN_ID, nonce);
        fields.address = contract_checksummed.clone();
        fields.render()
    };
    // The owner's signature is valid for the contract wallet.
    let message = message_for(&app.nonce().await);
    let (status, body) = post_siwe(&app, &message, &owner.sign_message(&message)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["wallet"], contract.to_lowercase());

    // Someone else's signature is refused by the contract.
    let message = message_for(&app.nonce().await);
    let (status, body) = post_siwe(
        &app,
        &message,
        &TestWallet::from_seed(42).sign_message(&message),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("auth.signature_mismatch"))
    );

    // With the node down, a contract wallet cannot be checked: 503, no session.
    anvil.stop();
    let message = message_for(&app.nonce().await);
    let (status, body) = post_siwe(&app, &message, &owner.sign_message(&message)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("auth.chain_unavailable")
        ),
        "{body}"
    );
    // A plain key still signs in: its signature needs no chain.
    app.sign_in(&TestWallet::from_seed(43)).await;
    app.stop().await;
}

both_backends!(
    a_message_from_the_npm_siwe_and_viem_packages_signs_in,
    a_smart_contract_wallet_signs_in_through_erc1271
);
