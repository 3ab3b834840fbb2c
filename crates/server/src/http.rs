//! HTTP assembly: the route table, and the middleware every response passes through
//! (request id, access log, security headers, CORS, compression, JSON errors, panics,
//! timeout, body limit).

use std::any::Any;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use platform::{ApiError, AppState, Module};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;

use crate::{assets, graphql, health};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Paths under these prefixes are API: unknown ones answer a JSON 404, never the SPA.
pub const API_PREFIXES: &[&str] = &["/api", "/auth", "/health", "/ws", "/metrics"];

pub fn is_api_path(path: &str) -> bool {
    API_PREFIXES.iter().any(|prefix| {
        path == *prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The whole route table: health, each module's routes, then the embedded UI as fallback.
pub fn router(state: AppState, modules: &[Module], workers: jobs::WorkersStatus) -> Router {
    let config = state.config.clone();
    let mut routes = Router::new()
        .route("/health", get(health::health))
        .route("/health/ready", get(health::ready))
        .route("/api/config", get(health::client_config))
        .route("/metrics", get(jobs::http::metrics));
    for module in modules {
        routes = routes.merge((module.routes)());
    }
    routes = routes.merge(graphql::routes(&state));
    // Operator endpoints: admins only (`ADMIN_WALLETS`).
    routes = routes.merge(
        jobs::http::admin_routes()
            .route_layer(middleware::from_fn_with_state(state.clone(), admin_only)),
    );
    let routes = routes
        .fallback(assets::serve)
        .with_state(state)
        .layer(axum::Extension(workers));

    let cors = (!config.cors_origins.is_empty()).then(|| {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                X_REQUEST_ID.clone(),
                HeaderName::from_static("x-csrf-token"),
            ])
            .expose_headers([X_REQUEST_ID.clone()])
            .allow_credentials(true)
            .max_age(std::time::Duration::from_secs(600))
    });
    let hsts = config.base_url.scheme() == "https";

    routes.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(
                X_REQUEST_ID.clone(),
                SequentialRequestId,
            ))
            .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
            .layer(middleware::from_fn(move |req, next| edge(hsts, req, next)))
            .option_layer(cors)
            .layer(CompressionLayer::new())
            .layer(middleware::from_fn(json_errors))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            ))
            .layer(RequestBodyLimitLayer::new(config.max_body_bytes)),
    )
}

/// Lets the request through only for an authenticated admin (401 / 403 otherwise).
async fn admin_only(_admin: auth::AdminUser, request: Request, next: Next) -> Response {
    next.run(request).await
}

/// Request ids in UUID form without a system call per request: a random prefix drawn once
/// per process and a counter (unique within the process, unguessable across processes).
#[derive(Debug, Clone, Copy)]
struct SequentialRequestId;

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        static PREFIX: std::sync::LazyLock<u64> =
            std::sync::LazyLock::new(|| uuid::Uuid::new_v4().as_u64_pair().0);
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid::Uuid::from_u64_pair(*PREFIX, n)
            .hyphenated()
            .encode_lower(&mut text);
        HeaderValue::from_str(id).ok().map(RequestId::new)
    }
}

/// Every response on its way out: the security headers, then one structured access-log line.
/// One middleware rather than two, so a request pays one boxed hop for both.
async fn edge(hsts: bool, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let request_id = request.headers().get(&X_REQUEST_ID).cloned();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let defaults: [(HeaderName, &'static str); 5] = [
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
    for (name, value) in defaults {
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
    let status = response.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    let path = uri.path();
    let request_id = request_id
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if status >= 500 {
        tracing::warn!(target: "http", %method, path, status, latency_us, request_id, "request");
    } else {
        tracing::info!(target: "http", %method, path, status, latency_us, request_id, "request");
    }
    response
}

/// Turns every error response that is not already our JSON envelope (axum's 404/405 and
/// extractor rejections, the body limit's 413, the timeout's 408) into one.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    // 4xx texts come from extractors ("missing field `x`") and help the client; 5xx texts may
    // hold internals and are dropped.
    let message = if status.is_client_error() {
        let bytes = axum::body::to_bytes(body, 2048).await.unwrap_or_default();
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

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    ApiError::internal(format_args!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::is_api_path;

    #[test]
    fn api_prefixes_match_whole_segments() {
        assert!(is_api_path("/api"));
        assert!(is_api_path("/api/graphql"));
        assert!(is_api_path("/health/ready"));
        assert!(!is_api_path("/apiary"));
        assert!(!is_api_path("/"));
        assert!(!is_api_path("/notifications"));
    }
}
