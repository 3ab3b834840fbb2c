//! Build script of the server: lays out the release binary's functions in the order of
//! `symbol-order.txt` (start-up and request code together; `scripts/symbol-order` makes it).

use std::env;
use std::path::Path;

fn main() {
    let order =
        Path::new(&env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=QUICKDAPP_SYMBOL_ORDER");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    // x86_64 Linux links with rust-lld since Rust 1.90 (the workspace's minimum); the option
    // is lld's. QUICKDAPP_SYMBOL_ORDER=off opts out (another linker, or regenerating the list).
    let lld = env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let wanted = env::var("QUICKDAPP_SYMBOL_ORDER").map_or(true, |v| v != "off");
    if release && lld && wanted && order.exists() {
        println!(
            "cargo:rustc-link-arg-bin=quickdapp=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Names from an older build that no longer exist are expected; skip them quietly.
        println!("cargo:rustc-link-arg-bin=quickdapp=-Wl,--no-warn-symbol-ordering");
    }
    // A static binary (`scripts/dist`: glibc linked in) relocates itself with the glibc it
    // carries, so its relative relocations can be packed (RELR, glibc 2.36): a table of a few
    // KB read at start instead of 1.1 MB, whatever glibc the machine that runs it has.
    let static_crt = env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|features| features.split(',').any(|f| f == "crt-static"));
    if lld && static_crt {
        println!("cargo:rustc-link-arg-bin=quickdapp=-Wl,-z,pack-relative-relocs");
    }
}
