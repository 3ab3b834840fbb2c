//! Logging setup: tracing with one target per component (`server`, `http`, `database`,
//! `config`...), filtered by `LOG_LEVEL`, pretty in development and JSON in production,
//! written to stderr (stdout stays for command output such as `config check`).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` is a level (`info`) or full directives
/// (`info,sqlx=warn`); it was validated with the configuration. Safe to call twice (the second
/// call is ignored), which tests that boot several apps in one process rely on.
pub fn init(filter: &str, format: LogFormat) {
    // sqlx logs every statement at info; keep it at warn unless the filter names it.
    let directives = if filter.contains("sqlx") {
        filter.to_owned()
    } else {
        format!("{filter},sqlx=warn")
    };
    let env_filter = EnvFilter::builder().parse_lossy(directives);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_target(true)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
