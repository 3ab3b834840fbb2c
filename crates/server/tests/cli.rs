//! The `quickdapp` binary itself: configuration errors (exit 2, every problem listed),
//! precedence of the layered files, dotenvx-encrypted values decrypted with the real CLI's
//! keys, `config check` redaction, an unreachable database at start, and SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const STRONG_KEY: &str = "9f2c4e7a1b3d5f60817263a4b5c6d7e8f90a1b2c3d4e5f60";

/// Runs `quickdapp <args>` in `dir` with only `env` (plus PATH) in its environment.
fn quickdapp(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quickdapp"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("quickdapp runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The value `config check` prints for `name`.
fn checked_value(output: &Output, name: &str) -> String {
    let text = stdout(output);
    let line = text
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} is not in:\n{text}"));
    let value = line.split_once(" = ").expect("NAME = value").1;
    value
        .split("    # ")
        .next()
        .expect("value")
        .trim()
        .to_owned()
}

#[test]
fn every_invalid_variable_is_listed_and_the_exit_code_is_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = quickdapp(
        dir.path(),
        &["config", "check"],
        &[
            ("APP_MODE", "staging"),
            ("PORT", "70000"),
            ("HOST", "not-an-ip"),
            ("WORKER_COUNT", "many"),
            ("WEB_ENABLED", "maybe"),
            ("LOG_FORMAT", "xml"),
            ("DATABASE_URL", "mysql://x"),
            ("CORS_ORIGINS", "https://ok.example,not a url"),
            ("REQUEST_TIMEOUT", "soon"),
            ("MAX_BODY_BYTES", "-1"),
            ("BASE_URL", "ftp://x/path"),
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    for name in [
        "APP_MODE",
        "PORT",
        "HOST",
        "WORKER_COUNT",
        "WEB_ENABLED",
        "LOG_FORMAT",
        "DATABASE_URL",
        "CORS_ORIGINS",
        "REQUEST_TIMEOUT",
        "MAX_BODY_BYTES",
        "BASE_URL",
        "SESSION_ENCRYPTION_KEY",
    ] {
        assert!(
            message.contains(&format!("  - {name}:")),
            "{name} missing from:\n{message}"
        );
    }
    assert!(message.contains("12 problems"), "{message}");
}

#[test]
fn production_refuses_a_missing_or_weak_session_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = quickdapp(dir.path(), &["serve"], &[("APP_MODE", "production")]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("SESSION_ENCRYPTION_KEY: missing"),
        "{}",
        stderr(&missing)
    );

    let dev_key = "dev-only-session-key-5d41402abc4b2a76b9719d911017c592";
    let weak = quickdapp(
        dir.path(),
        &["serve"],
        &[
            ("APP_MODE", "production"),
            ("SESSION_ENCRYPTION_KEY", dev_key),
        ],
    );
    assert_eq!(weak.status.code(), Some(2));
    assert!(stderr(&weak).contains("too weak"), "{}", stderr(&weak));

    let strong = quickdapp(
        dir.path(),
        &["config", "check"],
        &[
            ("APP_MODE", "production"),
            ("SESSION_ENCRYPTION_KEY", STRONG_KEY),
        ],
    );
    assert_eq!(strong.status.code(), Some(0), "{}", stderr(&strong));
    assert_eq!(
        checked_value(&strong, "LOG_FORMAT"),
        "json",
        "production logs JSON by default"
    );
}

#[test]
fn files_layer_in_order_and_the_process_environment_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write =
        |name: &str, body: &str| std::fs::write(dir.path().join(name), body).expect("write");
    write(
        ".env",
        "APP_MODE=staging-from-base-is-overridden\nPORT=1001\nHOST=0.0.0.0\nLOG_LEVEL=debug\nSESSION_ENCRYPTION_KEY=base-key-0123456789abcdef0123456789abcdef\n",
    );
    write(".env.local", "APP_MODE=development\nPORT=1003\n");
    write(
        ".env.development",
        "PORT=1002\nHOST=127.0.0.1\nCORS_ORIGINS=https://a.example\n",
    );
    let output = quickdapp(
        dir.path(),
        &["config", "check"],
        &[("CORS_ORIGINS", "https://b.example")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        checked_value(&output, "APP_MODE"),
        "development",
        ".env.local picks the mode"
    );
    assert_eq!(
        checked_value(&output, "PORT"),
        "1003",
        ".env.local beats .env.development"
    );
    assert_eq!(
        checked_value(&output, "HOST"),
        "127.0.0.1",
        ".env.development beats .env"
    );
    assert_eq!(
        checked_value(&output, "LOG_LEVEL"),
        "debug",
        ".env applies when nothing overrides it"
    );
    assert_eq!(
        checked_value(&output, "CORS_ORIGINS"),
        "https://b.example",
        "the process environment wins"
    );
    assert!(
        stdout(&output).contains("# .env.local"),
        "sources are shown"
    );
    assert!(
        !stdout(&output).contains("base-key"),
        "secrets are redacted"
    );
    assert!(checked_value(&output, "SESSION_ENCRYPTION_KEY").contains("redacted"));
}

#[test]
fn the_committed_development_file_starts_with_defaults_and_no_dot_env() {
    let root = test_support::repo_root();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        root.join(".env.development"),
        dir.path().join(".env.development"),
    )
    .expect("copy");
    let output = quickdapp(
        dir.path(),
        &["config", "check"],
        &[("DATABASE_URL", "postgres://app:hunter2@db:5432/app")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(checked_value(&output, "PORT"), "3000");
    assert_eq!(
        checked_value(&output, "DATABASE_URL"),
        "postgres://app:***@db:5432/app"
    );
    // Every variable the binary knows is documented in .env.development.
    let documented = std::fs::read_to_string(root.join(".env.development")).expect("read");
    for (name, _) in platform::config::VARIABLES {
        assert!(
            documented.contains(&format!("\n{name}=")),
            "{name} is not documented in .env.development"
        );
    }
}

#[test]
fn values_encrypted_by_the_dotenvx_cli_are_decrypted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(".env.production");
    std::fs::write(
        &file,
        format!("PORT=4321\nSESSION_ENCRYPTION_KEY={STRONG_KEY}\n"),
    )
    .expect("write");
    let encrypted = Command::new(test_support::node_tool("dotenvx"))
        .args(["encrypt", "-f", ".env.production"])
        .current_dir(dir.path())
        .output()
        .expect("dotenvx runs");
    assert!(encrypted.status.success(), "{}", stderr(&encrypted));
    let body = std::fs::read_to_string(&file).expect("read");
    assert!(
        body.contains("PORT=encrypted:") && !body.contains(STRONG_KEY),
        "dotenvx encrypted the file:\n{body}"
    );
    let keys = std::fs::read_to_string(dir.path().join(".env.keys")).expect(".env.keys");
    let private_key = keys
        .lines()
        .find_map(|line| line.strip_prefix("DOTENV_PRIVATE_KEY_PRODUCTION="))
        .expect("a production key")
        .trim_matches('"')
        .to_owned();

    // With the key in the environment (and .env.keys moved away): decrypted.
    std::fs::rename(dir.path().join(".env.keys"), dir.path().join("keys.saved")).expect("move");
    let output = quickdapp(
        dir.path(),
        &["config", "check"],
        &[
            ("APP_MODE", "production"),
            ("DOTENV_PRIVATE_KEY", &private_key),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(checked_value(&output, "PORT"), "4321");
    assert_eq!(
        checked_value(&output, "SESSION_ENCRYPTION_KEY"),
        format!("<redacted, {} chars>", STRONG_KEY.len())
    );

    // Without any key: a clear error naming the variables, exit 2.
    let output = quickdapp(
        dir.path(),
        &["config", "check"],
        &[("APP_MODE", "production")],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("PORT: encrypted in .env.production"),
        "{}",
        stderr(&output)
    );

    // With dotenvx's own .env.keys file next to it: decrypted.
    std::fs::rename(dir.path().join("keys.saved"), dir.path().join(".env.keys"))
        .expect("move back");
    let output = quickdapp(
        dir.path(),
        &["config", "check"],
        &[("APP_MODE", "production")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(checked_value(&output, "PORT"), "4321");
}

#[test]
fn an_unreachable_database_is_retried_then_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on port 1 of loopback.
    let output = quickdapp(
        dir.path(),
        &["serve"],
        &[
            ("SESSION_ENCRYPTION_KEY", STRONG_KEY),
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"),
            ("DATABASE_CONNECT_TIMEOUT", "1s"),
            ("PORT", "0"),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("database unreachable after"), "{message}");
    assert!(
        message.contains("not reachable yet"),
        "it retried first: {message}"
    );
}

#[test]
fn migrate_applies_then_reports_nothing_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("SESSION_ENCRYPTION_KEY", STRONG_KEY),
        ("DATABASE_URL", "sqlite://./data/app.db"),
    ];
    let first = quickdapp(dir.path(), &["migrate"], &env);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("applied ") && stdout(&first).contains(" migration(s)"),
        "{}",
        stdout(&first)
    );
    assert!(
        dir.path().join("data/app.db").exists(),
        "the SQLite file and its directory are created"
    );
    let second = quickdapp(dir.path(), &["migrate"], &env);
    assert!(
        stdout(&second).contains("nothing applied"),
        "{}",
        stdout(&second)
    );
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_quickdapp"))
        .current_dir(dir.path())
        .env_clear()
        .envs([
            ("SESSION_ENCRYPTION_KEY", STRONG_KEY),
            ("PORT", "0"),
            ("LOG_FORMAT", "json"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("\"listening\""))
        .expect("the server logs that it listens");
    assert!(listening.contains("\"addr\""), "{listening}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().expect("wait");
    assert_eq!(exit.code(), Some(0), "{rest:?}");
    assert!(rest.iter().any(|line| line.contains("stopped")), "{rest:?}");
}
