//! The edge every request passes first: its request id (`X-Request-Id` kept or made, and
//! echoed), the security headers, the JSON error envelope for errors produced below the
//! handlers (router 404/405, extractor rejections, body limit, timeout), and one access-log
//! line. One hand-written tower service whose future is boxed only to rewrite an error body;
//! in front of the whole stack, `Front` answers `GET /health` itself with the same headers and
//! log line.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use platform::ApiError;
use tower::{Layer, Service};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers every response carries unless its handler set its own.
const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
];

/// Longest error text kept from a layer's or extractor's plain-text rejection.
const MAX_ERROR_TEXT: usize = 2048;

#[derive(Debug, Clone, Copy)]
pub struct EdgeLayer {
    /// Send `Strict-Transport-Security` (the public URL is https).
    pub hsts: bool,
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            hsts: self.hsts,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    hsts: bool,
}

impl<S, B> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let seen = Seen::of(&request, self.hsts);
        if !request.headers().contains_key(&X_REQUEST_ID) {
            // Handlers and their logs see the id the response will carry.
            request
                .headers_mut()
                .insert(X_REQUEST_ID.clone(), seen.request_id.clone());
        }
        EdgeFuture {
            state: State::Inner {
                future: self.inner.call(request),
            },
            seen: Some(seen),
        }
    }
}

/// What the access log and the response need from the request.
struct Seen {
    started: Instant,
    method: Method,
    uri: Uri,
    request_id: HeaderValue,
    hsts: bool,
}

impl Seen {
    /// Taken as the request arrives; its id is the client's `X-Request-Id` or a new one.
    fn of(request: &Request, hsts: bool) -> Seen {
        Seen {
            started: Instant::now(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            request_id: request
                .headers()
                .get(&X_REQUEST_ID)
                .cloned()
                .unwrap_or_else(new_request_id),
            hsts,
        }
    }

    /// The access-log line of the request, answered with `status`.
    fn log(&self, status: u16) {
        // The fields are computed only when the line is written (the macros check the level
        // first), so a server logging at `warn` does no per-request work here.
        let Seen {
            started,
            method,
            uri,
            request_id,
            ..
        } = self;
        if status >= 500 {
            tracing::warn!(target: "http", %method, path = uri.path(), status,
                latency_us = started.elapsed().as_micros() as u64,
                request_id = request_id.to_str().unwrap_or_default(), "request");
        } else {
            tracing::info!(target: "http", %method, path = uri.path(), status,
                latency_us = started.elapsed().as_micros() as u64,
                request_id = request_id.to_str().unwrap_or_default(), "request");
        }
    }
}

pin_project_lite::pin_project! {
    pub struct EdgeFuture<F> {
        #[pin]
        state: State<F>,
        seen: Option<Seen>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Inner { #[pin] future: F },
        Rewrite { future: Pin<Box<dyn Future<Output = Response> + Send>> },
    }
}

impl<F, B> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let response = match this.state.as_mut().project() {
                StateProjection::Inner { future } => {
                    let Ok(response) = ready!(future.poll(cx));
                    let response = response.map(Body::new);
                    if needs_envelope(&response) {
                        this.state.set(State::Rewrite {
                            future: Box::pin(envelope(response)),
                        });
                        continue;
                    }
                    response
                }
                StateProjection::Rewrite { future } => ready!(future.as_mut().poll(cx)),
            };
            return Poll::Ready(Ok(finish(response, this.seen.take())));
        }
    }
}

/// Adds the echoed request id and the security headers, then writes the access-log line.
fn finish(mut response: Response, seen: Option<Seen>) -> Response {
    let Some(seen) = seen else {
        return response;
    };
    let headers = response.headers_mut();
    // Room for the headers added here, so the map grows (and rehashes) at most once.
    headers.reserve(SECURITY_HEADERS.len() + 2);
    headers
        .entry(X_REQUEST_ID.clone())
        .or_insert(seen.request_id.clone());
    add_security_headers(headers, seen.hsts);
    seen.log(response.status().as_u16());
    response
}

fn add_security_headers(headers: &mut HeaderMap, hsts: bool) {
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if hsts {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(
                "max-age=63072000; includeSubDomains",
            ));
    }
}

/// An error response that is not already our JSON envelope.
fn needs_envelope(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && !response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
}

/// The envelope for an error produced below the handlers. 4xx texts come from extractors
/// ("missing field `x`") and help the client; 5xx texts may hold internals and are dropped.
async fn envelope(response: Response) -> Response {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let message = if status.is_client_error() {
        let bytes = axum::body::to_bytes(body, MAX_ERROR_TEXT)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        if text.is_empty() { reason } else { text }
    } else {
        reason
    };
    let mut replaced = ApiError::from_status(status, message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = parts.headers.get(&name) {
            replaced.headers_mut().insert(name, value.clone());
        }
    }
    replaced
}

/// A request id in UUID form without a system call per request: a random prefix drawn once
/// per process and a counter (unique within the process, unguessable across processes).
fn new_request_id() -> HeaderValue {
    static PREFIX: LazyLock<u64> = LazyLock::new(|| uuid::Uuid::new_v4().as_u64_pair().0);
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Uuid::from_u64_pair(*PREFIX, n)
        .hyphenated()
        .encode_lower(&mut text);
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("-"))
}

/// Outermost service, one per connection (`serve.rs`): answers `GET /health` before the rest
/// of the stack and the router, which are most of what such a request costs (compression,
/// panic catching, limits, routing and its request extensions, JSON serialization). What the
/// client gets is what the stack would give (same body, security headers, request id and
/// access-log line), except for cross-origin requests: those (`Origin` present) go through
/// the stack for its CORS headers. Load balancers and orchestrators poll this path often.
/// Every other request gets its connection's peer address (`ConnectInfo`) and goes through
/// the stack.
#[derive(Clone)]
pub struct Front<S> {
    inner: S,
    hsts: bool,
    /// The headers of every `/health` answer but its request id: built once, cloned per answer.
    health_headers: Arc<HeaderMap>,
    peer: Option<SocketAddr>,
}

impl<S: Clone> Front<S> {
    pub fn new(inner: S, hsts: bool) -> Front<S> {
        let mut headers = HeaderMap::with_capacity(SECURITY_HEADERS.len() + 3);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        add_security_headers(&mut headers, hsts);
        Front {
            inner,
            hsts,
            health_headers: Arc::new(headers),
            peer: None,
        }
    }

    /// The front of one connection from `peer`.
    pub fn for_peer(&self, peer: SocketAddr) -> Front<S> {
        Front {
            peer: Some(peer),
            ..self.clone()
        }
    }

    fn health(&self, request: &Request) -> Response {
        let seen = Seen::of(request, self.hsts);
        let mut response = Response::new(Body::from(crate::health::live_body()));
        let headers = response.headers_mut();
        *headers = HeaderMap::clone(&self.health_headers);
        headers.insert(X_REQUEST_ID.clone(), seen.request_id.clone());
        seen.log(200);
        response
    }
}

/// `GET /health` from a client that is not cross-origin (no `Origin`: no CORS headers due).
fn is_plain_health_check(request: &Request) -> bool {
    request.method() == Method::GET
        && request.uri().path() == "/health"
        && !request.headers().contains_key(header::ORIGIN)
}

impl<S> hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Front<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = FrontFuture<tower::util::Oneshot<S, Request>>;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        if is_plain_health_check(&request) {
            return FrontFuture::Answered {
                response: Some(self.health(&request)),
            };
        }
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        FrontFuture::Inner {
            future: tower::ServiceExt::oneshot(self.inner.clone(), request),
        }
    }
}

pin_project_lite::pin_project! {
    #[project = FrontProjection]
    pub enum FrontFuture<F> {
        Answered { response: Option<Response> },
        Inner { #[pin] future: F },
    }
}

impl<F> Future for FrontFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            FrontProjection::Answered { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            FrontProjection::Inner { future } => future.poll(cx),
        }
    }
}

/// A panic in a handler: a JSON 500 that names nothing of the panic; the detail is logged.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    ApiError::internal(format_args!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn request_ids_are_distinct_uuids() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        for id in [a, b] {
            let text = id.to_str().expect("ascii");
            assert!(uuid::Uuid::parse_str(text).is_ok(), "{text} is a UUID");
        }
    }

    #[test]
    fn only_non_json_errors_get_the_envelope() {
        let plain = (StatusCode::NOT_FOUND, "nope").into_response();
        assert!(needs_envelope(&plain));
        let json = ApiError::not_found().into_response();
        assert!(!needs_envelope(&json));
        let ok = (StatusCode::OK, "fine").into_response();
        assert!(!needs_envelope(&ok));
    }
}
