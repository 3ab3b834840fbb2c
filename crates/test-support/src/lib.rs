//! Test support: `TestApp` (the real server on an ephemeral port over a fresh database),
//! `TestDb` for either backend, `TcpProxy` to cut a dependency, `TestWallet` to sign in,
//! and `both_backends!`.

mod anvil;
mod proxy;
mod wallet;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use anvil::{ANVIL_CHAIN_ID, Anvil};
pub use platform::Backend;
use platform::{Config, Module};
pub use proxy::TcpProxy;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
pub use wallet::{SiweFields, TestWallet, hex_signature};

/// Runs an `async fn name(backend: Backend)` once on SQLite and once on PostgreSQL, as the
/// tests `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )+
    };
}

/// The PostgreSQL server tests create their databases on (`TEST_POSTGRES_URL`, default the
/// local trust-auth server).
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The repository root, for tests that need committed files or the Node tools.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Node tool installed by `scripts/test` under `tools/node` (e.g. `dotenvx`).
pub fn node_tool(name: &str) -> PathBuf {
    let path = repo_root().join("tools/node/node_modules/.bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `scripts/test` (it runs `npm ci` in tools/node)",
        path.display()
    );
    path
}

/// A fresh, empty database that disappears when dropped.
#[derive(Debug)]
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb {
                    backend,
                    url,
                    postgres_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!("qd_test_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for the postgres tests (scripts/test starts it): {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("CREATE DATABASE");
                let mut url = url::Url::parse(&admin).expect("TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                TestDb {
                    backend,
                    url: url.to_string(),
                    postgres_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl TestDb {
    /// The same database as `other`, without owning it (a second instance on it).
    pub fn shared(other: &TestDb) -> TestDb {
        TestDb {
            backend: other.backend,
            url: other.url.clone(),
            postgres_name: None,
            _dir: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs outside async code; a short-lived thread with its own runtime does the work.
        let admin = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The configuration a test server starts with; `overrides` replace any of it.
pub fn test_config(database_url: &str, base_url: &str, overrides: &[(&str, &str)]) -> Config {
    let mut values: Vec<(&str, &str)> = vec![
        ("APP_MODE", "test"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("BASE_URL", base_url),
        ("DATABASE_URL", database_url),
        ("DATABASE_CONNECT_TIMEOUT", "10s"),
        (
            "SESSION_ENCRYPTION_KEY",
            "test-session-key-0123456789abcdef0123456789abcdef",
        ),
        ("LOG_LEVEL", "warn"),
        ("WORKER_COUNT", "0"),
        ("AUTH_RATE_LIMIT", "0"),
        ("SIWE_CHAIN_IDS", "1,31337"),
    ];
    for (key, value) in overrides {
        values.retain(|(k, _)| k != key);
        values.push((key, value));
    }
    Config::from_values(values).unwrap_or_else(|e| panic!("test configuration is invalid: {e}"))
}

/// The real server, started in this process on an ephemeral port over a fresh database.
#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    pub client: reqwest::Client,
    pub db: platform::Db,
    pub state: platform::AppState,
    pub test_db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, &[], &[]).await
    }

    /// Starts with configuration `overrides` and `extra` modules (test-only routes) added to
    /// the shipped ones.
    pub async fn spawn_with(
        backend: Backend,
        overrides: &[(&str, &str)],
        extra: &[Module],
    ) -> TestApp {
        let test_db = TestDb::new(backend).await;
        TestApp::spawn_on(test_db, overrides, extra).await
    }

    /// Starts on an existing database (a second start, or a database behind a proxy).
    pub async fn spawn_on(
        test_db: TestDb,
        overrides: &[(&str, &str)],
        extra: &[Module],
    ) -> TestApp {
        let url = test_db.url.clone();
        TestApp::spawn_at(test_db, &url, overrides, extra).await
    }

    /// Starts on `test_db`, reaching it through `database_url` (e.g. a `TcpProxy` address).
    pub async fn spawn_at(
        test_db: TestDb,
        database_url: &str,
        overrides: &[(&str, &str)],
        extra: &[Module],
    ) -> TestApp {
        platform::telemetry::init(
            &std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            platform::config::LogFormat::Pretty,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("bound address");
        let base_url = format!("http://{addr}");
        let config = test_config(database_url, &base_url, overrides);
        let mut modules = server::modules();
        modules.extend_from_slice(extra);
        let app = server::Application::build_on(config, &modules, listener)
            .await
            .expect("the test server starts");
        let db = app.state().db.clone();
        let state = app.state().clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder().build().expect("an HTTP client");
        TestApp {
            addr,
            base_url,
            client,
            db,
            state,
            test_db,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// A service a module provided (e.g. `NotificationService`), to drive it directly.
    pub fn service<T: Send + Sync + 'static>(&self) -> &std::sync::Arc<T> {
        self.state.service::<T>()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A fresh nonce from `GET /auth/nonce`.
    pub async fn nonce(&self) -> String {
        let body: serde_json::Value = self
            .client
            .get(self.url("/auth/nonce"))
            .send()
            .await
            .expect("GET /auth/nonce")
            .json()
            .await
            .expect("nonce JSON");
        body["nonce"].as_str().expect("a nonce").to_owned()
    }

    /// Signs `wallet` in (SIWE over HTTP, bearer mode) and returns the response body
    /// (`token`, `refreshToken`, `user`...).
    pub async fn sign_in(&self, wallet: &TestWallet) -> serde_json::Value {
        let nonce = self.nonce().await;
        let message = wallet.siwe_fields(&self.base_url, 1, &nonce).render();
        let response = self
            .client
            .post(self.url("/auth/siwe"))
            .json(&serde_json::json!({ "message": message, "signature": wallet.sign_message(&message) }))
            .send()
            .await
            .expect("POST /auth/siwe");
        assert_eq!(response.status(), reqwest::StatusCode::OK, "sign-in failed");
        response.json().await.expect("sign-in JSON")
    }

    /// One GraphQL operation over HTTP (`token` as bearer when given); the response body.
    pub async fn graphql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: serde_json::Value,
    ) -> serde_json::Value {
        let mut request = self
            .client
            .post(self.url("/api/graphql"))
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST /api/graphql");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        response.json().await.expect("GraphQL JSON")
    }

    /// Starts a graceful shutdown without waiting for it (in-flight requests keep running).
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Shuts down gracefully and waits until the server has stopped; returns the database so
    /// a test can start again on it.
    pub async fn stop(mut self) -> TestDb {
        self.begin_shutdown();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task ends")
                .expect("the server stops cleanly");
        }
        self.test_db
    }
}
