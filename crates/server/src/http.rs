//! HTTP assembly: the route table with its OpenAPI document, and the middleware stack every
//! request passes (compression, the edge: request id, security headers, JSON errors, access
//! log; CORS, panics, timeout, body limit).

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use platform::{AppState, Config, Module};
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::edge::{self, EdgeLayer, Front, X_REQUEST_ID};
use crate::timeout::RequestTimeoutLayer;
use crate::{assets, graphql, health};

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

/// The document's header: title, the security schemes operations name, and the one path
/// that is not registered through `routes!` (the document itself).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "QuickDapp", description = "REST API of a QuickDapp server. Every error is `{\"error\":{\"code\",\"message\"}}` with a stable `code`."),
    paths(health::openapi),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::http::ACCESS_COOKIE,
                "cookie mode; state-changing requests also send `X-CSRF-Token`",
            ))),
        );
    }
}

/// The whole route table: health, each module's routes, then the embedded UI as fallback.
/// Served through `stack`.
pub fn router(state: AppState, modules: &[Module], workers: jobs::WorkersStatus) -> Router {
    let mut routes = OpenApiRouter::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(health::client_config))
        .routes(routes!(jobs::http::metrics));
    for module in modules {
        routes = routes.merge((module.routes)());
    }
    routes = routes.merge(graphql::routes(&state));
    // Operator endpoints: admins only (`ADMIN_WALLETS`).
    routes = routes.merge(
        jobs::http::admin_routes()
            .route_layer(middleware::from_fn_with_state(state.clone(), admin_only)),
    );
    let (routes, document) = routes.split_for_parts();
    routes
        .route(
            "/api/openapi.json",
            get(health::openapi).layer(axum::Extension(health::OpenApiJson::new(document))),
        )
        .fallback(assets::serve)
        .with_state(state)
        .layer(axum::Extension(workers))
}

/// The middleware stack around the whole router, applied once. (`Router::layer` would wrap
/// every route and the fallback in its own copy, and each route's response would be boxed
/// and moved through the stack's futures before the router's own.)
pub fn stack(
    router: Router,
    config: &Config,
) -> Front<
    impl Service<Request, Response = Response, Error = Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static,
> {
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

    // Compression is outermost so the edge reads error bodies uncompressed when it wraps
    // them in the JSON envelope. Bodies under `COMPRESS_FROM` bytes go as they are: the
    // encoder's framing would eat most of the saving, and its work would not.
    let stack = ServiceBuilder::new()
        .map_response(|response: Response<_>| response.map(Body::new))
        .layer(
            CompressionLayer::new().compress_when(
                SizeAbove::new(COMPRESS_FROM)
                    .and(NotForContentType::GRPC)
                    .and(NotForContentType::IMAGES)
                    .and(NotForContentType::SSE),
            ),
        )
        .layer(EdgeLayer { hsts })
        .option_layer(cors)
        .layer(CatchPanicLayer::custom(edge::panic_response))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(RequestTimeoutLayer {
            limit: config.request_timeout,
        })
        .service(router);
    Front::new(stack, hsts)
}

/// Smallest body the stack compresses (tower-http's default is 32 bytes).
const COMPRESS_FROM: u64 = 512;

/// Lets the request through only for an authenticated admin (401 / 403 otherwise).
async fn admin_only(_admin: auth::AdminUser, request: Request, next: Next) -> Response {
    next.run(request).await
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
