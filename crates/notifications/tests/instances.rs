//! Two server instances on one PostgreSQL: a notification stored through instance A reaches
//! a socket on instance B (LISTEN/NOTIFY carries ids; B reads the row), and a logout on A
//! closes the session's socket on B.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use test_support::{Backend, TestApp, TestDb, TestWallet};
use tokio_tungstenite::tungstenite::Message;

async fn next_of(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    kind: &str,
) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s");
        if let Some(Ok(Message::Text(text))) = frame {
            let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
            if message["type"] == kind || message["type"] == "error" {
                return message;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_written_on_one_instance_reaches_a_socket_on_another() {
    let a = TestApp::spawn(Backend::Postgres).await;
    // Instances of one deployment share its public address (and so the token audience).
    let b = TestApp::spawn_on(
        TestDb::shared(&a.test_db),
        &[("BASE_URL", &a.base_url)],
        &[],
    )
    .await;
    let signed_in = a.sign_in(&TestWallet::from_seed(30)).await;
    let token = signed_in["token"].as_str().expect("token");
    let user_id = signed_in["user"]["id"].as_i64().expect("id");

    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/ws?token={token}", b.addr))
            .await
            .expect("connect to B");
    let hello = next_of(&mut socket, "user_authenticated").await;
    assert_eq!(hello["data"]["userId"], user_id);
    socket
        .send(Message::text(
            json!({ "type": "resume", "data": { "since": 0 } }).to_string(),
        ))
        .await
        .expect("send");

    let service = a.service::<notifications::NotificationService>();
    for n in 1..=20 {
        service
            .notify_user(user_id, json!({ "n": n }))
            .await
            .expect("notify on A");
    }
    for expected in 1..=20 {
        let message = next_of(&mut socket, "notification").await;
        assert_eq!(message["data"]["seq"], expected, "{message}");
    }

    // Logging out through A closes the session's socket on B.
    let response = a
        .client
        .post(a.url("/auth/logout"))
        .bearer_auth(token)
        .send()
        .await
        .expect("logout");
    assert!(response.status().is_success());
    let closed = next_of(&mut socket, "never").await;
    assert_eq!(closed["data"]["code"], "SESSION_REVOKED");
    b.stop().await;
    a.stop().await;
}
