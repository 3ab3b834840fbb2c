//! The WebSocket endpoint (`/api/ws`, `/ws`): seed 000's `{type, data, timestamp}` envelope
//! and message types, authentication by cookie, `?token=` or message, heartbeat and dead
//! connection reaping, per-connection rate limit, and gap-free, duplicate-free delivery of a
//! user's notifications: replay after `resume {since}`, then live, both keyed by `seq`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use auth::{AuthService, AuthUser};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use bytes::{Buf, Bytes};
use futures_util::{FutureExt, SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use platform::net::Conn;
use platform::{ApiError, AppState, ErrorBody};
use realtime::{ConnectionId, Outbound, Reader, Receiver, Writer, envelope};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf};
use tokio::time::Sleep;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::domain::MAX_REPLAY;
use crate::service::NotificationService;

/// How often the server pings each socket (the hub's shared ticker hands each connection a
/// `Tick` once per interval); a connection silent for two intervals is dead.
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(30);
/// Replay is read in pages of this many notifications.
const REPLAY_PAGE: i64 = 500;
/// After authentication, live notifications wait this long for the client's `resume` (so a
/// replay is never overtaken by a live message); clients that never resume get live ones
/// after it.
const RESUME_WAIT: Duration = Duration::from_secs(1);
/// Initial read buffer of a socket. tungstenite allocates it up front, so it is most of an
/// idle connection's memory. Client messages are small (`heartbeat`, `ack`, `resume`: under
/// 128 bytes); a larger frame (a token-bearing `user_authenticated`, ~0.5 KiB) grows the buffer
/// to the frame's length.
const READ_BUFFER: usize = 128;

#[derive(Debug, Deserialize)]
pub struct ConnectParams {
    token: Option<String>,
}

/// The real-time channel (also at `/ws`): seed 000's `{type, data, timestamp}` envelope;
/// authenticate with the access cookie, `?token=`, or a `user_authenticated` message, then
/// `resume {since}` and `ack {id}`.
#[utoipa::path(get, path = "/api/ws", tag = "realtime",
    params(("token" = Option<String>, Query, description = "access token, for clients that cannot send cookies")),
    responses(
        (status = 101, description = "switched to the WebSocket protocol"),
        (status = 400, description = "not a WebSocket upgrade request", body = ErrorBody),
        (status = 401, description = "the token is invalid, expired or revoked", body = ErrorBody),
        (status = 403, description = "`Origin` not allowed", body = ErrorBody),
        (status = 503, description = "connection limit reached", body = ErrorBody),
))]
pub async fn upgrade(
    handshake: Handshake,
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Query(params): Query<ConnectParams>,
) -> Response {
    if !origin_allowed(&state, &headers) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "realtime.origin_not_allowed",
            "this origin may not open a socket",
        )
        .into_response();
    }
    let auth = state.service::<AuthService>().clone();
    let user = match &params.token {
        Some(token) => match auth.authenticate(token).await {
            Ok(user) => Some(user),
            Err(e) => return e.into_response(),
        },
        None => match auth::authenticate(&state, &method, &headers).await {
            Ok(user) => user,
            Err(e) => return e.into_response(),
        },
    };
    let service = state.service::<NotificationService>().clone();
    let (id, outbound) = match service.hub.connect() {
        Ok(connection) => connection,
        Err(_) => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "realtime.too_many_connections",
                "too many open sockets; retry later",
            )
            .into_response();
        }
    };
    let config = &state.config;
    let max_bytes = config.ws_max_message_bytes as usize;
    let limiter = MessageRate::new(config.ws_max_messages_per_second);
    // The socket's task keeps this for the socket's whole life: one pointer, not its parts.
    let pending = Box::new(Pending {
        id,
        service,
        auth,
        user,
        limiter,
        outbound,
        max_bytes,
    });
    let Handshake { key, on_upgrade } = handshake;
    tokio::spawn(take_over(on_upgrade, pending));
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
        .header(header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(header::SEC_WEBSOCKET_ACCEPT, derive_accept_key(&key))
        .body(axum::body::Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn derive_accept_key(key: &HeaderValue) -> String {
    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes())
}

/// An RFC 6455 opening handshake over HTTP/1.1, answered here rather than by axum's
/// `WebSocketUpgrade` so the connection can be taken over: its write half goes to the hub,
/// which writes broadcasts to it straight from its own task (`realtime::Receiver::attach`).
pub struct Handshake {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Handshake {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let refuse = |why: &str| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "realtime.not_a_websocket_handshake",
                why.to_owned(),
            )
        };
        if parts.version != Version::HTTP_11 || parts.method != Method::GET {
            return Err(refuse("a WebSocket opens with an HTTP/1.1 GET"));
        }
        let has_token = |name: header::HeaderName, token: &str| {
            parts.headers.get_all(name).iter().any(|value| {
                value
                    .as_bytes()
                    .split(|b| *b == b',')
                    .any(|part| part.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
            })
        };
        if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
            return Err(refuse(
                "`Connection: upgrade` and `Upgrade: websocket` are required",
            ));
        }
        if parts
            .headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            return Err(refuse("`Sec-WebSocket-Version: 13` is required"));
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .cloned()
            .ok_or_else(|| refuse("`Sec-WebSocket-Key` is required"))?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or_else(|| refuse("this connection cannot be upgraded"))?;
        Ok(Handshake { key, on_upgrade })
    }
}

/// Waits for hyper to hand the connection over after the 101, then serves it. (An `async fn`:
/// its arguments are two pointers, so their second copy costs nothing.)
async fn take_over(on_upgrade: OnUpgrade, pending: Box<Pending>) {
    match on_upgrade.await {
        Ok(upgraded) => serve(upgraded, *pending).await,
        Err(_) => pending.service.hub.disconnect(pending.id),
    }
}

/// What the socket's task starts from, once the upgrade is done.
struct Pending {
    id: ConnectionId,
    service: Arc<NotificationService>,
    auth: Arc<AuthService>,
    /// Signed in at connect time (cookie or `?token=`).
    user: Option<AuthUser>,
    limiter: MessageRate,
    outbound: Receiver,
    max_bytes: usize,
}

/// A socket's whole life. Its future is what an idle connection keeps in memory, so the
/// rarely taken, large states (database reads, replay) are boxed, not inlined. A plain `fn`
/// returning an `async` block: an `async fn` would keep a second copy of its arguments.
fn serve(upgraded: Upgraded, pending: Pending) -> impl Future<Output = ()> + Send {
    let Pending {
        id,
        service,
        auth,
        user,
        limiter,
        mut outbound,
        max_bytes,
    } = pending;
    // The server's own connections are TCP streams (`platform::net::Conn`): the mailbox takes
    // the stream, so the hub writes to it while this task reads it. Anything else is split
    // behind a lock.
    // (`server::serve` serves through hyper-util's version-sniffing builder, which wraps the
    // stream.)
    let tcp = hyper_util::server::conn::auto::upgrade::downcast::<TokioIo<Conn>>(upgraded)
        .map(|parts| (parts.io, parts.read_buf))
        .or_else(|upgraded| {
            upgraded
                .downcast::<TokioIo<Conn>>()
                .map(|parts| (parts.io, parts.read_buf))
        });
    let (read_ahead, read) = match tcp {
        Ok((io, read_buf)) => {
            // The accept loop (`server::serve`) already set `TCP_NODELAY`: frames are small and
            // written one by one, and none may wait for the previous one's acknowledgement.
            let read = outbound
                .attach_tcp(io.into_inner().into_inner())
                .expect("a new connection's mailbox has no socket yet");
            // An empty read-ahead still holds hyper's whole read buffer: drop it.
            let read_ahead = match read_buf.is_empty() {
                true => Bytes::new(),
                false => read_buf,
            };
            (read_ahead, ReadSide::Tcp(read))
        }
        Err(upgraded) => {
            let (read, write) = tokio::io::split(TokioIo::new(upgraded));
            outbound.attach(Box::new(write));
            (Bytes::new(), ReadSide::Other(read))
        }
    };
    let io = SocketIo {
        read_ahead,
        read,
        write: outbound.writer(),
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_bytes))
        .max_frame_size(Some(max_bytes))
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0);
    // Built here, not in the async block: what that block captures it keeps for the
    // socket's whole life, so it captures only the connection and its mailbox.
    let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config))
        .now_or_never()
        .expect("a WebSocket over a raw socket is ready on its first poll (no IO)");
    let mut connection = Connection {
        id,
        socket,
        service,
        auth,
        user: user.map(Box::new),
        last_sent: 0,
        max_sent: 0,
        limiter,
        hold: None,
    };
    async move {
        if let Some(user) = connection.user.take() {
            Box::pin(connection.sign_in(*user)).await;
        }
        connection.run(outbound).await;
    }
}

/// The read side of a taken-over connection.
enum ReadSide {
    /// Reads the TCP stream its mailbox holds.
    Tcp(Reader),
    Other(ReadHalf<TokioIo<Upgraded>>),
}

/// The socket as the WebSocket protocol sees it: reads come from the read half (after what
/// hyper read ahead of the handshake), writes go through the mailbox, behind the frames the
/// hub left unsent.
struct SocketIo {
    read_ahead: Bytes,
    read: ReadSide,
    write: Writer,
}

impl AsyncRead for SocketIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.read_ahead.has_remaining() {
            let n = this.read_ahead.len().min(buf.remaining());
            buf.put_slice(&this.read_ahead[..n]);
            this.read_ahead.advance(n);
            if !this.read_ahead.has_remaining() {
                // It points into hyper's 8 KiB read buffer: let that go.
                this.read_ahead = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        match &mut this.read {
            ReadSide::Tcp(read) => Pin::new(read).poll_read(cx, buf),
            ReadSide::Other(read) => Pin::new(read).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for SocketIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().write).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().write).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().write).poll_shutdown(cx)
    }
}

/// Browsers send `Origin`; it must be this app or a configured CORS origin. Non-browser
/// clients send none.
fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let own = state.config.base_url.as_str().trim_end_matches('/');
    origin == own
        || state
            .config
            .cors_origins
            .iter()
            .any(|allowed| allowed == origin)
}

struct Connection {
    id: ConnectionId,
    socket: WebSocketStream<SocketIo>,
    service: Arc<NotificationService>,
    auth: Arc<AuthService>,
    /// Boxed: an anonymous socket keeps one word for it.
    user: Option<Box<AuthUser>>,
    /// Highest `seq` this connection has delivered, or knows its client has seen.
    last_sent: i64,
    /// Highest `seq` actually sent on this connection (acks above it are forged).
    max_sent: i64,
    limiter: MessageRate,
    /// Set at authentication: live delivery is held until `resume` or this timer ends. Boxed
    /// and only while holding: an idle socket keeps one word for it, and no timer.
    hold: Option<Pin<Box<Sleep>>>,
}

enum Flow {
    Continue,
    Stop,
}

impl Connection {
    /// Takes `&mut self`, not `self`: a moved-in connection would be stored twice, once in
    /// `serve`'s future and once in this one. No timer of its own: pings come from the hub's
    /// shared ticker as `Outbound::Tick`.
    async fn run(&mut self, mut outbound: Receiver) {
        let mut last_heard = Instant::now();
        loop {
            let holding = self.hold.is_some();
            // Queued messages first: a wake-up for a message then costs one poll of the
            // mailbox, not also a read attempt on the socket (the queue is bounded, so reads
            // wait at most one drained queue). Broadcast text does not come here: the hub
            // writes it to the socket itself, and `recv` writes what the socket left unsent.
            let flow = tokio::select! {
                biased;
                // While live delivery is held, queued messages wait (what the hub left
                // unsent still goes out), and only the end comes through.
                queued = outbound.recv_unless(holding) => match queued.as_deref() {
                    Some(Outbound::Text(text)) => self.send_text(text.clone()).await,
                    Some(Outbound::Sequenced { seq, text }) => Box::pin(self.on_live(*seq, text)).await,
                    Some(Outbound::Close(reason)) => Box::pin(self.close(reason)).await,
                    Some(Outbound::Tick) => {
                        if last_heard.elapsed() > PING_INTERVAL * 2
                            || self.socket.send(Message::Ping(Bytes::new())).await.is_err()
                        {
                            Flow::Stop
                        } else {
                            Flow::Continue
                        }
                    }
                    // Dropped by the hub (too slow to keep up), or the socket failed: the
                    // client resumes elsewhere.
                    None => Flow::Stop,
                },
                () = hold_ended(&mut self.hold), if holding => {
                    self.hold = None;
                    Flow::Continue
                },
                incoming = self.socket.next() => match incoming {
                    Some(Ok(message)) => {
                        last_heard = Instant::now();
                        Box::pin(self.on_message(message)).await
                    }
                    _ => Flow::Stop,
                },
            };
            if matches!(flow, Flow::Stop) {
                break;
            }
        }
        self.service.hub.disconnect(self.id);
    }

    async fn close(&mut self, reason: &'static str) -> Flow {
        // Out of the hub first: nothing may follow the close frame.
        self.service.hub.disconnect(self.id);
        let _ = self
            .send_error(
                &reason.to_ascii_uppercase(),
                "the server closed this connection",
            )
            .await;
        let _ = self
            .socket
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::from(4001),
                reason: Utf8Bytes::from_static(reason),
            })))
            .await;
        Flow::Stop
    }

    /// Sends an envelope's bytes; a broadcast's sockets all share one buffer (no copy here).
    async fn send_text(&mut self, text: Bytes) -> Flow {
        let Ok(text) = Utf8Bytes::try_from(text) else {
            return Flow::Stop;
        };
        match self.socket.send(Message::Text(text)).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    async fn send(&mut self, kind: &str, data: Value) -> Flow {
        self.send_text(envelope(kind, data)).await
    }

    async fn send_error(&mut self, code: &str, message: &str) -> Flow {
        self.send("error", json!({ "code": code, "message": message }))
            .await
    }

    async fn on_message(&mut self, message: Message) -> Flow {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return self
                    .send_error("INVALID_MESSAGE_FORMAT", "messages are JSON text")
                    .await;
            }
            Message::Close(_) => return Flow::Stop,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Flow::Continue,
        };
        if !self.limiter.check(Instant::now()) {
            return self
                .send_error("RATE_LIMITED", "too many messages; slow down")
                .await;
        }
        let Ok(parsed) = serde_json::from_str::<Value>(text.as_str()) else {
            return self
                .send_error("INVALID_MESSAGE_FORMAT", "invalid message format")
                .await;
        };
        let Some(kind) = parsed.get("type").and_then(Value::as_str) else {
            return self
                .send_error("INVALID_MESSAGE_FORMAT", "a message needs a string `type`")
                .await;
        };
        let data = parsed.get("data").cloned().unwrap_or(Value::Null);
        match kind {
            "heartbeat" => self.on_heartbeat().await,
            "user_authenticated" | "authenticate" => {
                let Some(token) = data.get("token").and_then(Value::as_str) else {
                    return self
                        .send_error(
                            "INVALID_MESSAGE_FORMAT",
                            "user_authenticated needs data.token",
                        )
                        .await;
                };
                match self.auth.authenticate(token).await {
                    Ok(user) => match self.sign_in(user).await {
                        Flow::Continue if data.get("since").is_some() => {
                            self.on_resume(&data).await
                        }
                        flow => flow,
                    },
                    Err(e) => self.send_error("UNAUTHORIZED", &e.to_string()).await,
                }
            }
            "resume" => self.on_resume(&data).await,
            "ack" => self.on_ack(&data).await,
            "subscribe" | "unsubscribe" => {
                let Some(channel) = data
                    .get("channel")
                    .and_then(Value::as_str)
                    .filter(|c| valid_channel(c))
                else {
                    return self
                        .send_error(
                            "INVALID_CHANNEL",
                            "a channel is 1-64 characters of a-z, 0-9, : _ -",
                        )
                        .await;
                };
                if kind == "subscribe" {
                    self.service.hub.join(self.id, channel);
                } else {
                    self.service.hub.leave(self.id, channel);
                }
                self.send(kind, json!({ "channel": channel })).await
            }
            _ => {
                self.send_error("UNKNOWN_MESSAGE_TYPE", "unknown message type")
                    .await
            }
        }
    }

    async fn sign_in(&mut self, user: AuthUser) -> Flow {
        if self
            .service
            .hub
            .authenticate(self.id, user.user_id, &user.session_id)
            .is_err()
        {
            let _ = self
                .send_error(
                    "TOO_MANY_CONNECTIONS",
                    "this account has too many open sockets",
                )
                .await;
            return Flow::Stop;
        }
        // Until the client resumes, it gets what arrives from now on.
        let latest = match self.service.seq_range(user.user_id).await {
            Ok((_, latest)) => latest,
            Err(_) => return self.send_error("INTERNAL", "try again").await,
        };
        self.last_sent = latest;
        self.max_sent = 0;
        self.hold = Some(Box::pin(tokio::time::sleep(RESUME_WAIT)));
        let data = json!({ "userId": user.user_id, "wallet": user.wallet, "latestSeq": latest });
        self.user = Some(Box::new(user));
        self.send("user_authenticated", data).await
    }

    /// Heartbeats also close any gap a lost bus event left.
    async fn on_heartbeat(&mut self) -> Flow {
        if let Some(user_id) = self.user.as_ref().map(|u| u.user_id)
            && let Ok((_, latest)) = self.service.seq_range(user_id).await
            && latest > self.last_sent
            && let Flow::Stop = self.replay_until(user_id, latest).await
        {
            return Flow::Stop;
        }
        self.send("heartbeat", Value::Null).await
    }

    async fn on_resume(&mut self, data: &Value) -> Flow {
        self.hold = None;
        let Some(user_id) = self.user.as_ref().map(|u| u.user_id) else {
            return self
                .send_error("UNAUTHORIZED", "authenticate before resuming")
                .await;
        };
        let (oldest, latest) = match self.service.seq_range(user_id).await {
            Ok(range) => range,
            Err(_) => return self.send_error("INTERNAL", "try again").await,
        };
        match data.get("since") {
            None | Some(Value::Null) => {
                // No position known: everything not yet acknowledged, then live.
                let pending = match self.service.unacknowledged(user_id, MAX_REPLAY).await {
                    Ok(pending) => pending,
                    Err(_) => return self.send_error("INTERNAL", "try again").await,
                };
                for notification in pending {
                    let text = envelope("notification", &notification);
                    if let Flow::Stop = self.deliver(notification.seq, text).await {
                        return Flow::Stop;
                    }
                }
                self.last_sent = self.last_sent.max(latest);
                Flow::Continue
            }
            Some(since) => {
                let Some(since) = since.as_i64().filter(|s| *s >= 0) else {
                    return self
                        .send_error(
                            "INVALID_MESSAGE_FORMAT",
                            "since must be a whole number, 0 or more",
                        )
                        .await;
                };
                let pruned = oldest > 0 && since < oldest - 1;
                if since > latest || pruned || latest - since > MAX_REPLAY {
                    // Ahead of the server (forged or another account's position), older than
                    // what is kept, or too far behind: the client must refetch its list.
                    self.last_sent = latest;
                    return self
                        .send(
                            "reset",
                            json!({ "since": since, "oldestSeq": oldest, "latestSeq": latest }),
                        )
                        .await;
                }
                self.last_sent = since;
                self.replay_until(user_id, latest).await
            }
        }
    }

    /// Sends every notification after `last_sent` up to `until`, in order.
    async fn replay_until(&mut self, user_id: i64, until: i64) -> Flow {
        while self.last_sent < until {
            let page = match self
                .service
                .after(user_id, self.last_sent, REPLAY_PAGE)
                .await
            {
                Ok(page) => page,
                Err(_) => return self.send_error("INTERNAL", "try again").await,
            };
            if page.is_empty() {
                break;
            }
            for notification in page {
                let text = envelope("notification", &notification);
                if let Flow::Stop = self.deliver(notification.seq, text).await {
                    return Flow::Stop;
                }
            }
        }
        Flow::Continue
    }

    /// A live notification: sent if next in line, fetched with its predecessors if some went
    /// missing, dropped if already sent.
    async fn on_live(&mut self, seq: i64, text: &Bytes) -> Flow {
        let Some(user_id) = self.user.as_ref().map(|u| u.user_id) else {
            return Flow::Continue;
        };
        if seq <= self.last_sent {
            return Flow::Continue;
        }
        if seq > self.last_sent + 1 {
            return self.replay_until(user_id, seq).await;
        }
        self.deliver(seq, text.clone()).await
    }

    async fn deliver(&mut self, seq: i64, text: Bytes) -> Flow {
        let flow = self.send_text(text).await;
        self.last_sent = self.last_sent.max(seq);
        self.max_sent = self.max_sent.max(seq);
        flow
    }

    async fn on_ack(&mut self, data: &Value) -> Flow {
        let Some(user_id) = self.user.as_ref().map(|u| u.user_id) else {
            return self
                .send_error("UNAUTHORIZED", "authenticate before acknowledging")
                .await;
        };
        let Some(seq) = data.get("seq").and_then(Value::as_i64).filter(|s| *s > 0) else {
            return self
                .send_error(
                    "INVALID_MESSAGE_FORMAT",
                    "ack needs data.seq, a positive whole number",
                )
                .await;
        };
        if seq > self.max_sent {
            return self
                .send_error(
                    "INVALID_ACK",
                    "cannot acknowledge what this connection has not sent",
                )
                .await;
        }
        match self.service.acknowledge(user_id, seq).await {
            Ok(_) => Flow::Continue,
            Err(_) => self.send_error("INTERNAL", "try again").await,
        }
    }
}

/// Ends when the resume hold's timer does; never while there is none.
async fn hold_ended(hold: &mut Option<Pin<Box<Sleep>>>) {
    match hold {
        Some(timer) => timer.as_mut().await,
        None => std::future::pending().await,
    }
}

/// A connection's message rate limit: `per_second` on average, bursts of twice that (GCRA, as
/// governor's `Quota::per_second(n).allow_burst(2n)`), in 24 bytes where governor's direct
/// limiter takes 72 in every socket.
struct MessageRate {
    /// When the next message would be on schedule ("theoretical arrival time").
    due: Instant,
    per_second: u32,
}

impl MessageRate {
    fn new(per_second: u32) -> MessageRate {
        MessageRate {
            due: Instant::now(),
            per_second: per_second.max(1),
        }
    }

    fn check(&mut self, now: Instant) -> bool {
        let interval = Duration::from_secs(1) / self.per_second;
        let tolerance = interval * self.per_second.saturating_mul(2).saturating_sub(1);
        let due = self.due.max(now);
        if due.duration_since(now) > tolerance {
            return false;
        }
        self.due = due + interval;
        true
    }
}

fn valid_channel(channel: &str) -> bool {
    (1..=64).contains(&channel.len())
        && channel
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":_-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<F, Fut>(_: &F) -> usize
    where
        F: FnOnce(Upgraded, Pending) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    #[test]
    fn the_message_rate_allows_a_burst_of_twice_the_rate_then_the_rate() {
        let start = Instant::now();
        let mut rate = MessageRate::new(10);
        rate.due = start;
        assert!((0..20).all(|_| rate.check(start)));
        assert!(!rate.check(start));
        // One message's worth of time later, one more.
        let later = start + Duration::from_millis(100);
        assert!(rate.check(later));
        assert!(!rate.check(later));
        // A quiet second refills ten.
        let quiet = later + Duration::from_secs(1);
        assert_eq!((0..30).filter(|_| rate.check(quiet)).count(), 10);
    }

    /// Every open socket keeps this future (plus the socket's buffers) in memory; the
    /// issue's budget is 2 KB per idle connection in all.
    #[test]
    fn an_idle_socket_keeps_a_small_future() {
        let size = future_size(&serve);
        eprintln!(
            "serve future {size} B, Connection {} B, WebSocketStream {} B",
            std::mem::size_of::<Connection>(),
            std::mem::size_of::<WebSocketStream<SocketIo>>()
        );
        assert!(size <= 1024, "the per-socket future is {size} bytes");
    }
}
