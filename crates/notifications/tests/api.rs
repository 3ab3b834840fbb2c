//! Notifications over real clients on both backends: GraphQL (reqwest) for listing, counts,
//! marking read and isolation; WebSocket (tokio-tungstenite) for live delivery to every socket
//! of a user, resume without gaps or duplicates, acks, bad frames and limits.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::{Backend, TestApp, TestWallet, both_backends};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Member {
    token: String,
    user_id: i64,
}

async fn member(app: &TestApp, seed: u8) -> Member {
    let body = app.sign_in(&TestWallet::from_seed(seed)).await;
    Member {
        token: body["token"].as_str().expect("token").to_owned(),
        user_id: body["user"]["id"].as_i64().expect("id"),
    }
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

async fn notify(app: &TestApp, user_id: i64, n: i64) -> i64 {
    let service = app.service::<notifications::NotificationService>();
    service
        .notify_user(user_id, json!({ "title": format!("n{n}"), "n": n }))
        .await
        .expect("notify")
        .seq
}

const PAGE: &str = "query($p: PageParam!) { getMyNotifications(pageParam: $p) { startIndex total notifications { id seq userId data read createdAt } } }";

async fn graphql_lists_counts_and_marks_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = member(&app, 20).await;
    for n in 1..=25 {
        notify(&app, alice.user_id, n).await;
    }
    let page = app
        .graphql(
            Some(&alice.token),
            PAGE,
            json!({ "p": { "startIndex": 0, "perPage": 10 } }),
        )
        .await;
    let list = &page["data"]["getMyNotifications"];
    assert_eq!(list["total"], 25);
    assert_eq!(list["notifications"].as_array().expect("list").len(), 10);
    assert_eq!(list["notifications"][0]["data"]["n"], 25, "newest first");
    let last = app
        .graphql(
            Some(&alice.token),
            PAGE,
            json!({ "p": { "startIndex": 20, "perPage": 10 } }),
        )
        .await;
    assert_eq!(
        last["data"]["getMyNotifications"]["notifications"]
            .as_array()
            .expect("list")
            .len(),
        5
    );

    let count = app
        .graphql(
            Some(&alice.token),
            "{ getMyUnreadNotificationsCount }",
            json!({}),
        )
        .await;
    assert_eq!(count["data"]["getMyUnreadNotificationsCount"], 25);
    let id = list["notifications"][0]["id"].as_i64().expect("id");
    let marked = app
        .graphql(
            Some(&alice.token),
            "mutation($id: PositiveInt!) { markNotificationAsRead(id: $id) { success } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(marked["data"]["markNotificationAsRead"]["success"], true);
    let count = app
        .graphql(
            Some(&alice.token),
            "{ getMyUnreadNotificationsCount }",
            json!({}),
        )
        .await;
    assert_eq!(count["data"]["getMyUnreadNotificationsCount"], 24);
    let all = app
        .graphql(
            Some(&alice.token),
            "mutation { markAllNotificationsAsRead { success } }",
            json!({}),
        )
        .await;
    assert_eq!(all["data"]["markAllNotificationsAsRead"]["success"], true);
    let count = app
        .graphql(
            Some(&alice.token),
            "{ getMyUnreadNotificationsCount }",
            json!({}),
        )
        .await;
    assert_eq!(count["data"]["getMyUnreadNotificationsCount"], 0);
    app.stop().await;
}

async fn graphql_guards_inputs_and_other_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = member(&app, 21).await;
    let bob = member(&app, 22).await;
    notify(&app, alice.user_id, 1).await;
    let alices = app
        .graphql(
            Some(&alice.token),
            PAGE,
            json!({ "p": { "startIndex": 0, "perPage": 10 } }),
        )
        .await;
    let alice_id = alices["data"]["getMyNotifications"]["notifications"][0]["id"]
        .as_i64()
        .expect("id");

    let anonymous = app
        .graphql(None, "{ getMyUnreadNotificationsCount }", json!({}))
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHORIZED");
    let forged = app
        .graphql(
            Some("not.a.token"),
            "{ getMyUnreadNotificationsCount }",
            json!({}),
        )
        .await;
    assert_eq!(
        error_code(&forged),
        "UNAUTHORIZED",
        "a bad token is an error, never anonymous"
    );
    let public = app.graphql(None, "{ health version }", json!({})).await;
    assert_eq!(public["data"]["health"], "OK");

    // Bob sees none of Alice's and cannot touch hers: the same answer as a missing one.
    let bobs = app
        .graphql(
            Some(&bob.token),
            PAGE,
            json!({ "p": { "startIndex": 0, "perPage": 10 } }),
        )
        .await;
    assert_eq!(bobs["data"]["getMyNotifications"]["total"], 0);
    let steal = app
        .graphql(
            Some(&bob.token),
            "mutation($id: PositiveInt!) { markNotificationAsRead(id: $id) { success } }",
            json!({ "id": alice_id }),
        )
        .await;
    assert_eq!(error_code(&steal), "NOT_FOUND");
    let missing = app
        .graphql(
            Some(&bob.token),
            "mutation { markNotificationAsRead(id: 999999) { success } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
    assert_eq!(
        steal["errors"][0]["message"],
        missing["errors"][0]["message"]
    );

    let too_many = app
        .graphql(
            Some(&alice.token),
            PAGE,
            json!({ "p": { "startIndex": 0, "perPage": 101 } }),
        )
        .await;
    assert_eq!(error_code(&too_many), "BAD_USER_INPUT");
    let zero = app
        .graphql(
            Some(&alice.token),
            PAGE,
            json!({ "p": { "startIndex": 0, "perPage": 0 } }),
        )
        .await;
    assert!(zero["errors"].is_array(), "PositiveInt refuses 0");
    let create = app
        .graphql(
            Some(&alice.token),
            "mutation { createNotification(userId: 1, data: {a: 1}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&create), "FORBIDDEN");

    let deep = format!("{{ {}health{} }}", "__typename ".repeat(0), "");
    assert!(app.graphql(None, &deep, json!({})).await["errors"].is_null());
    let mutation_over_get = app.client.get(app.url("/api/graphql?query=mutation%20%7B%20markAllNotificationsAsRead%20%7B%20success%20%7D%20%7D")).send().await.expect("request");
    assert_eq!(mutation_over_get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let query_over_get = app
        .client
        .get(app.url("/api/graphql?query=%7B%20version%20%7D"))
        .send()
        .await
        .expect("request");
    assert_eq!(query_over_get.status(), StatusCode::OK);
    app.stop().await;
}

async fn connect(app: &TestApp) -> Socket {
    let url = format!("ws://{}/api/ws", app.addr);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects")
        .0
}

async fn send(socket: &mut Socket, kind: &str, data: Value) {
    socket
        .send(Message::text(
            json!({ "type": kind, "data": data }).to_string(),
        ))
        .await
        .expect("send");
}

/// The next JSON text message (pings are answered by the library).
async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("JSON envelope");
        }
    }
}

async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let message = next(socket).await;
        if message["type"] == kind {
            return message;
        }
    }
}

async fn authenticated(app: &TestApp, member: &Member) -> Socket {
    let mut socket = connect(app).await;
    send(
        &mut socket,
        "user_authenticated",
        json!({ "token": member.token }),
    )
    .await;
    let reply = next(&mut socket).await;
    assert_eq!(reply["type"], "user_authenticated", "{reply}");
    assert_eq!(reply["data"]["userId"], member.user_id);
    assert!(reply["timestamp"].is_u64());
    socket
}

async fn every_socket_of_the_user_gets_it_and_nobody_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = member(&app, 23).await;
    let bob = member(&app, 24).await;
    let mut tabs = vec![
        authenticated(&app, &alice).await,
        authenticated(&app, &alice).await,
    ];
    let mut other = authenticated(&app, &bob).await;
    let seq = notify(&app, alice.user_id, 1).await;
    for tab in &mut tabs {
        let message = next_of(tab, "notification").await;
        assert_eq!(message["data"]["seq"], seq);
        assert_eq!(message["data"]["data"]["title"], "n1");
    }
    // Bob gets his own, never Alice's.
    notify(&app, bob.user_id, 2).await;
    let message = next_of(&mut other, "notification").await;
    assert_eq!(message["data"]["userId"], bob.user_id);
    app.stop().await;
}

async fn bad_frames_get_errors_and_the_connection_survives(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut socket = connect(&app).await;
    socket.send(Message::text("{not json")).await.expect("send");
    assert_eq!(
        next(&mut socket).await["data"]["code"],
        "INVALID_MESSAGE_FORMAT"
    );
    send(&mut socket, "teleport", json!({})).await;
    assert_eq!(
        next(&mut socket).await["data"]["code"],
        "UNKNOWN_MESSAGE_TYPE"
    );
    send(&mut socket, "resume", json!({ "since": 0 })).await;
    assert_eq!(next(&mut socket).await["data"]["code"], "UNAUTHORIZED");
    send(
        &mut socket,
        "user_authenticated",
        json!({ "token": "forged" }),
    )
    .await;
    assert_eq!(next(&mut socket).await["data"]["code"], "UNAUTHORIZED");
    send(&mut socket, "heartbeat", json!({})).await;
    assert_eq!(next(&mut socket).await["type"], "heartbeat");
    socket
        .send(Message::text("x".repeat(40_000)))
        .await
        .expect("send");
    // An oversized frame ends the connection (the protocol's own limit).
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true));
    app.stop().await;
}

async fn a_dropped_client_resumes_without_gaps_or_duplicates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = member(&app, 25).await;
    let total: i64 = 1000;
    let producer = {
        let service = app.service::<notifications::NotificationService>().clone();
        let user = alice.user_id;
        tokio::spawn(async move {
            for n in 1..=total {
                service
                    .notify_user(user, json!({ "n": n }))
                    .await
                    .expect("notify");
            }
        })
    };
    let mut seen: Vec<i64> = Vec::new();
    let mut last = 0;
    let mut drops = 0;
    // Reconnect repeatedly, dropping the socket after a varying number of messages.
    while last < total {
        let mut socket = authenticated(&app, &alice).await;
        send(&mut socket, "resume", json!({ "since": last })).await;
        let take = 37 + drops * 53 % 211;
        for _ in 0..take {
            let message = next_of(&mut socket, "notification").await;
            let seq = message["data"]["seq"].as_i64().expect("seq");
            if seq > last {
                assert_eq!(seq, last + 1, "gap after {last}");
                seen.push(seq);
                last = seq;
            }
            if last == total {
                break;
            }
        }
        drops += 1;
        drop(socket);
    }
    producer.await.expect("producer");
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    assert!(drops > 3, "the client was dropped {drops} times");
    app.stop().await;
}

async fn forged_resume_and_ack_have_no_effect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = member(&app, 26).await;
    for n in 1..=3 {
        notify(&app, alice.user_id, n).await;
    }
    let mut socket = authenticated(&app, &alice).await;
    send(&mut socket, "resume", json!({ "since": 1_000_000 })).await;
    let reset = next(&mut socket).await;
    assert_eq!(reset["type"], "reset");
    assert_eq!(reset["data"]["latestSeq"], 3);
    send(&mut socket, "ack", json!({ "seq": 3 })).await;
    assert_eq!(
        next(&mut socket).await["data"]["code"],
        "INVALID_ACK",
        "nothing was sent on this socket"
    );
    send(&mut socket, "resume", json!({ "since": -5 })).await;
    assert_eq!(
        next(&mut socket).await["data"]["code"],
        "INVALID_MESSAGE_FORMAT"
    );

    // Unacknowledged notifications come again on the next connect.
    let mut fresh = authenticated(&app, &alice).await;
    send(&mut fresh, "resume", json!({})).await;
    for expected in 1..=3 {
        assert_eq!(
            next_of(&mut fresh, "notification").await["data"]["seq"],
            expected
        );
    }
    send(&mut fresh, "ack", json!({ "seq": 2 })).await;
    send(&mut fresh, "heartbeat", json!({})).await;
    next_of(&mut fresh, "heartbeat").await;
    let mut again = authenticated(&app, &alice).await;
    send(&mut again, "resume", json!({})).await;
    assert_eq!(
        next_of(&mut again, "notification").await["data"]["seq"],
        3,
        "only the unacknowledged one"
    );
    app.stop().await;
}

async fn broadcasts_reach_every_socket_and_rooms_their_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut anonymous = connect(&app).await;
    let mut member_socket = connect(&app).await;
    send(
        &mut member_socket,
        "subscribe",
        json!({ "channel": "market:eth" }),
    )
    .await;
    assert_eq!(next(&mut member_socket).await["type"], "subscribe");
    let service = app.service::<notifications::NotificationService>();
    service
        .broadcast(Some("market:eth"), "price", json!({ "usd": 3000 }))
        .await
        .expect("room message");
    service
        .broadcast(None, "announcement", json!({ "text": "hello all" }))
        .await
        .expect("broadcast");
    assert_eq!(next(&mut member_socket).await["data"]["usd"], 3000);
    assert_eq!(next(&mut member_socket).await["type"], "announcement");
    assert_eq!(
        next(&mut anonymous).await["type"],
        "announcement",
        "room messages skip non-members"
    );
    app.stop().await;
}

async fn logout_closes_the_sessions_sockets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = member(&app, 27).await;
    let mut socket = authenticated(&app, &alice).await;
    let response = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(next(&mut socket).await["data"]["code"], "SESSION_REVOKED");
    app.stop().await;
}

async fn per_user_connection_limit_and_origin_are_enforced(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("WS_MAX_CONNECTIONS_PER_USER", "2")], &[]).await;
    let alice = member(&app, 28).await;
    let _a = authenticated(&app, &alice).await;
    let _b = authenticated(&app, &alice).await;
    let mut third = connect(&app).await;
    send(
        &mut third,
        "user_authenticated",
        json!({ "token": alice.token }),
    )
    .await;
    assert_eq!(
        next(&mut third).await["data"]["code"],
        "TOO_MANY_CONNECTIONS"
    );

    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/api/ws",
            app.addr
        ))
        .expect("request");
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().expect("header"));
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(refused.is_err(), "a foreign origin is refused");
    app.stop().await;
}

both_backends!(
    graphql_lists_counts_and_marks_read,
    graphql_guards_inputs_and_other_users,
    every_socket_of_the_user_gets_it_and_nobody_else,
    bad_frames_get_errors_and_the_connection_survives,
    a_dropped_client_resumes_without_gaps_or_duplicates,
    forged_resume_and_ack_have_no_effect,
    logout_closes_the_sessions_sockets,
    broadcasts_reach_every_socket_and_rooms_their_members,
    per_user_connection_limit_and_origin_are_enforced,
);
