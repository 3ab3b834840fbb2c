//! `loadgen rate <host:port> <path> <body-file> <bearer-token> <rate/s> <seconds> <connections>`:
//! POSTs the body at a fixed total rate over HTTP/1.1 keep-alive connections (request `n` is
//! due at `n / rate`; a connection sends its next one when due or, if late, as soon as its
//! previous answer is in). Latency runs from the due time, not the send time (wrk2's
//! correction for coordinated omission). Prints one JSON line with percentiles in ms.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

pub fn main(args: &[String]) {
    if args.len() < 7 {
        eprintln!(
            "usage: loadgen rate <host:port> <path> <body-file> <token> <rate> <seconds> <connections>"
        );
        std::process::exit(2);
    }
    let addr = args[0].clone();
    let body = std::fs::read_to_string(&args[2]).expect("body file");
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n{body}",
        args[1],
        args[3],
        body.len()
    );
    let rate: f64 = args[4].parse().expect("rate");
    let seconds: f64 = args[5].parse().expect("seconds");
    let connections: usize = args[6].parse().expect("connections");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(addr, request, rate, seconds, connections));
}

async fn run(addr: String, request: String, rate: f64, seconds: f64, connections: usize) {
    let start = Instant::now() + Duration::from_millis(200);
    let total = (rate * seconds) as u64;
    let request = std::sync::Arc::new(request.into_bytes());
    let mut tasks = Vec::new();
    for k in 0..connections as u64 {
        let addr = addr.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut stream: Option<TcpStream> = None;
            let mut buf = Vec::with_capacity(16 * 1024);
            let mut n = k;
            while n < total {
                let due = start + Duration::from_secs_f64(n as f64 / rate);
                tokio::time::sleep_until(due).await;
                n += connections as u64;
                if stream.is_none() {
                    match TcpStream::connect(&addr).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            stream = Some(s);
                        }
                        Err(_) => {
                            errors += 1;
                            continue;
                        }
                    }
                }
                let Some(s) = stream.as_mut() else { continue };
                match exchange(s, &request, &mut buf).await {
                    Ok(true) => latencies.push(due.elapsed().as_micros() as u64),
                    Ok(false) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        stream = None;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.expect("task");
        all.extend(latencies);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i] as f64 / 1000.0
    };
    println!(
        "{{\"target_rate\":{rate},\"scheduled\":{total},\"ok\":{},\"errors\":{errors},\"achieved_rate\":{:.1},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3}}}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
}

/// Sends one request and reads its whole answer; `Ok(true)` for a 200.
async fn exchange(s: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> std::io::Result<bool> {
    s.write_all(request).await?;
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let header_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n") {
            break at + 4;
        }
        let read = s.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let ok = head.starts_with("http/1.1 200");
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(length) => {
            while buf.len() < header_end + length {
                let read = s.read(&mut chunk).await?;
                if read == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..read]);
            }
        }
        // Chunked: read until the terminating zero-length chunk.
        None => {
            while find(&buf[header_end..], b"\r\n0\r\n\r\n").is_none()
                && !buf[header_end..].starts_with(b"0\r\n\r\n")
            {
                let read = s.read(&mut chunk).await?;
                if read == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..read]);
            }
        }
    }
    Ok(ok)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
