//! `/health/ready` follows the database: 503 naming the check while PostgreSQL is unreachable,
//! 200 again once it is back.

use std::net::SocketAddr;

use reqwest::StatusCode;
use serde_json::Value;
use test_support::{Backend, TcpProxy, TestApp, TestDb, postgres_admin_url};

async fn ready(app: &TestApp) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("request");
    (response.status(), response.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_while_postgres_is_unreachable_and_200_after() {
    let test_db = TestDb::new(Backend::Postgres).await;
    let server_url = url::Url::parse(&postgres_admin_url()).expect("url");
    let target: SocketAddr = format!(
        "{}:{}",
        server_url.host_str().expect("host"),
        server_url.port().unwrap_or(5432)
    )
    .parse()
    .expect("PostgreSQL address");
    let proxy = TcpProxy::start(target).await;
    let mut via_proxy = url::Url::parse(&test_db.url).expect("url");
    via_proxy.set_host(Some("127.0.0.1")).expect("host");
    via_proxy.set_port(Some(proxy.addr().port())).expect("port");

    let app = TestApp::spawn_at(test_db, via_proxy.as_str(), &[], &[]).await;
    assert_eq!(ready(&app).await.0, StatusCode::OK);

    proxy.cut();
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"]["ok"], false);
    assert!(body["checks"]["database"]["error"].is_string());
    // Liveness does not depend on the database.
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .expect("request")
            .status(),
        StatusCode::OK
    );

    proxy.restore().await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stop().await;
}
