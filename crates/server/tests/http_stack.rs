//! The HTTP stack over a real server: health, request ids, security headers, CORS,
//! compression, the JSON error envelope for 404/405/408/413/415/422/500, panics, and
//! migrations applied once.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use axum::extract::Path;
use tokio::sync::Notify;

use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use platform::{AppState, Migration, Module};
use reqwest::StatusCode;
use serde_json::Value;
use test_support::{Backend, TestApp, both_backends};

fn probe_routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    Router::new()
        .route(
            "/api/test/echo",
            post(|Json(body): Json<EchoBody>| async move {
                Json(serde_json::json!({ "name": body.name }))
            }),
        )
        .route("/api/test/panic", get(|| async { panic_now() }))
        .route("/api/test/slow/{key}", get(slow))
        .into()
}

/// Keys of slow requests whose handler has started, and a wake-up for those waiting on one.
static STARTED: LazyLock<(Mutex<HashSet<String>>, Notify)> = LazyLock::new(Default::default);

async fn slow(Path(key): Path<String>) -> &'static str {
    STARTED.0.lock().expect("started set").insert(key);
    STARTED.1.notify_waiters();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "done"
}

async fn handler_started(key: &str) {
    loop {
        let notified = STARTED.1.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if STARTED.0.lock().expect("started set").contains(key) {
            return;
        }
        notified.await;
    }
}

#[derive(serde::Deserialize)]
struct EchoBody {
    name: String,
}

fn panic_now() -> &'static str {
    panic!("boom with a secret detail")
}

const PROBE: Module = Module {
    name: "probe",
    migrations: &[],
    provide: platform::module::provides_nothing,
    routes: probe_routes,
    register_jobs: platform::module::no_jobs,
};

async fn error_of(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{status} answered {content_type}"
    );
    let body: Value = response.json().await.expect("a JSON body");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_owned();
    (status, code, message)
}

async fn health_reports_status_version_and_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], server::VERSION);
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{timestamp}"
    );

    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("request");
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["ok"], true);
    app.stop().await;
}

async fn client_config_names_the_app_and_its_chains_and_no_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body: Value = app
        .client
        .get(app.url("/api/config"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(body["appName"], "QuickDapp");
    assert_eq!(body["baseUrl"], app.base_url);
    assert_eq!(body["chainIds"], serde_json::json!([1, 31337]));
    let text = body.to_string();
    assert!(
        !text.contains("test-session-key") && !text.contains("DATABASE"),
        "{text}"
    );
    app.stop().await;
}

async fn request_ids_are_echoed_or_generated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let given = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("request");
    assert_eq!(given.headers()["x-request-id"], "abc-123");
    let generated = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("request");
    let id = generated.headers()["x-request-id"].to_str().expect("ascii");
    assert_eq!(id.len(), 36, "a UUID, got {id}");
    app.stop().await;
}

async fn security_headers_are_on_every_response(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/health", "/", "/api/nope"] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().expect("ascii");
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(headers.contains_key("referrer-policy"), "{path}");
        assert!(
            !headers.contains_key("strict-transport-security"),
            "no HSTS over plain http"
        );
    }
    app.stop().await;
}

async fn api_errors_are_json_with_stable_codes(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("MAX_BODY_BYTES", "2048")], &[PROBE]).await;
    let c = &app.client;

    let (status, code, _) =
        error_of(c.get(app.url("/api/nope")).send().await.expect("request")).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "http.not_found")
    );

    let response = c.delete(app.url("/health")).send().await.expect("request");
    assert!(response.headers().contains_key("allow"), "405 keeps Allow");
    let (status, code, _) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "http.method_not_allowed")
    );

    let big = vec![b'x'; 4096];
    let (status, code, _) = error_of(
        c.post(app.url("/api/test/echo"))
            .body(big)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "http.payload_too_large")
    );

    let (status, code, _) = error_of(
        c.post(app.url("/api/test/echo"))
            .body("{}")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "http.unsupported_media_type"
        )
    );

    let (status, code, message) = error_of(
        c.post(app.url("/api/test/echo"))
            .json(&serde_json::json!({ "nom": 1 }))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "http.unprocessable_entity"
        )
    );
    assert!(
        message.contains("name"),
        "the message names the missing field: {message}"
    );

    let (status, code, _) = error_of(
        c.post(app.url("/api/test/echo"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "http.bad_request")
    );

    let ok = c
        .post(app.url("/api/test/echo"))
        .json(&serde_json::json!({ "name": "ada" }))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), StatusCode::OK);
    app.stop().await;
}

async fn a_panicking_handler_is_a_500_and_the_server_keeps_serving(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[], &[PROBE]).await;
    let (status, code, message) = error_of(
        app.client
            .get(app.url("/api/test/panic"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "http.internal")
    );
    assert!(
        !message.contains("secret"),
        "internals stay hidden: {message}"
    );
    let after = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("request");
    assert_eq!(after.status(), StatusCode::OK);
    app.stop().await;
}

async fn a_request_over_the_timeout_is_a_json_408(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("REQUEST_TIMEOUT", "200ms")], &[PROBE]).await;
    let (status, code, _) = error_of(
        app.client
            .get(app.url("/api/test/slow/timeout"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::REQUEST_TIMEOUT, "http.request_timeout")
    );
    app.stop().await;
}

async fn migrations_apply_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let applied = app.db.applied_versions().await.expect("versions");
    let expected: Vec<i64> = server::modules()
        .iter()
        .flat_map(|m| m.migrations.iter().map(|m| m.version))
        .collect();
    assert_eq!(applied.len(), expected.len());
    let test_db = app.stop().await;

    // A second start on the same database applies nothing.
    let db = platform::Db::connect(&test_db.url, Duration::from_secs(5))
        .await
        .expect("connect");
    assert_eq!(
        db.migrate(&server::modules()).await.expect("migrate"),
        Vec::<i64>::new()
    );

    // An applied migration whose SQL changed since is refused, not skipped.
    let mut edited = server::modules();
    let mut migrations = edited[0].migrations.to_vec();
    migrations[0].sqlite = "CREATE TABLE edited_since (id INTEGER);";
    migrations[0].postgres = "CREATE TABLE edited_since (id BIGINT);";
    edited[0].migrations = Box::leak(migrations.into_boxed_slice());
    assert!(
        db.migrate(&edited).await.is_err(),
        "a changed migration is an error"
    );
    // A new migration is applied on the next start, once.
    let mut grown = server::modules();
    let added = Migration {
        version: 299_912_310_001,
        description: "added later",
        sqlite: "CREATE TABLE added_later (id INTEGER);",
        postgres: "CREATE TABLE added_later (id BIGINT);",
    };
    grown.push(Module {
        name: "added",
        migrations: Box::leak(Box::new([added])),
        ..server::modules()[0]
    });
    assert_eq!(
        db.migrate(&grown).await.expect("migrate"),
        vec![299_912_310_001]
    );
    assert_eq!(
        db.migrate(&grown).await.expect("migrate"),
        Vec::<i64>::new()
    );
    db.close().await;
    let again = TestApp::spawn_on(test_db, &[], &[]).await;
    let mut with_added = applied.clone();
    with_added.push(299_912_310_001);
    assert_eq!(
        again.db.applied_versions().await.expect("versions"),
        with_added
    );
    again.stop().await;
}

async fn slow_request_in_flight_completes_during_shutdown(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, &[("SHUTDOWN_TIMEOUT", "10s")], &[PROBE]).await;
    let client = app.client.clone();
    let key = format!("shutdown-{backend:?}");
    let url = app.url(&format!("/api/test/slow/{key}"));
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    handler_started(&key).await;
    app.begin_shutdown();
    let response = in_flight
        .await
        .expect("task")
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "done");
    let addr = app.addr;
    app.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}

async fn cors_answers_configured_origins_only(backend: Backend) {
    let allowed = "https://app.example.com";
    let app = TestApp::spawn_with(backend, &[("CORS_ORIGINS", allowed)], &[]).await;
    let c = &app.client;
    // `/health` too: a cross-origin request goes through the CORS layer.
    for path in ["/health", "/api/config"] {
        let response = c
            .get(app.url(path))
            .header("origin", allowed)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            allowed,
            "{path}"
        );
        assert_eq!(
            response.headers()["access-control-allow-credentials"],
            "true"
        );
        assert!(response.headers().contains_key("x-request-id"), "{path}");

        let other = c
            .get(app.url(path))
            .header("origin", "https://evil.example.com")
            .send()
            .await
            .expect("request");
        assert!(
            !other.headers().contains_key("access-control-allow-origin"),
            "{path}: an unlisted origin is not allowed"
        );
    }
    let preflight = c
        .request(reqwest::Method::OPTIONS, app.url("/api/graphql"))
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .expect("request");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], allowed);
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ascii");
    assert!(methods.contains("POST"), "{methods}");
    app.stop().await;
}

async fn large_bodies_are_compressed_and_small_ones_are_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = &app.client;
    // The OpenAPI document is tens of KB, served from memory uncompressed.
    let plain = c
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("request");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.expect("body").len();
    let gzipped = c
        .get(app.url("/api/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let gzipped_len = gzipped.bytes().await.expect("body").len();
    assert!(
        gzipped_len < plain_len / 2,
        "{gzipped_len} of {plain_len} bytes"
    );
    // `/health` is under the threshold: sent as it is, whatever the client accepts.
    for accept in ["gzip", "br"] {
        let health = c
            .get(app.url("/health"))
            .header("accept-encoding", accept)
            .send()
            .await
            .expect("request");
        assert!(
            health.headers().get("content-encoding").is_none(),
            "{accept}"
        );
        assert_eq!(health.headers()["content-type"], "application/json");
        let body: Value = health.json().await.expect("plain JSON");
        assert_eq!(body["status"], "ok");
    }
    app.stop().await;
}

both_backends!(
    health_reports_status_version_and_time,
    request_ids_are_echoed_or_generated,
    client_config_names_the_app_and_its_chains_and_no_secret,
    security_headers_are_on_every_response,
    api_errors_are_json_with_stable_codes,
    a_panicking_handler_is_a_500_and_the_server_keeps_serving,
    a_request_over_the_timeout_is_a_json_408,
    migrations_apply_once,
    slow_request_in_flight_completes_during_shutdown,
    cors_answers_configured_origins_only,
    large_bodies_are_compressed_and_small_ones_are_not,
);
