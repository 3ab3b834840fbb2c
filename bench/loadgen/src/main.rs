//! Load clients for `bench/notifications_bench.py` (127.0.0.1 only, every run bounded):
//! `loadgen ws ...` holds WebSocket connections and times broadcasts (`ws.rs`);
//! `loadgen rate ...` sends HTTP requests at a fixed rate and reports latency from each
//! request's scheduled time, so a stalled server cannot hide its queue (`rate.rs`).

mod rate;
mod ws;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("ws") => ws::main(&args[2..]),
        Some("rate") => rate::main(&args[2..]),
        _ => {
            eprintln!("usage: loadgen ws|rate ...");
            std::process::exit(2);
        }
    }
}
