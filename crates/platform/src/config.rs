//! Typed configuration: layered `.env` files and the process environment, validated once.
//!
//! Precedence, lowest first (seed 000 "Configuration Management"): `.env`, `.env.{APP_MODE}`,
//! `.env.local`, then the process environment. Values written by `dotenvx encrypt` are
//! decrypted here (see `dotenvx.rs`). Every problem is collected so that one error message
//! lists all of them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use crate::dotenvx;

/// Where the application runs; it picks `.env.{mode}` and the production safety checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppMode {
    Development,
    Test,
    Production,
}

impl AppMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AppMode::Development => "development",
            AppMode::Test => "test",
            AppMode::Production => "production",
        }
    }

    fn parse(value: &str) -> Option<AppMode> {
        match value {
            "development" => Some(AppMode::Development),
            "test" => Some(AppMode::Test),
            "production" => Some(AppMode::Production),
            _ => None,
        }
    }
}

/// How many worker processes `serve` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerCount {
    Fixed(u16),
    Cpus,
}

impl WorkerCount {
    pub fn resolve(self) -> usize {
        match self {
            WorkerCount::Fixed(n) => usize::from(n),
            WorkerCount::Cpus => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl fmt::Display for WorkerCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerCount::Fixed(n) => write!(f, "{n}"),
            WorkerCount::Cpus => f.write_str("cpus"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A value that must never reach a log line or `config check` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted, {} chars>", self.0.chars().count())
    }
}

/// The resolved, validated configuration of one process.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_mode: AppMode,
    pub host: IpAddr,
    pub port: u16,
    pub base_url: url::Url,
    pub web_enabled: bool,
    pub worker_count: WorkerCount,
    pub log_level: String,
    pub worker_log_level: String,
    pub log_format: LogFormat,
    pub database_url: Secret,
    pub database_connect_timeout: Duration,
    pub session_encryption_key: Secret,
    pub cors_origins: Vec<String>,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub max_body_bytes: usize,
    /// Lifetime of a session's JWT access token.
    pub auth_access_token_ttl: Duration,
    /// Absolute lifetime of a session (its refresh tokens rotate within it).
    pub auth_refresh_token_ttl: Duration,
    /// How long a SIWE nonce stays usable.
    pub auth_nonce_ttl: Duration,
    /// Requests per minute per client IP on `/auth/*` (0 = unlimited).
    pub auth_rate_limit_per_minute: u32,
    /// Chain ids a SIWE message may name.
    pub siwe_chain_ids: Vec<u64>,
    /// Lower-cased wallets that hold the admin role.
    pub admin_wallets: Vec<String>,
    /// Open WebSocket connections allowed per instance, and per user.
    pub ws_max_connections: u32,
    pub ws_max_connections_per_user: u32,
    /// Messages per second a WebSocket client may send (bursts of twice that).
    pub ws_max_messages_per_second: u32,
    /// Largest WebSocket message (and frame) accepted, in bytes.
    pub ws_max_message_bytes: u32,
    pub jobs: JobsConfig,
    /// Where each variable's value came from (`.env.development`, `process environment`...),
    /// for `quickdapp config check`.
    pub sources: BTreeMap<&'static str, String>,
}

/// How worker processes run jobs, and where `watchChain` reads the chain.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// How long a claimed job stays reserved without a renewal (`JOB_LEASE`).
    pub lease: Duration,
    /// Jobs one worker process runs at once (`JOB_CONCURRENCY`).
    pub concurrency: usize,
    /// Most successful runs acknowledged by one statement (`JOB_ACK_BATCH`); completions that
    /// arrive while one is being written are written together. 1: one statement per job.
    pub ack_batch: usize,
    /// Claimed jobs one worker process may hold waiting for a slot (`JOB_PREFETCH`): the next
    /// round is claimed while the current one runs. 0: claim only for free slots.
    pub prefetch: usize,
    /// How often an idle worker looks for due jobs when no wake-up arrives (`JOB_POLL_INTERVAL`).
    pub poll_interval: Duration,
    /// First retry delay; each further retry waits three times longer (`JOB_RETRY_DELAY`).
    pub retry_delay: Duration,
    /// `CHAIN_RPC_ENDPOINT`; `watchChain` runs only when set.
    pub chain_rpc_endpoint: Option<url::Url>,
    pub chain_confirmations: u64,
    pub chain_start_block: u64,
    pub chain_block_range: u64,
    /// Six-field cron (seconds first) on which `watchChain` runs.
    pub chain_poll_schedule: String,
}

/// Everything wrong with the configuration, one line per variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        writeln!(f, "invalid configuration ({count} {noun}):")?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The variables this version understands, with their documented defaults (`None`: no default).
/// `.env.development` documents each of them; `config check` prints them in this order.
pub const VARIABLES: &[(&str, Option<&str>)] = &[
    ("APP_MODE", Some("development")),
    ("HOST", Some("127.0.0.1")),
    ("PORT", Some("3000")),
    ("BASE_URL", None),
    ("WEB_ENABLED", Some("true")),
    ("WORKER_COUNT", Some("1")),
    ("LOG_LEVEL", Some("info")),
    ("WORKER_LOG_LEVEL", None),
    ("LOG_FORMAT", None),
    ("DATABASE_URL", Some("sqlite://./data/quickdapp.db")),
    ("DATABASE_CONNECT_TIMEOUT", Some("60s")),
    ("SESSION_ENCRYPTION_KEY", None),
    ("CORS_ORIGINS", Some("")),
    ("REQUEST_TIMEOUT", Some("30s")),
    ("SHUTDOWN_TIMEOUT", Some("10s")),
    ("MAX_BODY_BYTES", Some("1048576")),
    ("AUTH_ACCESS_TOKEN_TTL", Some("15m")),
    ("AUTH_REFRESH_TOKEN_TTL", Some("30d")),
    ("AUTH_NONCE_TTL", Some("5m")),
    ("AUTH_RATE_LIMIT", Some("60")),
    ("SIWE_CHAIN_IDS", Some("1")),
    ("ADMIN_WALLETS", Some("")),
    ("WS_MAX_CONNECTIONS", Some("20000")),
    ("WS_MAX_CONNECTIONS_PER_USER", Some("16")),
    ("WS_MAX_MESSAGES_PER_SECOND", Some("20")),
    ("WS_MAX_MESSAGE_BYTES", Some("16384")),
    ("JOB_LEASE", Some("30s")),
    ("JOB_CONCURRENCY", Some("8")),
    ("JOB_ACK_BATCH", Some("256")),
    ("JOB_PREFETCH", Some("0")),
    ("JOB_POLL_INTERVAL", Some("5s")),
    ("JOB_RETRY_DELAY", Some("5s")),
    ("CHAIN_RPC_ENDPOINT", None),
    ("CHAIN_CONFIRMATIONS", Some("12")),
    ("CHAIN_START_BLOCK", Some("0")),
    ("CHAIN_BLOCK_RANGE", Some("1000")),
    ("CHAIN_POLL_SCHEDULE", Some("*/5 * * * * *")),
];

/// A raw variable with the place it was read from.
#[derive(Debug, Clone)]
struct RawValue {
    value: String,
    source: String,
}

impl Config {
    /// Loads the layered files from `dir` and overlays `process_env`.
    pub fn load(
        dir: &Path,
        process_env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let process: BTreeMap<String, String> = process_env.into_iter().collect();
        let mut errors = Vec::new();

        let base = read_env_file(dir, ".env", &mut errors);
        let local = read_env_file(dir, ".env.local", &mut errors);
        let mode_name = process
            .get("APP_MODE")
            .or_else(|| local.get("APP_MODE"))
            .or_else(|| base.get("APP_MODE"))
            .cloned()
            .unwrap_or_else(|| "development".to_owned());
        let mode_file = format!(".env.{mode_name}");
        let moded = if mode_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            read_env_file(dir, &mode_file, &mut errors)
        } else {
            BTreeMap::new()
        };

        // Private keys may come from the process or from dotenvx's `.env.keys` file.
        let keys_file = read_env_file(dir, ".env.keys", &mut errors);
        let private_keys = |file: &str| -> Vec<String> {
            let specific = dotenvx::private_key_name(file);
            [specific.as_str(), "DOTENV_PRIVATE_KEY"]
                .iter()
                .filter_map(|name| process.get(*name).or_else(|| keys_file.get(*name)))
                .flat_map(|keys| keys.split(',').map(|k| k.trim().to_owned()))
                .filter(|k| !k.is_empty())
                .collect()
        };

        let mut merged: BTreeMap<String, RawValue> = BTreeMap::new();
        for (file, values) in [
            (".env", &base),
            (mode_file.as_str(), &moded),
            (".env.local", &local),
        ] {
            let keys = private_keys(file);
            for (name, value) in values {
                let value = decrypt_if_needed(name, value, &keys, file, &mut errors);
                merged.insert(
                    name.clone(),
                    RawValue {
                        value,
                        source: file.to_owned(),
                    },
                );
            }
        }
        let process_keys = private_keys(".env");
        for (name, value) in &process {
            if VARIABLES.iter().any(|(known, _)| known == name) {
                let value = decrypt_if_needed(
                    name,
                    value,
                    &process_keys,
                    "process environment",
                    &mut errors,
                );
                merged.insert(
                    name.clone(),
                    RawValue {
                        value,
                        source: "process environment".to_owned(),
                    },
                );
            }
        }

        let config = Config::from_raw(&merged, &mut errors);
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// Builds a configuration from explicit values only (no files, no process environment);
    /// tests use it to start servers with exactly the settings they name.
    pub fn from_values<'a>(
        values: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Config, ConfigErrors> {
        let merged = values
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_owned(),
                    RawValue {
                        value: v.to_owned(),
                        source: "given".to_owned(),
                    },
                )
            })
            .collect();
        let mut errors = Vec::new();
        match Config::from_raw(&merged, &mut errors) {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(ConfigErrors(errors)),
        }
    }

    fn from_raw(raw: &BTreeMap<String, RawValue>, errors: &mut Vec<String>) -> Option<Config> {
        let mut sources = BTreeMap::new();
        let mut get = |name: &'static str| -> Option<String> {
            let default = VARIABLES
                .iter()
                .find(|(known, _)| *known == name)
                .and_then(|(_, default)| *default);
            match raw.get(name) {
                Some(found) => {
                    sources.insert(name, found.source.clone());
                    Some(found.value.trim().to_owned())
                }
                None => {
                    sources.insert(name, "default".to_owned());
                    default.map(str::to_owned)
                }
            }
        };

        let app_mode_raw = get("APP_MODE").unwrap_or_default();
        let app_mode = AppMode::parse(&app_mode_raw).unwrap_or_else(|| {
            errors.push(format!(
                "APP_MODE: {app_mode_raw:?} is not one of development, test, production"
            ));
            AppMode::Development
        });

        let host_raw = get("HOST").unwrap_or_default();
        let host = match host_raw.as_str() {
            "localhost" => Some(IpAddr::from([127, 0, 0, 1])),
            other => other.parse::<IpAddr>().ok(),
        };
        if host.is_none() {
            errors.push(format!(
                "HOST: {host_raw:?} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"
            ));
        }

        let port_raw = get("PORT").unwrap_or_default();
        let port = port_raw.parse::<u16>().ok();
        if port.is_none() {
            errors.push(format!("PORT: {port_raw:?} is not a port number (0-65535)"));
        }

        let base_url_raw =
            get("BASE_URL").unwrap_or_else(|| format!("http://localhost:{}", port.unwrap_or(3000)));
        let base_url = match url::Url::parse(&base_url_raw) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.path() == "/"
                    && url.query().is_none()
                    && url.username().is_empty() =>
            {
                Some(url)
            }
            _ => {
                errors.push(format!(
                    "BASE_URL: {base_url_raw:?} must be an http(s) origin such as https://app.example.com (no path, query or user)"
                ));
                None
            }
        };

        let web_enabled = parse_bool(
            "WEB_ENABLED",
            &get("WEB_ENABLED").unwrap_or_default(),
            errors,
        );

        let worker_raw = get("WORKER_COUNT").unwrap_or_default();
        let worker_count = if worker_raw == "cpus" {
            Some(WorkerCount::Cpus)
        } else if let Ok(n) = worker_raw.parse::<u16>() {
            Some(WorkerCount::Fixed(n))
        } else {
            errors.push(format!(
                "WORKER_COUNT: {worker_raw:?} must be a number (0 or more) or \"cpus\""
            ));
            None
        };

        let log_level = get("LOG_LEVEL").unwrap_or_default();
        check_log_filter("LOG_LEVEL", &log_level, errors);
        let worker_log_level = get("WORKER_LOG_LEVEL").unwrap_or_else(|| log_level.clone());
        check_log_filter("WORKER_LOG_LEVEL", &worker_log_level, errors);

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("") => Some(if app_mode == AppMode::Production {
                LogFormat::Json
            } else {
                LogFormat::Pretty
            }),
            Some("pretty") => Some(LogFormat::Pretty),
            Some("json") => Some(LogFormat::Json),
            Some(other) => {
                errors.push(format!("LOG_FORMAT: {other:?} is not one of pretty, json"));
                None
            }
        };

        let database_url = get("DATABASE_URL").unwrap_or_default();
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            errors.push(format!(
                "DATABASE_URL: must start with sqlite: or postgres:// (got {:?})",
                redact_url(&database_url)
            ));
        }

        let database_connect_timeout = parse_duration_var(
            "DATABASE_CONNECT_TIMEOUT",
            &get("DATABASE_CONNECT_TIMEOUT").unwrap_or_default(),
            errors,
        );

        let session_key = get("SESSION_ENCRYPTION_KEY").filter(|k| !k.is_empty());
        let session_encryption_key = match (session_key, app_mode) {
            (Some(key), AppMode::Production) => match weak_key_reason(&key) {
                Some(reason) => {
                    errors.push(format!(
                        "SESSION_ENCRYPTION_KEY: too weak for production: {reason}"
                    ));
                    None
                }
                None => Some(Secret(key)),
            },
            (Some(key), _) if key.len() < 32 => {
                errors.push("SESSION_ENCRYPTION_KEY: must be at least 32 characters".to_owned());
                None
            }
            (Some(key), _) => Some(Secret(key)),
            (None, AppMode::Production) => {
                errors.push(
                    "SESSION_ENCRYPTION_KEY: missing; production needs at least 32 random characters (e.g. `openssl rand -hex 32`)"
                        .to_owned(),
                );
                None
            }
            (None, _) => {
                errors.push(
                    "SESSION_ENCRYPTION_KEY: missing; set at least 32 random characters (.env.development has a development key)"
                        .to_owned(),
                );
                None
            }
        };

        let cors_raw = get("CORS_ORIGINS").unwrap_or_default();
        let mut cors_origins = Vec::new();
        for origin in cors_raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            match url::Url::parse(origin) {
                Ok(url)
                    if matches!(url.scheme(), "http" | "https")
                        && url.host().is_some()
                        && url.path() == "/"
                        && !origin.ends_with('/') =>
                {
                    cors_origins.push(origin.to_owned());
                }
                _ => errors.push(format!(
                    "CORS_ORIGINS: {origin:?} is not an origin like https://app.example.com (scheme, host, optional port; no path)"
                )),
            }
        }

        let request_timeout = parse_duration_var(
            "REQUEST_TIMEOUT",
            &get("REQUEST_TIMEOUT").unwrap_or_default(),
            errors,
        );
        let shutdown_timeout = parse_duration_var(
            "SHUTDOWN_TIMEOUT",
            &get("SHUTDOWN_TIMEOUT").unwrap_or_default(),
            errors,
        );

        let body_raw = get("MAX_BODY_BYTES").unwrap_or_default();
        let max_body_bytes = match body_raw.parse::<usize>() {
            Ok(n) if n >= 1024 => Some(n),
            _ => {
                errors.push(format!(
                    "MAX_BODY_BYTES: {body_raw:?} must be a whole number of bytes, at least 1024"
                ));
                None
            }
        };

        let auth_access_token_ttl = parse_duration_var(
            "AUTH_ACCESS_TOKEN_TTL",
            &get("AUTH_ACCESS_TOKEN_TTL").unwrap_or_default(),
            errors,
        );
        let auth_refresh_token_ttl = parse_duration_var(
            "AUTH_REFRESH_TOKEN_TTL",
            &get("AUTH_REFRESH_TOKEN_TTL").unwrap_or_default(),
            errors,
        );
        let auth_nonce_ttl = parse_duration_var(
            "AUTH_NONCE_TTL",
            &get("AUTH_NONCE_TTL").unwrap_or_default(),
            errors,
        );
        let rate_raw = get("AUTH_RATE_LIMIT").unwrap_or_default();
        let auth_rate_limit_per_minute = rate_raw.parse::<u32>().ok();
        if auth_rate_limit_per_minute.is_none() {
            errors.push(format!("AUTH_RATE_LIMIT: {rate_raw:?} must be a whole number of requests per minute (0 = off)"));
        }
        let chains_raw = get("SIWE_CHAIN_IDS").unwrap_or_default();
        let siwe_chain_ids: Vec<u64> = chains_raw
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .filter_map(|c| match c.parse::<u64>() {
                Ok(id) if id > 0 => Some(id),
                _ => {
                    errors.push(format!(
                        "SIWE_CHAIN_IDS: {c:?} is not a chain id (a positive integer)"
                    ));
                    None
                }
            })
            .collect();
        if chains_raw.trim().is_empty() {
            errors.push(
                "SIWE_CHAIN_IDS: name at least one chain id (e.g. 1 for Ethereum mainnet)"
                    .to_owned(),
            );
        }
        let admins_raw = get("ADMIN_WALLETS").unwrap_or_default();
        let mut admin_wallets = Vec::new();
        for wallet in admins_raw
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            let hex = wallet.strip_prefix("0x").unwrap_or("");
            if hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                admin_wallets.push(wallet.to_ascii_lowercase());
            } else {
                errors.push(format!(
                    "ADMIN_WALLETS: {wallet:?} is not a 0x-prefixed 20-byte address"
                ));
            }
        }

        let mut positive = |name: &'static str| -> Option<u32> {
            let raw = get(name).unwrap_or_default();
            match raw.parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    errors.push(format!("{name}: {raw:?} must be a whole number above 0"));
                    None
                }
            }
        };
        let ws_max_connections = positive("WS_MAX_CONNECTIONS");
        let ws_max_connections_per_user = positive("WS_MAX_CONNECTIONS_PER_USER");
        let ws_max_messages_per_second = positive("WS_MAX_MESSAGES_PER_SECOND");
        let ws_max_message_bytes = positive("WS_MAX_MESSAGE_BYTES");
        let jobs = jobs_config(&mut get, errors);

        Some(Config {
            app_mode,
            host: host?,
            port: port?,
            base_url: base_url?,
            web_enabled: web_enabled?,
            worker_count: worker_count?,
            log_level,
            worker_log_level,
            log_format: log_format?,
            database_url: Secret(database_url),
            database_connect_timeout: database_connect_timeout?,
            session_encryption_key: session_encryption_key?,
            cors_origins,
            request_timeout: request_timeout?,
            shutdown_timeout: shutdown_timeout?,
            max_body_bytes: max_body_bytes?,
            auth_access_token_ttl: auth_access_token_ttl?,
            auth_refresh_token_ttl: auth_refresh_token_ttl?,
            auth_nonce_ttl: auth_nonce_ttl?,
            auth_rate_limit_per_minute: auth_rate_limit_per_minute?,
            siwe_chain_ids,
            admin_wallets,
            ws_max_connections: ws_max_connections?,
            ws_max_connections_per_user: ws_max_connections_per_user?,
            ws_max_messages_per_second: ws_max_messages_per_second?,
            ws_max_message_bytes: ws_max_message_bytes?,
            jobs: jobs?,
            sources,
        })
    }

    /// The resolved configuration as `NAME=value  (source)` lines, secrets redacted.
    pub fn describe(&self) -> Vec<(&'static str, String, String)> {
        let value = |name: &'static str| -> String {
            match name {
                "APP_MODE" => self.app_mode.as_str().to_owned(),
                "HOST" => self.host.to_string(),
                "PORT" => self.port.to_string(),
                "BASE_URL" => self.base_url.as_str().trim_end_matches('/').to_owned(),
                "WEB_ENABLED" => self.web_enabled.to_string(),
                "WORKER_COUNT" => self.worker_count.to_string(),
                "LOG_LEVEL" => self.log_level.clone(),
                "WORKER_LOG_LEVEL" => self.worker_log_level.clone(),
                "LOG_FORMAT" => match self.log_format {
                    LogFormat::Pretty => "pretty".to_owned(),
                    LogFormat::Json => "json".to_owned(),
                },
                "DATABASE_URL" => redact_url(self.database_url.expose()),
                "DATABASE_CONNECT_TIMEOUT" => format_duration(self.database_connect_timeout),
                "SESSION_ENCRYPTION_KEY" => format!("{:?}", self.session_encryption_key),
                "CORS_ORIGINS" => self.cors_origins.join(","),
                "REQUEST_TIMEOUT" => format_duration(self.request_timeout),
                "SHUTDOWN_TIMEOUT" => format_duration(self.shutdown_timeout),
                "MAX_BODY_BYTES" => self.max_body_bytes.to_string(),
                "AUTH_ACCESS_TOKEN_TTL" => format_duration(self.auth_access_token_ttl),
                "AUTH_REFRESH_TOKEN_TTL" => format_duration(self.auth_refresh_token_ttl),
                "AUTH_NONCE_TTL" => format_duration(self.auth_nonce_ttl),
                "AUTH_RATE_LIMIT" => self.auth_rate_limit_per_minute.to_string(),
                "SIWE_CHAIN_IDS" => self
                    .siwe_chain_ids
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                "ADMIN_WALLETS" => self.admin_wallets.join(","),
                "WS_MAX_CONNECTIONS" => self.ws_max_connections.to_string(),
                "WS_MAX_CONNECTIONS_PER_USER" => self.ws_max_connections_per_user.to_string(),
                "WS_MAX_MESSAGES_PER_SECOND" => self.ws_max_messages_per_second.to_string(),
                "WS_MAX_MESSAGE_BYTES" => self.ws_max_message_bytes.to_string(),
                "JOB_LEASE" => format_duration(self.jobs.lease),
                "JOB_CONCURRENCY" => self.jobs.concurrency.to_string(),
                "JOB_ACK_BATCH" => self.jobs.ack_batch.to_string(),
                "JOB_PREFETCH" => self.jobs.prefetch.to_string(),
                "JOB_POLL_INTERVAL" => format_duration(self.jobs.poll_interval),
                "JOB_RETRY_DELAY" => format_duration(self.jobs.retry_delay),
                "CHAIN_RPC_ENDPOINT" => self
                    .jobs
                    .chain_rpc_endpoint
                    .as_ref()
                    .map_or(String::new(), |url| redact_url(url.as_str())),
                "CHAIN_CONFIRMATIONS" => self.jobs.chain_confirmations.to_string(),
                "CHAIN_START_BLOCK" => self.jobs.chain_start_block.to_string(),
                "CHAIN_BLOCK_RANGE" => self.jobs.chain_block_range.to_string(),
                "CHAIN_POLL_SCHEDULE" => self.jobs.chain_poll_schedule.clone(),
                _ => String::new(),
            }
        };
        VARIABLES
            .iter()
            .map(|(name, _)| {
                let source = self
                    .sources
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "default".to_owned());
                (*name, value(name), source)
            })
            .collect()
    }

    /// The address the HTTP server binds.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.host, self.port)
    }
}

/// The `JOB_*` and `CHAIN_*` variables.
fn jobs_config(
    get: &mut impl FnMut(&'static str) -> Option<String>,
    errors: &mut Vec<String>,
) -> Option<JobsConfig> {
    let lease = parse_duration_var("JOB_LEASE", &get("JOB_LEASE").unwrap_or_default(), errors);
    if lease.is_some_and(|lease| lease < Duration::from_millis(100)) {
        errors.push("JOB_LEASE: must be at least 100ms".to_owned());
    }
    let poll_interval = parse_duration_var(
        "JOB_POLL_INTERVAL",
        &get("JOB_POLL_INTERVAL").unwrap_or_default(),
        errors,
    );
    let retry_delay = parse_duration_var(
        "JOB_RETRY_DELAY",
        &get("JOB_RETRY_DELAY").unwrap_or_default(),
        errors,
    );
    let mut whole = |name: &'static str, min: u64| -> Option<u64> {
        let raw = get(name).unwrap_or_default();
        match raw.parse::<u64>() {
            Ok(n) if n >= min => Some(n),
            _ => {
                errors.push(format!(
                    "{name}: {raw:?} must be a whole number, at least {min}"
                ));
                None
            }
        }
    };
    let concurrency = whole("JOB_CONCURRENCY", 1);
    let ack_batch = whole("JOB_ACK_BATCH", 1);
    let prefetch = whole("JOB_PREFETCH", 0);
    let chain_confirmations = whole("CHAIN_CONFIRMATIONS", 0);
    let chain_start_block = whole("CHAIN_START_BLOCK", 0);
    let chain_block_range = whole("CHAIN_BLOCK_RANGE", 1);
    let endpoint_raw = get("CHAIN_RPC_ENDPOINT").unwrap_or_default();
    let chain_rpc_endpoint = if endpoint_raw.is_empty() {
        Some(None)
    } else {
        match url::Url::parse(&endpoint_raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(Some(url)),
            _ => {
                errors.push(format!(
                    "CHAIN_RPC_ENDPOINT: {:?} is not an http(s) URL",
                    redact_url(&endpoint_raw)
                ));
                None
            }
        }
    };
    let chain_poll_schedule = get("CHAIN_POLL_SCHEDULE").unwrap_or_default();
    if chain_poll_schedule.split_whitespace().count() != 6 {
        errors.push(format!(
            "CHAIN_POLL_SCHEDULE: {chain_poll_schedule:?} must be a cron pattern with six fields, seconds first (e.g. */5 * * * * *)"
        ));
    }
    Some(JobsConfig {
        lease: lease?,
        concurrency: usize::try_from(concurrency?).ok()?,
        ack_batch: usize::try_from(ack_batch?).ok()?,
        prefetch: usize::try_from(prefetch?).ok()?,
        poll_interval: poll_interval?,
        retry_delay: retry_delay?,
        chain_rpc_endpoint: chain_rpc_endpoint?,
        chain_confirmations: chain_confirmations?,
        chain_start_block: chain_start_block?,
        chain_block_range: chain_block_range?,
        chain_poll_schedule,
    })
}

fn read_env_file(dir: &Path, name: &str, errors: &mut Vec<String>) -> BTreeMap<String, String> {
    let path = dir.join(name);
    let mut values = BTreeMap::new();
    let iter = match dotenvy::from_path_iter(&path) {
        Ok(iter) => iter,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return values,
        Err(e) => {
            errors.push(format!("{name}: cannot be read: {e}"));
            return values;
        }
    };
    for item in iter {
        match item {
            Ok((key, value)) => {
                values.insert(key, value);
            }
            Err(e) => {
                errors.push(format!("{name}: {e}"));
                break;
            }
        }
    }
    values
}

fn decrypt_if_needed(
    name: &str,
    value: &str,
    keys: &[String],
    source: &str,
    errors: &mut Vec<String>,
) -> String {
    if !dotenvx::is_encrypted(value) {
        return value.to_owned();
    }
    match dotenvx::decrypt_value(value, keys) {
        Ok(plain) => plain,
        Err(e) => {
            errors.push(format!("{name}: encrypted in {source} but {e}"));
            String::new()
        }
    }
}

fn parse_bool(name: &str, value: &str, errors: &mut Vec<String>) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => {
            errors.push(format!(
                "{name}: {value:?} is not a boolean (true or false)"
            ));
            None
        }
    }
}

fn check_log_filter(name: &str, value: &str, errors: &mut Vec<String>) {
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(value) {
        errors.push(format!(
            "{name}: {value:?} is not a log level (trace, debug, info, warn, error) or filter: {e}"
        ));
    }
}

fn parse_duration_var(name: &str, value: &str, errors: &mut Vec<String>) -> Option<Duration> {
    let parsed = parse_duration(value);
    if parsed.is_none() {
        errors.push(format!(
            "{name}: {value:?} is not a duration such as 500ms, 30s or 2m"
        ));
    }
    parsed
}

/// Parses `500ms`, `30s`, `2m`, `1h`, `30d` or a bare number of seconds.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(number)),
        "" | "s" => Some(Duration::from_secs(number)),
        "m" => Some(Duration::from_secs(number.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(number.checked_mul(3600)?)),
        "d" => Some(Duration::from_secs(number.checked_mul(86_400)?)),
        _ => None,
    }
}

fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_millis() != 0 || secs == 0 {
        format!("{}ms", d.as_millis())
    } else if secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{}s", d.as_secs())
    }
}

/// Hides the password of a database URL.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// Why a production session key is unsafe, if it is.
fn weak_key_reason(key: &str) -> Option<&'static str> {
    const PLACEHOLDERS: &[&str] = &[
        "change",
        "example",
        "secret",
        "password",
        "development",
        "test_key",
        "dev-only",
    ];
    let lower = key.to_ascii_lowercase();
    let distinct = {
        let mut chars: Vec<char> = key.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        chars.len()
    };
    if key.len() < 32 {
        Some("shorter than 32 characters")
    } else if PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        Some("it looks like a placeholder or development value")
    } else if distinct < 10 {
        Some("too few distinct characters to be random")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_reject_garbage() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("2 weeks"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn weak_production_keys_are_named() {
        assert!(weak_key_reason("short").is_some());
        assert!(weak_key_reason(&"a".repeat(64)).is_some());
        assert!(weak_key_reason("change-me-change-me-change-me-change-me").is_some());
        assert!(weak_key_reason("9f2c4e7a1b3d5f60817263a4b5c6d7e8f90a1b2c3d4e5f60").is_none());
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:hunter2@db:5432/app"),
            "postgres://u:***@db:5432/app"
        );
        assert_eq!(
            redact_url("sqlite://./data/quickdapp.db"),
            "sqlite://./data/quickdapp.db"
        );
    }
}
