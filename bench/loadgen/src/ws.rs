//! `loadgen ws <url> <connections> [tokens-file]`: WebSocket connections that hold and time
//! broadcasts. Opens the connections (at most 128
//! handshakes in flight; with a tokens file, connection `k` appends `?token=<line k mod n>`),
//! prints `ready <ok> <failed>`, then holds them. Every text message that carries `"i":<round>`
//! and `"t":<µs since the epoch>` is a broadcast: its latency is receive time − `t`. When every
//! connection got round `i` (or 10 s after its first copy), the process prints
//! `round <i> <got> <lat µs,...>`. Stdin commands: `send <i>` sends `{"i":i,"t":now}` on
//! connection 0 (the Bun peer re-publishes it to all), `quit` (or EOF) closes everything.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The integer after `"key":` in `text` (no JSON parse: keeps the client cheap per message).
fn field(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits: String = text[at..]
        .chars()
        .skip_while(|c| *c == ' ')
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

pub fn main(args: &[String]) {
    if args.len() < 2 {
        eprintln!("usage: loadgen ws <url> <connections> [tokens-file]");
        std::process::exit(2);
    }
    let url = args[0].clone();
    let count: usize = args[1].parse().expect("connections");
    let tokens: Vec<String> = args
        .get(2)
        .map(|path| {
            std::fs::read_to_string(path)
                .expect("tokens file")
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(url, count, tokens));
}

async fn run(url: String, count: usize, tokens: Vec<String>) {
    let (lat_tx, mut lat_rx) = mpsc::unbounded_channel::<(u64, u64)>();
    let (send_tx, send_rx) = mpsc::unbounded_channel::<u64>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<bool>();
    let gate = std::sync::Arc::new(Semaphore::new(128));
    let mut send_rx = Some(send_rx);
    for k in 0..count {
        let target = match tokens.is_empty() {
            true => url.clone(),
            false => format!("{url}?token={}", tokens[k % tokens.len()]),
        };
        let lat_tx = lat_tx.clone();
        let done_tx = done_tx.clone();
        let gate = gate.clone();
        let mut commands = if k == 0 { send_rx.take() } else { None };
        tokio::spawn(async move {
            let config = WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(0);
            let permit = gate.acquire_owned().await.expect("gate");
            let mut socket = None;
            for _ in 0..5 {
                match tokio_tungstenite::connect_async_with_config(&target, Some(config), true)
                    .await
                {
                    Ok((ws, _)) => {
                        socket = Some(ws);
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
            drop(permit);
            let _ = done_tx.send(socket.is_some());
            drop(done_tx);
            let Some(mut ws) = socket else { return };
            loop {
                let incoming = match commands.as_mut() {
                    Some(commands) => tokio::select! {
                        round = commands.recv() => {
                            let Some(round) = round else { return };
                            let text = format!("{{\"i\":{round},\"t\":{}}}", now_us());
                            if ws.send(Message::text(text)).await.is_err() {
                                return;
                            }
                            continue;
                        }
                        incoming = ws.next() => incoming,
                    },
                    None => ws.next().await,
                };
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let at = now_us();
                        if let (Some(round), Some(sent)) =
                            (field(&text, "\"i\":"), field(&text, "\"t\":"))
                        {
                            let _ = lat_tx.send((round, at.saturating_sub(sent)));
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
        });
    }
    drop(done_tx);
    let (mut ok, mut failed) = (0usize, 0usize);
    while ok + failed < count {
        let Some(success) = done_rx.recv().await else {
            break;
        };
        if success {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    println!("ready {ok} {failed}");

    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut rounds: HashMap<u64, (Instant, Vec<u64>)> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            line = stdin.next_line() => match line {
                Ok(Some(line)) if line.starts_with("send ") => {
                    if let Ok(round) = line[5..].trim().parse() {
                        let _ = send_tx.send(round);
                    }
                }
                Ok(Some(line)) if line.trim() != "quit" => {}
                _ => break,
            },
            Some((round, latency)) = lat_rx.recv() => {
                let entry = rounds.entry(round).or_insert_with(|| (Instant::now(), Vec::new()));
                entry.1.push(latency);
                if entry.1.len() >= ok {
                    report(round, &entry.1);
                    rounds.remove(&round);
                }
            }
            _ = tick.tick() => {
                let late: Vec<u64> = rounds.iter().filter(|(_, (first, _))| first.elapsed() > Duration::from_secs(10)).map(|(r, _)| *r).collect();
                for round in late {
                    if let Some((_, latencies)) = rounds.remove(&round) {
                        report(round, &latencies);
                    }
                }
            }
        }
    }
}

fn report(round: u64, latencies: &[u64]) {
    let list: Vec<String> = latencies.iter().map(u64::to_string).collect();
    println!("round {round} {} {}", latencies.len(), list.join(","));
}
