#!/usr/bin/env python3
"""Foundation benchmarks (issue #2): cold start to /health/ready, idle RSS, binary size, and
/health throughput side by side with the Elysia hello-world peer.

Usage: bench/foundation.py <path to release quickdapp> [--peer-dir DIR] [--rounds N] [--pause-services]
Runs only against 127.0.0.1, bounded in time; prints a Markdown table.
The server is pinned to core 0 and wrk to core 1, per ../shared/bench/README.md.

--pause-services freezes (SIGSTOP) the machine's services this project never uses while the
HTTP rounds run, and resumes them (SIGCONT) afterwards, also after a failure. On this machine
RabbitMQ's Erlang VM wakes in bursts of several milliseconds on either core; each burst stalls
all 50 connections of whichever server is under load, and a few dozen of them decide a p99.
Both servers run under the same conditions either way.
"""
import argparse, contextlib, json, os, re, shutil, signal, socket, statistics, subprocess, tempfile, time, urllib.request

# Services found on this kind of machine that neither server nor the benchmark uses.
UNUSED_SERVICES = ["beam.smp", "epmd", "erl_child_setup", "inet_gethost", "mariadbd", "nats-server", "mosquitto"]

@contextlib.contextmanager
def paused(enabled):
    pids = []
    if enabled:
        for name in UNUSED_SERVICES:
            found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
            pids += [int(p) for p in found]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
    try:
        yield len(pids)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def wait_ready(url, deadline_s=10.0):
    """Seconds until `url` answers 200. Polls with a raw socket and a prebuilt request (not
    urllib, whose own work per try was about a millisecond), 0.2 ms apart while refused."""
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    request = f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    start = time.perf_counter()
    while time.perf_counter() - start < deadline_s:
        try:
            with socket.create_connection((name, int(port)), timeout=1) as s:
                s.sendall(request)
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.0002)
    raise SystemExit(f"{url} never answered 200")

def start(binary, env, cwd):
    return subprocess.Popen(["taskset", "-c", "0", binary], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def env_for(port, db_url):
    env = {"PATH": os.environ["PATH"], "PORT": str(port), "HOST": "127.0.0.1", "APP_MODE": "production",
           "SESSION_ENCRYPTION_KEY": "9f2c4e7a1b3d5f60817263a4b5c6d7e8f90a1b2c3d4e5f60", "DATABASE_URL": db_url,
           "LOG_LEVEL": "warn", "WORKER_COUNT": "0", "BASE_URL": f"http://127.0.0.1:{port}"}
    return env

def cold_starts(binary, db_url, runs=20):
    times = []
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(runs):
            port = free_port()
            t0 = time.perf_counter()
            p = start(binary, env_for(port, db_url), cwd)
            wait_ready(f"http://127.0.0.1:{port}/health/ready")
            times.append((time.perf_counter() - t0) * 1000)
            p.terminate(); p.wait()
    return statistics.median(times), min(times), max(times)

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"RssAnon:\s+(\d+)", f.read()).group(1))

def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime + stime

def wrk(url, seconds=10):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c50", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    def percentile(label):
        m = re.search(label + r"%\s+([\d.]+)(us|ms|s)", out)
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return rps, percentile("50"), percentile("99"), total

def load(pid, url):
    before = cpu_ticks(pid)
    rps, p50, p99, total = wrk(url)
    cpu_us = (cpu_ticks(pid) - before) * (1_000_000 / os.sysconf("SC_CLK_TCK")) / total
    return rps, p50, p99, cpu_us

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--peer-dir", help="a copy of shared/bench/peer-ts with node_modules installed")
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/qd_bench")
    ap.add_argument("--rounds", type=int, default=3, help="alternated 10-second wrk rounds per server")
    ap.add_argument("--pause-services", action="store_true", help="freeze unused services during the wrk rounds")
    args = ap.parse_args()
    rows = []
    # The release profile keeps symbol names (for profiling); measure a stripped copy.
    with tempfile.TemporaryDirectory() as d:
        stripped = os.path.join(d, "quickdapp")
        shutil.copy(args.binary, stripped)
        subprocess.run(["strip", stripped], check=True)
        size = os.path.getsize(stripped)
    rows.append(("stripped release binary", f"{size / 1e6:.1f} MB"))
    with tempfile.TemporaryDirectory() as d:
        sqlite = f"sqlite://{d}/bench.db"
        med, lo, hi = cold_starts(args.binary, sqlite)
        rows.append(("cold start to /health/ready 200, SQLite (20 runs)", f"median {med:.1f} ms (min {lo:.1f}, max {hi:.1f})"))
        subprocess.run(["psql", args.postgres.rsplit("/", 1)[0] + "/postgres", "-qc", "DROP DATABASE IF EXISTS qd_bench"], check=False, capture_output=True)
        subprocess.run(["psql", args.postgres.rsplit("/", 1)[0] + "/postgres", "-qc", "CREATE DATABASE qd_bench"], check=True, capture_output=True)
        med, lo, hi = cold_starts(args.binary, args.postgres)
        rows.append(("cold start to /health/ready 200, PostgreSQL (20 runs)", f"median {med:.1f} ms (min {lo:.1f}, max {hi:.1f})"))

        port = free_port()
        p = start(args.binary, env_for(port, sqlite), d)
        wait_ready(f"http://127.0.0.1:{port}/health/ready")
        time.sleep(1)
        rows.append(("idle RSS, full app on SQLite", f"{rss_kb(p.pid) / 1024:.1f} MB ({rss_anon_kb(p.pid) / 1024:.1f} MB anonymous)"))
        peer = None
        if args.peer_dir:
            peer_port = 3199
            peer = subprocess.Popen(["taskset", "-c", "0", os.path.join(args.peer_dir, "node_modules/.bin/bun"), "elysia-hello.ts"],
                                    cwd=args.peer_dir, env={**os.environ, "PORT": str(peer_port)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            peer_url = f"http://127.0.0.1:{peer_port}/"
            wait_ready(peer_url)
        ours, theirs = [], []
        with paused(args.pause_services) as frozen:
            for _ in range(args.rounds):
                ours.append(load(p.pid, f"http://127.0.0.1:{port}/health"))
                if peer:
                    theirs.append(load(peer.pid, peer_url))
        def summarise(runs):
            med = lambda i: statistics.median(r[i] for r in runs)
            lo = min(r[0] for r in runs); hi = max(r[0] for r in runs)
            return f"{med(0):,.0f} req/s ({lo:,.0f}-{hi:,.0f}), p50 {med(1):.2f} ms, p99 {med(2):.2f} ms, {med(3):.1f} CPU-µs/req"
        load_what = f"GET /health, wrk -t1 -c50 -d10s, median of {args.rounds}" + (f", {frozen} unused service processes paused" if args.pause_services else "")
        rows.append((load_what, summarise(ours)))
        if peer:
            ratios = [(o[0] / t[0], o[2] / t[2]) for o, t in zip(ours, theirs)]
            rows.append(("per-round ratio to Elysia: req/s, p99", ", ".join(f"{r:.2f}x / {q:.2f}x" for r, q in ratios)
                         + f"; median {statistics.median(r for r, _ in ratios):.2f}x / {statistics.median(q for _, q in ratios):.2f}x"))
        rss_after = rss_kb(p.pid)
        if peer:
            rows.append(("Elysia hello-world (peer), same load and rounds", summarise(theirs)))
            rows.append(("Elysia RSS after the load", f"{rss_kb(peer.pid) / 1024:.1f} MB ({rss_anon_kb(peer.pid) / 1024:.1f} MB anonymous)"))
            peer.terminate(); peer.wait()
        rows.append(("quickdapp RSS after the load", f"{rss_after / 1024:.1f} MB"))
        p.terminate(); p.wait()
    print("| what | figure |\n|---|---|")
    for what, figure in rows:
        print(f"| {what} | {figure} |")

if __name__ == "__main__":
    main()
