//! `/api/graphql` (GET for queries, POST for everything): the modules' Query and Mutation
//! objects merged into one schema with depth and complexity limits; GraphiQL and
//! introspection only in development. Each request carries the caller as a `Viewer`. Parsed
//! documents are kept per query text (`Documents`), so a repeated query is not parsed again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{EmptySubscription, MergedObject, Object, Schema};
use auth::ClientInfo;
use auth::graphql::Viewer;
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use platform::config::AppMode;
use platform::{ApiError, AppState, ErrorBody};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Debug, Default)]
pub struct BaseQuery;

#[Object]
impl BaseQuery {
    async fn health(&self) -> &'static str {
        "OK"
    }

    async fn version(&self) -> &'static str {
        crate::VERSION
    }
}

#[derive(Debug, Default, MergedObject)]
pub struct QueryRoot(
    BaseQuery,
    auth::graphql::AuthQuery,
    notifications::graphql::NotificationsQuery,
);

#[derive(Debug, Default, MergedObject)]
pub struct MutationRoot(
    auth::graphql::AuthMutation,
    notifications::graphql::NotificationsMutation,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

const MAX_DEPTH: usize = 12;
const MAX_COMPLEXITY: usize = 2_000;

pub fn schema(state: &AppState) -> AppSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .data(state.clone())
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY);
    if state.config.app_mode != AppMode::Development {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The schema and the documents parsed so far, shared by both methods. The schema is built
/// by the first GraphQL request, not at start: building its registry of every type took
/// about a tenth of a cold start, for an API a fresh process may not be asked for.
struct Graphql {
    state: AppState,
    schema: OnceLock<AppSchema>,
    documents: Documents,
}

impl Graphql {
    fn schema(&self) -> &AppSchema {
        self.schema.get_or_init(|| schema(&self.state))
    }
}

/// Parsed documents by query text. Clients send the same few queries again and again, and
/// parsing (pest) was ~9 % of a `getMyNotifications` request; a cached document is cloned
/// instead (its names are shared `Arc<str>`s). Bounded: texts over `MAX_TEXT` bytes are not
/// kept, and the map is emptied when it reaches `MAX_ENTRIES` (no eviction bookkeeping on the
/// hit path). Validation still runs on every request.
#[derive(Default)]
struct Documents(Mutex<HashMap<Box<str>, ExecutableDocument>>);

impl Documents {
    const MAX_ENTRIES: usize = 256;
    const MAX_TEXT: usize = 8 * 1024;

    /// The parsed document of `query`, or `None` when it does not parse (the schema then
    /// reports the syntax error as usual).
    fn get(&self, query: &str) -> Option<ExecutableDocument> {
        let lock = || self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(document) = lock().get(query) {
            return Some(document.clone());
        }
        let document = async_graphql::parser::parse_query(query).ok()?;
        if query.len() <= Self::MAX_TEXT {
            let mut documents = lock();
            if documents.len() >= Self::MAX_ENTRIES {
                documents.clear();
            }
            documents.insert(query.into(), document.clone());
        }
        Some(document)
    }

    /// Hands `request` its parsed document, so the schema skips parsing it.
    fn attach(&self, request: &mut async_graphql::Request) {
        if let Some(document) = self.get(&request.query) {
            request.set_parsed_query(document);
        }
    }
}

/// The GraphQL routes; the schema is built once, on first use, and shared by both methods.
pub fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    let graphql = Arc::new(Graphql {
        state: state.clone(),
        schema: OnceLock::new(),
        documents: Documents::default(),
    });
    OpenApiRouter::new()
        .routes(routes!(get, post))
        .layer(Extension(graphql))
}

/// A GraphQL request (the GraphQL-over-HTTP JSON body; POST also takes an array of them).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // reason: describes the body for the OpenAPI document; async-graphql parses it
struct GraphqlRequest {
    query: String,
    #[schema(value_type = Option<Object>)]
    variables: Option<serde_json::Value>,
    #[schema(rename = "operationName")]
    operation_name: Option<String>,
}

async fn viewer(state: &AppState, method: &Method, headers: &HeaderMap) -> Viewer {
    Viewer::new(auth::authenticate(state, method, headers).await)
}

/// Where the request came from: sign-in operations are rate limited per IP and recorded.
fn client(peer: SocketAddr, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ip: Some(peer.ip()),
    }
}

/// Queries only (no mutations over GET). Without `query`: GraphiQL in development, else 400.
#[utoipa::path(get, path = "/api/graphql", tag = "graphql",
    params(
        ("query" = Option<String>, Query),
        ("variables" = Option<String>, Query, description = "JSON object"),
        ("operationName" = Option<String>, Query),
    ),
    security((), ("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "`{data, errors}`; field errors carry `extensions.code`", body = Object),
        (status = 400, body = ErrorBody),
        (status = 405, description = "a mutation sent over GET", body = ErrorBody),
))]
async fn get(
    Extension(graphql): Extension<Arc<Graphql>>,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some(query) = uri.query().filter(|q| !q.is_empty()) else {
        return graphiql(&state);
    };
    let mut request = match async_graphql::http::parse_query_string(query) {
        Ok(request) => request,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "graphql.bad_request",
                e.to_string(),
            )
            .into_response();
        }
    };
    // GET must never change state (it carries no CSRF protection): queries only.
    let document = graphql.documents.get(&request.query);
    let only_queries = document.as_ref().is_none_or(|doc| {
        doc.operations
            .iter()
            .all(|(_, op)| op.node.ty == OperationType::Query)
    });
    if !only_queries {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "graphql.mutation_over_get",
            "send mutations with POST",
        )
        .into_response();
    }
    if let Some(document) = document {
        request.set_parsed_query(document);
    }
    let viewer = viewer(&state, &method, &headers).await;
    let request = request.data(viewer).data(client(peer, &headers));
    Json(graphql.schema().execute(request).await).into_response()
}

/// Queries and mutations; a JSON array runs as a batch.
#[utoipa::path(post, path = "/api/graphql", tag = "graphql",
    request_body = GraphqlRequest,
    security((), ("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "`{data, errors}` (an array for a batch); field errors carry `extensions.code`", body = Object),
        (status = 400, body = ErrorBody),
        (status = 415, body = ErrorBody),
))]
async fn post(
    Extension(graphql): Extension<Arc<Graphql>>,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with("application/graphql-response+json")
        });
    if !json {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "graphql.unsupported_media_type",
            "send application/json",
        )
        .into_response();
    }
    let mut batch: async_graphql::BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "graphql.bad_request",
                format!("not a GraphQL request: {e}"),
            )
            .into_response();
        }
    };
    for request in batch.iter_mut() {
        graphql.documents.attach(request);
    }
    let viewer = viewer(&state, &method, &headers).await;
    let batch = batch.data(viewer).data(client(peer, &headers));
    Json(graphql.schema().execute_batch(batch).await).into_response()
}

/// GraphiQL in development; elsewhere a JSON 400 (no query given).
fn graphiql(state: &AppState) -> Response {
    if state.config.app_mode != AppMode::Development {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "graphql.bad_request",
            "no query given",
        )
        .into_response();
    }
    let mut response =
        Html(GraphiQLSource::build().endpoint("/api/graphql").finish()).into_response();
    // GraphiQL loads its scripts from a CDN; allow that on this development page only.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self' https://unpkg.com 'unsafe-inline' 'unsafe-eval'; img-src 'self' data: https:; frame-ancestors 'none'"),
    );
    response
}
