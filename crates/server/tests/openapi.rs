//! `/api/openapi.json` against the real router: every documented operation exists, answers
//! only with statuses it documents, and every JSON body it sends matches its documented schema.

use std::collections::{BTreeMap, BTreeSet};

use jobs::NewJob;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use test_support::{Backend, TestApp, TestWallet, both_backends};

/// The REST surface the document must describe (each module's routes and the server's own).
const EXPECTED: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/health/ready"),
    ("get", "/api/config"),
    ("get", "/api/openapi.json"),
    ("get", "/metrics"),
    ("get", "/auth/nonce"),
    ("post", "/auth/siwe"),
    ("post", "/auth/refresh"),
    ("post", "/auth/logout"),
    ("post", "/auth/logout-all"),
    ("get", "/auth/session"),
    ("get", "/api/ws"),
    ("get", "/api/graphql"),
    ("post", "/api/graphql"),
    ("get", "/api/admin/jobs"),
    ("get", "/api/admin/jobs/{id}"),
];

async fn openapi_document_matches_the_router(backend: Backend) {
    let admin = TestWallet::from_seed(71);
    let admins = admin.checksummed();
    let app = TestApp::spawn_with(backend, &[("ADMIN_WALLETS", &admins)], &[]).await;
    let response = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "served as JSON"
    );
    let doc: Value = response.json().await.expect("a JSON document");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1: {}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "QuickDapp");
    for scheme in ["bearer", "cookie"] {
        assert!(
            doc["components"]["securitySchemes"][scheme].is_object(),
            "security scheme {scheme} is declared"
        );
    }
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            operations.insert((method.clone(), path.clone()));
        }
    }
    for (method, path) in EXPECTED {
        assert!(
            operations.contains(&(method.to_string(), path.to_string())),
            "{method} {path} is documented; documented: {operations:?}"
        );
    }

    let job = jobs::enqueue(&app.db, &NewJob::new("openapi.listed").user(3))
        .await
        .expect("enqueued");
    let mut answered = BTreeMap::new();
    for (method, path) in &operations {
        let operation = &doc["paths"][path][method];
        let url = app.url(&path.replace("{id}", &job.id.to_string()));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        // Anonymous, with an empty body: the error statuses must be documented too.
        let mut anonymous = app.client.request(method.clone(), &url);
        if method == Method::POST {
            anonymous = anonymous.json(&json!({}));
        }
        let status = check_response(&doc, operation, &method, path, anonymous).await;
        answered.insert(format!("{method} {path} anonymous"), status);

        // Signed in as an admin, with a well-formed request: the success bodies.
        let session = app.sign_in(&admin).await;
        let token = session["token"].as_str().expect("token");
        let mut signed_in = app.client.request(method.clone(), &url).bearer_auth(token);
        signed_in = match (method.as_str(), path.as_str()) {
            ("POST", "/auth/siwe") => {
                let nonce = app.nonce().await;
                let message = admin.siwe_fields(&app.base_url, 1, &nonce).render();
                signed_in
                    .json(&json!({ "message": message, "signature": admin.sign_message(&message) }))
            }
            ("POST", "/auth/refresh") => {
                signed_in.json(&json!({ "refreshToken": session["refreshToken"] }))
            }
            ("POST", "/api/graphql") => signed_in.json(&json!({ "query": "{ health version }" })),
            ("GET", "/api/graphql") => app
                .client
                .get(format!("{url}?query=%7B%20health%20%7D"))
                .bearer_auth(token),
            ("POST", _) => signed_in.json(&json!({})),
            _ => signed_in,
        };
        let status = check_response(&doc, operation, &method, path, signed_in).await;
        answered.insert(format!("{method} {path} signed in"), status);
    }
    // The well-formed requests reached their handlers and succeeded (the WebSocket route
    // needs an upgrade, so a plain GET is its documented 400).
    for (key, status) in &answered {
        if key.ends_with("signed in") && !key.contains("/api/ws") {
            assert!(status.is_success(), "{key} answered {status}");
        }
    }
    app.stop().await;
}

/// Sends `request`; asserts its status is one `operation` documents and that a JSON body
/// matches the schema documented for that status.
async fn check_response(
    doc: &Value,
    operation: &Value,
    method: &Method,
    path: &str,
    request: reqwest::RequestBuilder,
) -> StatusCode {
    let response = request.send().await.expect("answers");
    let status = response.status();
    let documented = &operation["responses"][status.as_str()];
    let is_json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = response.text().await.expect("a body");
    assert!(
        documented.is_object(),
        "{method} {path} answered {status}, which it does not document: {body}"
    );
    if is_json {
        let value: Value = serde_json::from_str(&body).expect("JSON as labelled");
        let schema = &documented["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {path} {status} documents a JSON body"
        );
        let mut errors = Vec::new();
        conforms(doc, schema, &value, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: the body does not match its schema: {errors:?}\n{body}"
        );
    }
    status
}

/// JSON-Schema checking for the subset utoipa emits: `$ref`, `allOf`, `oneOf`, `type` (one or
/// several), `properties` + `required` (no undocumented keys), `items`, `enum`.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(choices) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let fits = choices.iter().any(|choice| {
            let mut inner = Vec::new();
            conforms(doc, choice, value, at, &mut inner);
            inner.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: matches none of oneOf/anyOf"));
        }
        return;
    }
    if schema.get("allOf").is_some() || schema.get("properties").is_some() {
        let Some(object) = value.as_object() else {
            errors.push(format!("{at}: expected an object, got {value}"));
            return;
        };
        let mut properties = BTreeMap::new();
        let mut required = BTreeSet::new();
        merge_object(doc, schema, &mut properties, &mut required);
        for key in &required {
            if !object.contains_key(key) {
                errors.push(format!("{at}: missing required `{key}`"));
            }
        }
        for (key, item) in object {
            match properties.get(key) {
                Some(property) => conforms(doc, property, item, &format!("{at}.{key}"), errors),
                None => errors.push(format!("{at}: undocumented key `{key}`")),
            }
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
        errors.push(format!("{at}: expected {types:?}, got {value}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, item) in values.iter().enumerate() {
            conforms(doc, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

fn merge_object(
    doc: &Value,
    schema: &Value,
    properties: &mut BTreeMap<String, Value>,
    required: &mut BTreeSet<String>,
) {
    let schema = resolve(doc, schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        merge_object(doc, part, properties, required);
    }
    if let Some(own) = schema["properties"].as_object() {
        properties.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    required.extend(
        schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned),
    );
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "dangling schema reference {reference}");
            resolve(doc, target)
        }
        None => schema,
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

both_backends!(openapi_document_matches_the_router);
