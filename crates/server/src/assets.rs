//! The embedded web UI (`web/dist`): cache policy per asset class, precompressed variants,
//! ETags, and the SPA fallback that hands unknown non-API paths to `index.html`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use platform::ApiError;
use rust_embed::{EmbeddedFile, RustEmbed};

use crate::http::is_api_path;

#[derive(RustEmbed)]
#[folder = "../../web/dist"]
pub struct WebDist;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";
const REVALIDATE_DAILY: &str = "public, max-age=86400, must-revalidate";

/// The router's fallback: API paths get a JSON 404 (or 405), anything else is UI.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if is_api_path(path) {
        return ApiError::not_found().into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = ApiError::from_status(
            StatusCode::METHOD_NOT_ALLOWED,
            "the web UI only answers GET and HEAD",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() || relative.ends_with('/') {
        "index.html"
    } else {
        relative
    };
    if WebDist::get(relative).is_some() && !is_precompressed_variant(relative) {
        return file_response(relative, &headers);
    }
    // Hashed assets and files with an extension are real files: a missing one is a 404, not
    // the HTML page (a browser would otherwise parse HTML as a script).
    let last_segment = relative.rsplit('/').next().unwrap_or_default();
    if relative.starts_with("assets/") || last_segment.contains('.') {
        return ApiError::not_found().into_response();
    }
    file_response("index.html", &headers)
}

fn is_precompressed_variant(path: &str) -> bool {
    path.ends_with(".br") || path.ends_with(".gz")
}

fn cache_policy(path: &str) -> &'static str {
    if path.starts_with("assets/") {
        IMMUTABLE
    } else if path.ends_with(".html") {
        NO_CACHE
    } else {
        REVALIDATE_DAILY
    }
}

/// Picks the best variant the client accepts: `.br`, then `.gz`, then the identity file.
fn negotiate(path: &str, headers: &HeaderMap) -> (Option<&'static str>, Option<EmbeddedFile>) {
    let accepted = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (!refused).then_some(name)
        })
        .collect::<Vec<_>>();
    for (encoding, suffix) in [("br", ".br"), ("gzip", ".gz")] {
        if accepted.iter().any(|a| a == encoding)
            && let Some(file) = WebDist::get(&format!("{path}{suffix}"))
        {
            return (Some(encoding), Some(file));
        }
    }
    (None, WebDist::get(path))
}

fn file_response(path: &str, request_headers: &HeaderMap) -> Response {
    let (encoding, file) = negotiate(path, request_headers);
    let Some(file) = file else {
        return ApiError::not_found().into_response();
    };
    let has_variants = WebDist::get(&format!("{path}.br")).is_some()
        || WebDist::get(&format!("{path}.gz")).is_some();
    let etag = format!(
        "\"{}{}\"",
        hex::encode(&file.metadata.sha256_hash()[..12]),
        encoding.map_or(String::new(), |e| format!("-{e}"))
    );
    let mime = mime_for(path);

    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, mime)
        .header(header::CACHE_CONTROL, cache_policy(path))
        .header(header::ETAG, &etag);
    if has_variants {
        builder = builder.header(header::VARY, "Accept-Encoding");
    }
    if let Some(encoding) = encoding {
        builder = builder.header(header::CONTENT_ENCODING, encoding);
    }
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let response = if not_modified {
        builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        builder.status(StatusCode::OK).body(Body::from(file.data))
    };
    response.unwrap_or_else(|e| ApiError::internal(e).into_response())
}

fn mime_for(path: &str) -> String {
    let guess = mime_guess::from_path(path).first_or_octet_stream();
    let text_like = guess.type_() == "text"
        || matches!(
            guess.subtype().as_str(),
            "javascript" | "json" | "xml" | "svg"
        );
    if text_like && guess.get_param("charset").is_none() {
        format!("{guess}; charset=utf-8")
    } else {
        guess.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_asset_class_gets_its_cache_policy() {
        assert_eq!(cache_policy("assets/index-3f2a9c.js"), IMMUTABLE);
        assert_eq!(cache_policy("index.html"), NO_CACHE);
        assert_eq!(cache_policy("favicon.svg"), REVALIDATE_DAILY);
    }

    #[test]
    fn a_refused_encoding_is_not_chosen() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br;q=0, gzip"),
        );
        let (encoding, _) = negotiate("index.html", &headers);
        assert_ne!(encoding, Some("br"));
    }
}
