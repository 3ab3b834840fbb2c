//! The embedded web UI: cache policy per asset class, precompressed variants, ETags, and the
//! SPA fallback (unknown non-API paths → index.html, unknown API paths → JSON 404).

use reqwest::StatusCode;
use test_support::{Backend, TestApp};

/// The hashed JS bundle index.html loads (`/assets/index-<hash>.js`).
async fn hashed_script(app: &TestApp) -> String {
    let html = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("html");
    let start = html
        .find("/assets/")
        .expect("index.html references /assets/");
    let end = html[start..].find('"').expect("closing quote") + start;
    let path = html[start..end].to_owned();
    assert!(path.ends_with(".js") || path.ends_with(".css"), "{path}");
    path
}

#[tokio::test]
async fn each_asset_class_has_its_cache_policy() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let index = app.client.get(app.url("/")).send().await.expect("request");
    assert_eq!(index.status(), StatusCode::OK);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    assert!(
        index.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );

    let asset = app
        .client
        .get(app.url(&hashed_script(&app).await))
        .send()
        .await
        .expect("request");
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );

    let icon = app
        .client
        .get(app.url("/favicon.svg"))
        .send()
        .await
        .expect("request");
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(
        icon.headers()["cache-control"],
        "public, max-age=86400, must-revalidate"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_client_routes_get_the_app_and_unknown_api_routes_get_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let index = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("html");
    for path in ["/notifications", "/account/settings", "/deep/client/route/"] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
        assert_eq!(response.text().await.expect("html"), index, "{path}");
    }
    for path in ["/api/unknown", "/api", "/auth/unknown", "/health/unknown"] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "http.not_found", "{path}");
    }
    let missing_asset = app
        .client
        .get(app.url("/assets/missing-0000.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        missing_asset.status(),
        StatusCode::NOT_FOUND,
        "a missing script is never HTML"
    );
    let post = app
        .client
        .post(app.url("/notifications"))
        .send()
        .await
        .expect("request");
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.stop().await;
}

#[tokio::test]
async fn precompressed_variants_are_served_when_accepted() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let script = hashed_script(&app).await;
    let plain = app
        .client
        .get(app.url(&script))
        .send()
        .await
        .expect("request");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.expect("body").len();

    for (accept, expected) in [
        ("br", "br"),
        ("gzip", "gzip"),
        ("gzip, deflate, br", "br"),
        ("br;q=0, gzip", "gzip"),
    ] {
        let response = app
            .client
            .get(app.url(&script))
            .header("accept-encoding", accept)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-encoding"],
            expected,
            "Accept-Encoding: {accept}"
        );
        assert_eq!(response.headers()["vary"], "Accept-Encoding");
        assert!(
            response.bytes().await.expect("body").len() < plain_len,
            "{expected} is smaller"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unchanged_file_revalidates_with_304() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let first = app.client.get(app.url("/")).send().await.expect("request");
    let etag = first.headers()["etag"].clone();
    let second = app
        .client
        .get(app.url("/"))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("request");
    assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
    assert!(second.bytes().await.expect("body").is_empty());
    app.stop().await;
}
