//! Sign-in over HTTP on both backends: SIWE rules each with its own code, single-use nonces
//! under concurrency, refresh rotation with reuse detection, logout, cookies with CSRF, and
//! the per-IP rate limit; and the same flow over GraphQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::{Backend, TestApp, TestWallet, both_backends, hex_signature};

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

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

async fn get_session(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url("/auth/session"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    (response.status(), response.json().await.expect("json"))
}

async fn refresh(app: &TestApp, refresh_token: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/auth/refresh"))
        .json(&json!({ "refreshToken": refresh_token }))
        .send()
        .await
        .expect("request");
    (response.status(), response.json().await.expect("json"))
}

async fn a_signed_message_opens_a_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wallet = TestWallet::from_seed(1);
    let body = app.sign_in(&wallet).await;
    assert_eq!(body["user"]["wallet"], wallet.checksummed().to_lowercase());
    assert!(
        body["refreshToken"]
            .as_str()
            .expect("refresh token")
            .starts_with("qdr_")
    );
    let token = body["token"].as_str().expect("token");
    let (status, session) = get_session(&app, token).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["wallet"], body["user"]["wallet"]);
    assert_eq!(session["user"]["id"], body["user"]["id"]);

    // The same wallet signing in again is the same user.
    let again = app.sign_in(&wallet).await;
    assert_eq!(again["user"]["id"], body["user"]["id"]);
    app.stop().await;
}

async fn nonces_are_single_use_known_and_fresh(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[], &[]).await;
    let wallet = TestWallet::from_seed(2);
    let nonce = app.nonce().await;
    let message = wallet.siwe_fields(&app.base_url, 1, &nonce).render();
    let signature = wallet.sign_message(&message);
    assert_eq!(
        post_siwe(&app, &message, &signature).await.0,
        StatusCode::OK
    );
    let (status, body) = post_siwe(&app, &message, &signature).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.nonce_reused")
    );

    let invented = wallet
        .siwe_fields(&app.base_url, 1, "InventedNonce123")
        .render();
    let (status, body) = post_siwe(&app, &invented, &wallet.sign_message(&invented)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.nonce_unknown")
    );
    app.stop().await;

    let app = TestApp::spawn_with(backend, &[("AUTH_NONCE_TTL", "0ms")], &[]).await;
    let nonce = app.nonce().await;
    let message = wallet.siwe_fields(&app.base_url, 1, &nonce).render();
    let (status, body) = post_siwe(&app, &message, &wallet.sign_message(&message)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.nonce_expired")
    );
    app.stop().await;
}

async fn each_message_rule_has_its_own_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wallet = TestWallet::from_seed(3);
    let now = chrono::Utc::now();
    let at = move |offset: chrono::TimeDelta| {
        (now + offset).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let port = app.addr.port();
    type Edit = Box<dyn Fn(&mut test_support::SiweFields)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "other host",
            Box::new(|f| f.domain = "evil.example".into()),
            "auth.domain_mismatch",
        ),
        (
            "other port",
            Box::new(|f| f.domain = "127.0.0.1:1".into()),
            "auth.domain_mismatch",
        ),
        (
            "user@host",
            Box::new(move |f| f.domain = format!("user@127.0.0.1:{port}")),
            "auth.domain_mismatch",
        ),
        (
            "uri elsewhere",
            Box::new(|f| f.uri = "https://evil.example/login".into()),
            "auth.uri_mismatch",
        ),
        (
            "chain not allowed",
            Box::new(|f| f.chain_id = 5),
            "auth.chain_not_allowed",
        ),
        (
            "issued in the future",
            Box::new(move |f| f.issued_at = at(chrono::TimeDelta::hours(1))),
            "auth.issued_in_future",
        ),
        (
            "expired",
            Box::new(move |f| f.expiration_time = Some(at(chrono::TimeDelta::seconds(-1)))),
            "auth.message_expired",
        ),
        (
            "not yet valid",
            Box::new(move |f| f.not_before = Some(at(chrono::TimeDelta::hours(1)))),
            "auth.message_not_yet_valid",
        ),
        (
            "bad address checksum",
            Box::new(|f| f.address = f.address.to_lowercase().replacen("0x", "0X", 1)),
            "auth.malformed_message",
        ),
    ];
    for (name, edit, expected) in cases {
        let mut fields = wallet.siwe_fields(&app.base_url, 1, &app.nonce().await);
        edit(&mut fields);
        let message = fields.render();
        let (status, body) = post_siwe(&app, &message, &wallet.sign_message(&message)).await;
        assert_eq!(code(&body), expected, "{name}: {body}");
        assert!(status.is_client_error(), "{name}: {status}");
    }
    app.stop().await;
}

async fn each_signature_rule_has_its_own_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wallet = TestWallet::from_seed(4);
    let other = TestWallet::from_seed(5);
    let message = wallet
        .siwe_fields(&app.base_url, 1, &app.nonce().await)
        .render();
    let good = wallet.sign_raw(&message);

    let mut high_s = good;
    // s' = n - s is the same signature's malleable twin; it recovers with the other v.
    let n = alloy_primitives::U256::from_str_radix(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
        16,
    )
    .expect("n");
    let s = alloy_primitives::U256::from_be_slice(&good[32..64]);
    high_s[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    high_s[64] = if good[64] == 27 { 28 } else { 27 };
    let mut bad_v = good;
    bad_v[64] = 29;

    let too_big = format!("{}\n{}", message, "x".repeat(5000));
    let cases = [
        (
            "signed by someone else",
            message.clone(),
            other.sign_message(&message),
            StatusCode::UNAUTHORIZED,
            "auth.signature_mismatch",
        ),
        (
            "64 bytes",
            message.clone(),
            hex_signature(&good[..64]),
            StatusCode::BAD_REQUEST,
            "auth.malformed_signature",
        ),
        (
            "not hex",
            message.clone(),
            "0xzz".to_owned(),
            StatusCode::BAD_REQUEST,
            "auth.malformed_signature",
        ),
        (
            "v = 29",
            message.clone(),
            hex_signature(&bad_v),
            StatusCode::UNAUTHORIZED,
            "auth.signature_bad_v",
        ),
        (
            "high s",
            message.clone(),
            hex_signature(&high_s),
            StatusCode::UNAUTHORIZED,
            "auth.signature_high_s",
        ),
        (
            "over 4 KB",
            too_big,
            hex_signature(&good),
            StatusCode::BAD_REQUEST,
            "auth.message_too_large",
        ),
    ];
    for (name, message, signature, status, expected) in cases {
        let (got_status, body) = post_siwe(&app, &message, &signature).await;
        assert_eq!(
            (got_status, code(&body)),
            (status, expected),
            "{name}: {body}"
        );
    }
    // None of the refused attempts spent the nonce: the genuine signature still works.
    assert_eq!(
        post_siwe(&app, &message, &hex_signature(&good)).await.0,
        StatusCode::OK
    );
    // v as 0/1 (some wallets) is accepted too.
    let message = wallet
        .siwe_fields(&app.base_url, 1, &app.nonce().await)
        .render();
    let mut zero_based = wallet.sign_raw(&message);
    zero_based[64] -= 27;
    assert_eq!(
        post_siwe(&app, &message, &hex_signature(&zero_based))
            .await
            .0,
        StatusCode::OK
    );
    app.stop().await;
}

async fn twenty_concurrent_submissions_of_one_message_make_one_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wallet = TestWallet::from_seed(6);
    let message = wallet
        .siwe_fields(&app.base_url, 1, &app.nonce().await)
        .render();
    let signature = wallet.sign_message(&message);
    let attempts = (0..20).map(|_| {
        let (client, url) = (app.client.clone(), app.url("/auth/siwe"));
        let body = json!({ "message": message, "signature": signature });
        tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("request")
                .status()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        19,
        "{statuses:?}"
    );
    app.stop().await;
}

async fn a_disabled_user_cannot_sign_in_or_refresh(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wallet = TestWallet::from_seed(7);
    let first = app.sign_in(&wallet).await;
    let user_id = first["user"]["id"].as_i64().expect("id");
    assert!(
        platform::users::set_user_disabled(&app.db, user_id, true)
            .await
            .expect("disable")
    );

    let message = wallet
        .siwe_fields(&app.base_url, 1, &app.nonce().await)
        .render();
    let (status, body) = post_siwe(&app, &message, &wallet.sign_message(&message)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "auth.account_disabled")
    );
    let (status, body) = refresh(&app, first["refreshToken"].as_str().expect("refresh")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "auth.account_disabled")
    );
    app.stop().await;
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let signed_in = app.sign_in(&TestWallet::from_seed(8)).await;
    let first_refresh = signed_in["refreshToken"].as_str().expect("refresh");

    let (status, rotated) = refresh(&app, first_refresh).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second_refresh = rotated["refreshToken"].as_str().expect("refresh");
    assert_ne!(second_refresh, first_refresh);
    let new_access = rotated["token"].as_str().expect("token");
    assert_eq!(get_session(&app, new_access).await.0, StatusCode::OK);

    // The spent token comes back: theft is assumed, the whole family ends.
    let (status, body) = refresh(&app, first_refresh).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.refresh_token_reused")
    );
    let (status, body) = refresh(&app, second_refresh).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.invalid_refresh_token")
    );
    let (status, body) = get_session(&app, new_access).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.session_revoked")
    );
    app.stop().await;
}

async fn ten_parallel_refreshes_with_one_token_let_exactly_one_through(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let signed_in = app.sign_in(&TestWallet::from_seed(9)).await;
    let token = signed_in["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let attempts = (0..10).map(|_| {
        let (client, url, token) = (app.client.clone(), app.url("/auth/refresh"), token.clone());
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({ "refreshToken": token }))
                .send()
                .await
                .expect("request")
                .status()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    app.stop().await;
}

async fn logout_ends_the_access_token_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let signed_in = app.sign_in(&TestWallet::from_seed(10)).await;
    let token = signed_in["token"].as_str().expect("token");
    assert_eq!(get_session(&app, token).await.0, StatusCode::OK);
    let response = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = get_session(&app, token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.session_revoked")
    );
    let (status, body) = refresh(&app, signed_in["refreshToken"].as_str().expect("refresh")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.invalid_refresh_token")
    );

    // Sign out everywhere ends every session of the user.
    let wallet = TestWallet::from_seed(11);
    let (a, b) = (app.sign_in(&wallet).await, app.sign_in(&wallet).await);
    let response = app
        .client
        .post(app.url("/auth/logout-all"))
        .bearer_auth(a["token"].as_str().expect("token"))
        .send()
        .await
        .expect("request");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["sessionsEnded"], 2);
    assert_eq!(
        get_session(&app, b["token"].as_str().expect("token"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

/// An HS256 token signed with the server's real key, carrying `claims`.
fn forge(claims: &Value) -> String {
    let secret = auth::tokens::signing_secret("test-session-key-0123456789abcdef0123456789abcdef");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .expect("encode")
}

fn b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn forged_and_misused_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let signed_in = app.sign_in(&TestWallet::from_seed(12)).await;
    let token = signed_in["token"].as_str().expect("token").to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    let payload: Value = {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .expect("b64"),
        )
        .expect("json")
    };
    let with = |key: &str, value: Value| {
        let mut claims = payload.clone();
        claims[key] = value;
        claims
    };
    let now = chrono::Utc::now().timestamp();
    let mut attacks: Vec<(&str, String, &str)> = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "JWT" });
        attacks.push((
            "alg none",
            format!("{}.{}.", b64(&header), parts[1]),
            "auth.invalid_token",
        ));
    }
    attacks.push((
        "RS256 header",
        format!(
            "{}.{}.{}",
            b64(&json!({ "alg": "RS256", "typ": "JWT" })),
            parts[1],
            parts[2]
        ),
        "auth.invalid_token",
    ));
    attacks.push((
        "HS512 header",
        format!(
            "{}.{}.{}",
            b64(&json!({ "alg": "HS512", "typ": "JWT" })),
            parts[1],
            parts[2]
        ),
        "auth.invalid_token",
    ));
    attacks.push((
        "tampered payload",
        format!(
            "{}.{}.{}",
            parts[0],
            b64(&with("sub", json!("999"))),
            parts[2]
        ),
        "auth.invalid_token",
    ));
    let wrong_key = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &payload,
        &jsonwebtoken::EncodingKey::from_secret(b"some other key entirely"),
    )
    .expect("encode");
    attacks.push(("wrong key", wrong_key, "auth.invalid_token"));
    attacks.push((
        "exp as string",
        forge(&with("exp", json!((now + 600).to_string()))),
        "auth.invalid_token",
    ));
    attacks.push((
        "exp as float",
        forge(&with("exp", json!((now + 600) as f64 + 0.5))),
        "auth.invalid_token",
    ));
    attacks.push((
        "nbf as string",
        forge(&with("nbf", json!(now.to_string()))),
        "auth.invalid_token",
    ));
    attacks.push((
        "nbf in the future",
        forge(&with("nbf", json!(now + 3600))),
        "auth.invalid_token",
    ));
    attacks.push((
        "wrong iss",
        forge(&with("iss", json!("someone-else"))),
        "auth.invalid_token",
    ));
    attacks.push((
        "wrong aud",
        forge(&with("aud", json!("https://evil.example"))),
        "auth.invalid_token",
    ));
    attacks.push((
        "no exp",
        forge(&{
            let mut c = payload.clone();
            c.as_object_mut().expect("object").remove("exp");
            c
        }),
        "auth.invalid_token",
    ));
    attacks.push((
        "refresh token as access",
        signed_in["refreshToken"]
            .as_str()
            .expect("refresh")
            .to_owned(),
        "auth.invalid_token",
    ));
    attacks.push((
        "expired",
        forge(&with("exp", json!(now - 3600))),
        "auth.token_expired",
    ));
    attacks.push((
        "other user's id",
        forge(&with("sub", json!("424242"))),
        "auth.invalid_token",
    ));
    attacks.push((
        "not an access token",
        forge(&with("typ", json!("refresh"))),
        "auth.invalid_token",
    ));

    for (name, forged, expected) in attacks {
        let (status, body) = get_session(&app, &forged).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, expected),
            "{name}"
        );
    }
    // The genuine token still works, and an access token is no refresh token.
    assert_eq!(get_session(&app, &token).await.0, StatusCode::OK);
    let (status, body) = refresh(&app, &token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.invalid_refresh_token")
    );
    let response = app
        .client
        .get(app.url("/auth/session"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .client
        .get(app.url("/auth/session"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "a bad scheme is an error, never anonymous"
    );
    app.stop().await;
}

/// The `name=value` pairs a response set, for replaying as a `Cookie` header.
fn cookies_of(response: &reqwest::Response) -> Vec<(String, String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|line| {
            let (pair, attributes) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=')?;
            Some((name.to_owned(), value.to_owned(), attributes.to_owned()))
        })
        .collect()
}

async fn cookie_sessions_need_the_csrf_token_to_change_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wallet = TestWallet::from_seed(13);
    let message = wallet
        .siwe_fields(&app.base_url, 1, &app.nonce().await)
        .render();
    let response = app
        .client
        .post(app.url("/auth/siwe"))
        .json(&json!({ "message": message, "signature": wallet.sign_message(&message), "mode": "cookie" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = cookies_of(&response);
    let body: Value = response.json().await.expect("json");
    assert!(
        body.get("token").is_none() && body.get("refreshToken").is_none(),
        "cookie mode keeps tokens out of the body"
    );
    let csrf = body["csrfToken"].as_str().expect("csrf token").to_owned();
    let find = |name: &str| {
        cookies
            .iter()
            .find(|(n, _, _)| n == name)
            .cloned()
            .unwrap_or_else(|| panic!("cookie {name}"))
    };
    let (_, access, access_attributes) = find("qd_access");
    let (_, refresh_value, refresh_attributes) = find("qd_refresh");
    assert!(
        access_attributes.contains("HttpOnly") && access_attributes.contains("SameSite=Lax"),
        "{access_attributes}"
    );
    assert!(
        refresh_attributes.contains("HttpOnly") && refresh_attributes.contains("Path=/auth"),
        "{refresh_attributes}"
    );
    assert!(
        !access_attributes.contains("Secure"),
        "no Secure flag over plain http in test mode"
    );
    let jar = format!("qd_access={access}; qd_refresh={refresh_value}; qd_csrf={csrf}");

    let session = app
        .client
        .get(app.url("/auth/session"))
        .header("cookie", &jar)
        .send()
        .await
        .expect("request");
    assert_eq!(session.status(), StatusCode::OK);

    let refused = app
        .client
        .post(app.url("/auth/refresh"))
        .header("cookie", &jar)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(code(&body), "auth.csrf_failed");
    let wrong = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", &jar)
        .header("x-csrf-token", "guess")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);

    let refreshed = app
        .client
        .post(app.url("/auth/refresh"))
        .header("cookie", &jar)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("request");
    assert_eq!(refreshed.status(), StatusCode::OK);
    let rotated = cookies_of(&refreshed);
    let new_access = rotated
        .iter()
        .find(|(n, _, _)| n == "qd_access")
        .expect("new access")
        .1
        .clone();
    let new_csrf = rotated
        .iter()
        .find(|(n, _, _)| n == "qd_csrf")
        .expect("new csrf")
        .1
        .clone();
    let jar = format!("qd_access={new_access}; qd_csrf={new_csrf}");
    let logout = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", &jar)
        .header("x-csrf-token", &new_csrf)
        .send()
        .await
        .expect("request");
    assert_eq!(logout.status(), StatusCode::OK);
    let cleared = cookies_of(&logout);
    assert!(
        cleared
            .iter()
            .any(|(n, v, a)| n == "qd_access" && v.is_empty() && a.contains("Max-Age=0"))
    );
    app.stop().await;
}

async fn auth_routes_are_rate_limited_per_ip(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTH_RATE_LIMIT", "3")], &[]).await;
    for _ in 0..3 {
        let response = app
            .client
            .get(app.url("/auth/nonce"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let limited = app
        .client
        .get(app.url("/auth/nonce"))
        .send()
        .await
        .expect("request");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = limited.json().await.expect("json");
    assert_eq!(code(&body), "auth.rate_limited");
    // Other routes are not limited.
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .expect("request")
            .status(),
        StatusCode::OK
    );
    app.stop().await;
}

fn graphql_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no error code>")
}

const SIGN_IN: &str = "mutation($m: String!, $s: String!) { signInWithEthereum(message: $m, signature: $s) { token refreshToken expiresAt refreshExpiresAt user { id wallet isAdmin } } }";
const REFRESH: &str =
    "mutation($r: String!) { refreshSession(refreshToken: $r) { token refreshToken } }";
const MY_SESSION: &str = "{ mySession { user { id wallet } session { id createdAt expiresAt } } }";

async fn graphql_signs_in_refreshes_and_signs_out_with_the_rest_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wallet = TestWallet::from_seed(3);
    let issued = app
        .graphql(
            None,
            "mutation { issueNonce { nonce expiresAt } }",
            json!({}),
        )
        .await;
    let nonce = issued["data"]["issueNonce"]["nonce"]
        .as_str()
        .expect("a nonce")
        .to_owned();
    assert!(issued["data"]["issueNonce"]["expiresAt"].is_string());
    let message = wallet.siwe_fields(&app.base_url, 1, &nonce).render();
    let signature = wallet.sign_message(&message);

    let signed_in = app
        .graphql(None, SIGN_IN, json!({ "m": message, "s": signature }))
        .await;
    let session = &signed_in["data"]["signInWithEthereum"];
    assert_eq!(
        session["user"]["wallet"],
        wallet.checksummed().to_lowercase(),
        "{signed_in}"
    );
    let token = session["token"].as_str().expect("token").to_owned();
    let refresh_token = session["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    // The token works for REST too, and the same message cannot be replayed.
    let (status, _) = get_session(&app, &token).await;
    assert_eq!(status, StatusCode::OK);
    let replayed = app
        .graphql(None, SIGN_IN, json!({ "m": message, "s": signature }))
        .await;
    assert_eq!(graphql_code(&replayed), "auth.nonce_reused", "{replayed}");
    assert!(replayed["data"].is_null() || replayed["data"]["signInWithEthereum"].is_null());

    // A wrong signer gets the REST route's code.
    let nonce = app
        .graphql(None, "mutation { issueNonce { nonce } }", json!({}))
        .await["data"]["issueNonce"]["nonce"]
        .as_str()
        .expect("nonce")
        .to_owned();
    let message = wallet.siwe_fields(&app.base_url, 1, &nonce).render();
    let forged = TestWallet::from_seed(4).sign_message(&message);
    let refused = app
        .graphql(None, SIGN_IN, json!({ "m": message, "s": forged }))
        .await;
    assert_eq!(
        graphql_code(&refused),
        "auth.signature_mismatch",
        "{refused}"
    );

    let mine = app.graphql(Some(&token), MY_SESSION, json!({})).await;
    assert_eq!(
        mine["data"]["mySession"]["user"]["wallet"],
        session["user"]["wallet"]
    );
    let anonymous = app.graphql(None, MY_SESSION, json!({})).await;
    assert_eq!(graphql_code(&anonymous), "UNAUTHORIZED");

    // Rotation, and reuse of a spent refresh token revokes the session.
    let rotated = app
        .graphql(None, REFRESH, json!({ "r": refresh_token }))
        .await;
    let new_token = rotated["data"]["refreshSession"]["token"]
        .as_str()
        .expect("a new token")
        .to_owned();
    let reused = app
        .graphql(None, REFRESH, json!({ "r": refresh_token }))
        .await;
    assert_eq!(
        graphql_code(&reused),
        "auth.refresh_token_reused",
        "{reused}"
    );
    let revoked = app.graphql(Some(&new_token), MY_SESSION, json!({})).await;
    assert_eq!(graphql_code(&revoked), "UNAUTHORIZED", "{revoked}");

    // Sign out ends the access token at once.
    let again = app.sign_in(&wallet).await;
    let token = again["token"].as_str().expect("token");
    let out = app
        .graphql(Some(token), "mutation { signOut { success } }", json!({}))
        .await;
    assert_eq!(out["data"]["signOut"]["success"], true, "{out}");
    let after = app.graphql(Some(token), MY_SESSION, json!({})).await;
    assert_eq!(graphql_code(&after), "UNAUTHORIZED");
    app.stop().await;
}

async fn graphql_sign_in_shares_the_per_ip_rate_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTH_RATE_LIMIT", "3")], &[]).await;
    for _ in 0..3 {
        let issued = app
            .graphql(None, "mutation { issueNonce { nonce } }", json!({}))
            .await;
        assert!(
            issued["data"]["issueNonce"]["nonce"].is_string(),
            "{issued}"
        );
    }
    let limited = app
        .graphql(None, "mutation { issueNonce { nonce } }", json!({}))
        .await;
    assert_eq!(graphql_code(&limited), "auth.rate_limited", "{limited}");
    let retry_after = limited["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // The REST routes count against the same budget.
    let rest = app
        .client
        .get(app.url("/auth/nonce"))
        .send()
        .await
        .expect("request");
    assert_eq!(rest.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

both_backends!(
    graphql_signs_in_refreshes_and_signs_out_with_the_rest_rules,
    graphql_sign_in_shares_the_per_ip_rate_limit,
    a_signed_message_opens_a_session,
    nonces_are_single_use_known_and_fresh,
    each_message_rule_has_its_own_code,
    each_signature_rule_has_its_own_code,
    twenty_concurrent_submissions_of_one_message_make_one_session,
    a_disabled_user_cannot_sign_in_or_refresh,
    refresh_tokens_rotate_and_reuse_revokes_the_session,
    ten_parallel_refreshes_with_one_token_let_exactly_one_through,
    logout_ends_the_access_token_at_once,
    forged_and_misused_tokens_are_refused,
    cookie_sessions_need_the_csrf_token_to_change_state,
    auth_routes_are_rate_limited_per_ip,
);
