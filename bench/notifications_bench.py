#!/usr/bin/env python3
"""Notifications benchmarks (issue #4), side by side with the seed's own stack.

Usage:
  bench/notifications_bench.py setup                 # databases, data, tokens (in STATE)
  bench/notifications_bench.py graphql [rounds] [rate]   # wrk + fixed-rate p99, ours vs peer
  bench/notifications_bench.py ws [connections] [rounds] [broadcasts] [--auth] [--only ours|bun]
  bench/notifications_bench.py teardown              # drop the databases

Env: QUICKDAPP (release binary; default $CARGO_TARGET_DIR/release/quickdapp), LOADGEN
(default $CARGO_TARGET_DIR/release/loadgen, built from bench/loadgen), PEER_DIR (a copy of
shared/bench/peer-ts with node_modules; default /tmp/peer-ts), STATE (scratch directory;
default /tmp/notif-bench), PEER_DB / OURS_DB (database names; default bench_peer /
bench_ours: set others when several people bench on one PostgreSQL), PERF_OUT (with `ws`:
`perf record -g` of the server during the broadcasts, to PERF_OUT.<side>).

Rules of ../shared/bench/README.md: servers pinned to core 0 (taskset -c 0), load generators
to core 1, rounds alternate ours and the peer, CPU-µs per operation from /proc/PID/stat
(utime + stime, all threads), RSS from /proc/PID/status. Only 127.0.0.1; every run bounded;
servers started here are stopped here.

Data: the peer's seed.sql (1,000 users, 100,000 notifications, user (g % 1000) + 1 gets
notification g) loaded into `bench_peer`; the same rows into ours (`bench_ours` on
PostgreSQL, a file on SQLite) through our migrations, with `seq` = (g - 1) / 1000 + 1 and one
session per user. Tokens: the peer's HS256 JWT (sub = 1, its secret) and ours minted with the
logic `crates/auth/src/tokens.rs` validates (key = SHA-256 of the purpose label + the
session key; iss, aud, sub, sid, typ, wallet, iat, exp), for a real session row.
"""
import base64, hashlib, hmac, json, os, queue, re, signal, socket, sqlite3, statistics, subprocess, sys, threading, time

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/quickdapp/target"))
BIN = os.environ.get("QUICKDAPP", f"{TARGET}/release/quickdapp")
LOADGEN = os.environ.get("LOADGEN", f"{TARGET}/release/loadgen")
PEER_DIR = os.environ.get("PEER_DIR", "/tmp/peer-ts")
STATE = os.environ.get("STATE", "/tmp/notif-bench")
PG = "postgres://postgres@127.0.0.1:5432"
PEER_DB = os.environ.get("PEER_DB", "bench_peer")
OURS_DB = os.environ.get("OURS_DB", "bench_ours")
KEY = "b7e1c4a9d2f8065e3a9c1d7f4b2e8a6c0d9f3e5b7a1c4d8e2f6a0b3c5d7e9f1a"
HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")
GQL_BODY = '{"query":"{ getMyNotifications(pageParam:{startIndex:0, perPage:20}) { total startIndex notifications { id userId data createdAt read } } }"}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(db, sql, check=True):
    return subprocess.run(["psql", f"{PG}/{db}", "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
                          check=check, capture_output=True, text=True).stdout.strip()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, secret):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def wallet(user):
    return "0x" + format(user, "040x")


def our_token(user, base_url):
    secret = hashlib.sha256(b"quickdapp/jwt-hs256/v1\0" + KEY.encode()).digest()
    now = int(time.time())
    return jwt({"iss": "quickdapp", "aud": base_url.rstrip("/"), "sub": str(user), "sid": f"bench-{user}",
                "typ": "access", "wallet": wallet(user), "iat": now, "exp": now + 6 * 3600}, secret)


def peer_token(user):
    now = int(time.time())
    return jwt({"sub": str(user), "iat": now, "exp": now + 6 * 3600}, KEY.encode())


# ---------------------------------------------------------------- processes and /proc

def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


def postgres_ticks():
    """utime + stime of each postgres process, by pid (the database's share of a request)."""
    ticks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            ticks[pid] = cpu_ticks(pid)
        except OSError:
            pass
    return ticks


def postgres_delta(before):
    """Ticks used since `before` by the postgres processes alive now (ones that exited in
    between are not counted; new ones count whole)."""
    return sum(t - before.get(pid, 0) for pid, t in postgres_ticks().items())


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"RssAnon:\s+(\d+)", f.read()).group(1))


def sockstat_mem_pages():
    with open("/proc/net/sockstat") as f:
        return int(re.search(r"TCP:.* mem (\d+)", f.read()).group(1))


def wait_http(url, deadline_s=30.0):
    import urllib.request
    start = time.time()
    while time.time() - start < deadline_s:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status < 500:
                    return
        except Exception as e:  # 4xx still means it is up
            if hasattr(e, "code") and e.code < 500:
                return
            time.sleep(0.05)
    raise SystemExit(f"{url} never answered")


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    def __init__(self, name, argv, env, cwd, ready_url):
        self.name = name
        self.proc = subprocess.Popen(["taskset", "-c", "0", *argv], env=env, cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=open(f"{STATE}/{name}.log", "ab"),
                                     preexec_fn=raise_nofile)
        wait_http(ready_url)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def our_env(db_url, port, extra=None):
    env = {"PATH": os.environ["PATH"], "APP_MODE": "production", "HOST": "127.0.0.1", "PORT": str(port),
           "BASE_URL": f"http://127.0.0.1:{port}", "SESSION_ENCRYPTION_KEY": KEY, "DATABASE_URL": db_url,
           "WORKER_COUNT": "0", "LOG_LEVEL": "warn", "AUTH_RATE_LIMIT": "0",
           "WS_MAX_CONNECTIONS": "20000", "WS_MAX_CONNECTIONS_PER_USER": "64"}
    env.update(extra or {})
    return env


def start_ours(name, db_url, extra=None):
    port = free_port()
    os.makedirs(f"{STATE}/cwd", exist_ok=True)
    server = Server(name, [BIN, "serve"], our_env(db_url, port, extra), f"{STATE}/cwd",
                    f"http://127.0.0.1:{port}/health/ready")
    server.port = port
    return server


def start_peer(script, port=None, db=True):
    port = port or free_port()
    env = {**os.environ, "PORT": str(port), "SESSION_ENCRYPTION_KEY": KEY}
    if db:
        env["DATABASE_URL"] = f"{PG}/{PEER_DB}"
    url = f"http://127.0.0.1:{port}/health" if db else f"http://127.0.0.1:{port}/"
    server = Server(f"peer-{script}", [f"{PEER_DIR}/node_modules/.bin/bun", script], env, PEER_DIR, url)
    server.port = port
    return server


def sqlite_url():
    return f"sqlite://{STATE}/ours.db"


# ---------------------------------------------------------------- setup

def setup():
    os.makedirs(f"{STATE}/cwd", exist_ok=True)
    for db in (PEER_DB, OURS_DB):
        psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        psql("postgres", f"CREATE DATABASE {db}")
    subprocess.run(["psql", f"{PG}/{PEER_DB}", "-v", "ON_ERROR_STOP=1", "-qf", f"{PEER_DIR}/seed.sql"],
                   check=True, capture_output=True)
    migrate = lambda url: subprocess.run([BIN, "migrate"], env=our_env(url, 3999), cwd=f"{STATE}/cwd",
                                         check=True, capture_output=True)
    migrate(f"{PG}/{OURS_DB}")
    psql(OURS_DB, """
        INSERT INTO users (id, wallet) SELECT g, '0x' || lpad(to_hex(g), 40, '0') FROM generate_series(1, 1000) g;
        SELECT setval(pg_get_serial_sequence('users', 'id'), 1000);
        INSERT INTO notifications (id, user_id, seq, data, read)
          SELECT g, (g % 1000) + 1, (g - 1) / 1000 + 1, jsonb_build_object('message', 'notification ' || g), g % 3 = 0
          FROM generate_series(1, 100000) g;
        SELECT setval(pg_get_serial_sequence('notifications', 'id'), 100000);
        INSERT INTO auth_sessions (id, user_id, created_at, expires_at)
          SELECT 'bench-' || g, g, now(), now() + interval '1 day' FROM generate_series(1, 1000) g;
        ANALYZE;""")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{STATE}/ours.db{suffix}"):
            os.remove(f"{STATE}/ours.db{suffix}")
    migrate(sqlite_url() + "?mode=rwc")
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    later = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 86400))
    con = sqlite3.connect(f"{STATE}/ours.db")
    con.executemany("INSERT INTO users (id, wallet) VALUES (?, ?)", [(u, wallet(u)) for u in range(1, 1001)])
    con.executemany(
        "INSERT INTO notifications (id, user_id, seq, data, read, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(g, g % 1000 + 1, (g - 1) // 1000 + 1, json.dumps({"message": f"notification {g}"}), int(g % 3 == 0), now, now)
         for g in range(1, 100001)])
    con.executemany("INSERT INTO auth_sessions (id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                    [(f"bench-{u}", u, now, later) for u in range(1, 1001)])
    con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()
    # The same steady state on both sides (what autovacuum reaches by itself): visibility map
    # set, so counts are index-only scans.
    for db in (PEER_DB, OURS_DB):
        psql(db, "VACUUM ANALYZE")
    counts = psql(OURS_DB, "SELECT count(*), count(DISTINCT user_id), max(seq) FROM notifications")
    print(f"setup done: ours (PostgreSQL) notifications/users/max seq = {counts}; peer = "
          f"{psql(PEER_DB, 'SELECT count(*) FROM notifications')}")


def teardown():
    for db in (PEER_DB, OURS_DB):
        psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", check=False)
    print("databases dropped")


# ---------------------------------------------------------------- GraphQL

def wrk(port, token, seconds=10, connections=50):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", f"{PEER_DIR}/gql.lua", f"http://127.0.0.1:{port}/api/graphql"],
                         env={**os.environ, "TOKEN": token}, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"port {port}: {non2xx.group(1)} failed requests\n{out}")
    def pct(p):
        m = re.search(rf"{p}%\s+([\d.]+)(us|ms|s)\b", out)
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return {"rps": rps, "total": total, "p50": pct(50), "p99": pct(99)}


def loaded(server, run):
    """Runs `run()` and adds the server's and PostgreSQL's CPU-µs per request."""
    before, pg_before = cpu_ticks(server.pid), postgres_ticks()
    result = run()
    result["cpu_us"] = (cpu_ticks(server.pid) - before) * 1e6 / TICK / max(result["total"], 1)
    result["pg_cpu_us"] = postgres_delta(pg_before) * 1e6 / TICK / max(result["total"], 1)
    return result


def fixed_rate(port, token, rate, seconds=10, connections=50):
    with open(f"{STATE}/gql-body.json", "w") as f:
        f.write(GQL_BODY)
    out = subprocess.run(["taskset", "-c", "1", LOADGEN, "rate", f"127.0.0.1:{port}", "/api/graphql",
                          f"{STATE}/gql-body.json", token, str(rate), str(seconds), str(connections)],
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    r["total"] = r["ok"]
    if r["errors"]:
        raise SystemExit(f"port {port}: {r['errors']} errors at {rate}/s")
    return r


def check_answer(port, token, expect_total=100):
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/graphql", data=GQL_BODY.encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = json.loads(r.read())
    page = body["data"]["getMyNotifications"]
    assert page["total"] == expect_total and len(page["notifications"]) == 20, body
    return page["notifications"][0]["id"]


def med(values):
    return statistics.median(values), min(values), max(values)


def graphql(rounds=3, rate=None):
    peer = start_peer("server.ts")
    ours_pg = start_ours("ours-pg", f"{PG}/{OURS_DB}")
    ours_lite = start_ours("ours-sqlite", sqlite_url())
    sides = {
        "peer (Bun+yoga+Drizzle, PostgreSQL)": (peer, peer_token(1)),
        "ours, PostgreSQL": (ours_pg, our_token(1, f"http://127.0.0.1:{ours_pg.port}")),
        "ours, SQLite": (ours_lite, our_token(1, f"http://127.0.0.1:{ours_lite.port}")),
    }
    try:
        for name, (server, token) in sides.items():
            newest = check_answer(server.port, token)
            print(f"{name}: answers 20 of 100, newest id {newest}", flush=True)
            wrk(server.port, token, seconds=3)  # warm-up
        results = {name: [] for name in sides}
        for r in range(rounds):
            for name, (server, token) in sides.items():
                res = loaded(server, lambda: wrk(server.port, token))
                results[name].append(res)
                print(f"round {r + 1} wrk {name}: {json.dumps(res)}", flush=True)
        print("\n| wrk -t1 -c50 -d10s, gql.lua | req/s | p50 ms | p99 ms | server CPU-µs/req | PostgreSQL CPU-µs/req |")
        print("|---|---|---|---|---|---|")
        for name, runs in results.items():
            cells = [fmt_spread([x[k] for x in runs], d) for k, d in
                     (("rps", 0), ("p50", 2), ("p99", 2), ("cpu_us", 1), ("pg_cpu_us", 1))]
            print(f"| {name} | " + " | ".join(cells) + " |")
        peer_rps = statistics.median(x["rps"] for x in results["peer (Bun+yoga+Drizzle, PostgreSQL)"])
        rate = rate or int(peer_rps * 0.7 // 50 * 50)
        fixed = {name: [] for name in sides}
        for r in range(rounds):
            for name, (server, token) in sides.items():
                res = loaded(server, lambda: fixed_rate(server.port, token, rate))
                fixed[name].append(res)
                print(f"round {r + 1} fixed {rate}/s {name}: {json.dumps(res)}", flush=True)
        print(f"\n| fixed rate {rate}/s (70% of the peer's wrk rate), 50 connections, 10 s | achieved/s | p50 ms | p99 ms | p99.9 ms | server CPU-µs/req |")
        print("|---|---|---|---|---|---|")
        for name, runs in fixed.items():
            cells = [fmt_spread([x[k] for x in runs], d) for k, d in
                     (("achieved_rate", 0), ("p50_ms", 2), ("p99_ms", 2), ("p999_ms", 2), ("cpu_us", 1))]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print(f"\nRSS after load: " + ", ".join(f"{n}: {rss_kb(s.pid) / 1024:.1f} MB" for n, (s, _) in sides.items()))
    finally:
        for server, _ in sides.values():
            server.stop()


def fmt_spread(values, digits):
    m, lo, hi = med(values)
    f = f"{{:,.{digits}f}}"
    return f"{f.format(m)} ({f.format(lo)}-{f.format(hi)})"


# ---------------------------------------------------------------- WebSocket

class Clients:
    """`loadgen ws` processes on core 1, each holding its share of the connections."""

    def __init__(self, url, total, processes, tokens_file=None):
        self.procs, self.lines = [], queue.Queue()
        share = [total // processes + (1 if i < total % processes else 0) for i in range(processes)]
        for i, n in enumerate(share):
            argv = ["taskset", "-c", "1", LOADGEN, "ws", url, str(n)] + ([tokens_file] if tokens_file else [])
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 preexec_fn=raise_nofile)
            threading.Thread(target=self._read, args=(i, p), daemon=True).start()
            self.procs.append(p)
        self.ok = 0
        for _ in self.procs:
            i, line = self.lines.get(timeout=300)
            _, ok, failed = line.split()
            self.ok += int(ok)
            if int(failed):
                print(f"client {i}: {failed} connections failed", flush=True)

    def _read(self, i, p):
        for line in p.stdout:
            self.lines.put((i, line.strip()))

    def send(self, round_):
        self.procs[0].stdin.write(f"send {round_}\n")
        self.procs[0].stdin.flush()

    def collect(self, round_, timeout=20.0):
        latencies, got, deadline = [], 0, time.time() + timeout
        while got < len(self.procs):
            try:
                i, line = self.lines.get(timeout=max(deadline - time.time(), 0.01))
            except queue.Empty:
                break
            parts = line.split()
            if parts[0] != "round" or int(parts[1]) != round_:
                continue
            got += 1
            if len(parts) > 3:
                latencies += [int(x) for x in parts[3].split(",")]
        return latencies

    def stop(self):
        for p in self.procs:
            try:
                p.stdin.write("quit\n")
                p.stdin.close()
            except OSError:
                pass
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(max(int(-(-len(sorted_values) * p // 1)), 1), len(sorted_values)) - 1
    return sorted_values[i]


def ws_side(side, n, broadcasts, auth, processes=2):
    tokens_file = None
    if side == "ours":
        server = start_ours("ours-ws", f"{PG}/{OURS_DB}")
        url = f"ws://127.0.0.1:{server.port}/api/ws"
        if auth:
            tokens_file = f"{STATE}/tokens.txt"
            with open(tokens_file, "w") as f:
                for u in range(1, 1001):
                    f.write(our_token(u, f"http://127.0.0.1:{server.port}") + "\n")
        notify = subprocess.Popen(["taskset", "-c", "1", "psql", f"{PG}/{OURS_DB}", "-Atq"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    else:
        server = start_peer("bun-ws.ts", db=False)
        url = f"ws://127.0.0.1:{server.port}/"
        notify = None
    clients = None
    try:
        time.sleep(1.0)
        # Ten connections opened and closed first, on both servers: the code that serves a
        # connection is then mapped already, so the per-connection figure is what each of the
        # n connections holds, not the one-time mapping of that code spread over them.
        Clients(url, 10, 1, tokens_file).stop()
        time.sleep(0.5)
        rss0, anon0, sock0 = rss_kb(server.pid), rss_anon_kb(server.pid), sockstat_mem_pages()
        t0 = time.time()
        clients = Clients(url, n, processes, tokens_file)
        connect_s = time.time() - t0
        time.sleep(3.0)  # past the 1 s resume hold of authenticated sockets; let allocations settle
        rss1, anon1, sock1 = rss_kb(server.pid), rss_anon_kb(server.pid), sockstat_mem_pages()
        idle = {"connections": clients.ok, "connect_s": connect_s, "rss_before_mb": rss0 / 1024,
                "rss_after_mb": rss1 / 1024, "kb_per_conn": (rss1 - rss0) / max(clients.ok, 1),
                "anon_kb_per_conn": (anon1 - anon0) / max(clients.ok, 1),
                "sockstat_mem_pages_delta": sock1 - sock0}
        rounds, cpu_ticks_total = [], 0
        perf = None
        if os.environ.get("PERF_OUT"):  # profile the server during the broadcasts
            perf = subprocess.Popen(["perf", "record", "-g", "-p", str(server.pid), "-o",
                                     f"{os.environ['PERF_OUT']}.{side}"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        for i in range(1, broadcasts + 1):
            before = cpu_ticks(server.pid)
            if notify:
                payload = ("json_build_object('topic', 'realtime.message', 'payload', json_build_object('room', NULL, "
                           f"'type', 'bench', 'data', json_build_object('i', {i}, 't', "
                           "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint)))::text")
                notify.stdin.write(f"SELECT pg_notify('quickdapp_events', {payload});\n")
                notify.stdin.flush()
            else:
                clients.send(i)
            lat = sorted(clients.collect(i))
            cpu_ticks_total += cpu_ticks(server.pid) - before
            rounds.append({"got": len(lat), "p50_ms": pct(lat, 0.5) / 1000, "p99_ms": pct(lat, 0.99) / 1000,
                           "max_ms": (lat[-1] / 1000) if lat else float("nan")})
            time.sleep(0.3)
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(30)
        rss2 = rss_kb(server.pid)
        return {"idle": idle, "rounds": rounds,
                "cpu_ms_per_broadcast": cpu_ticks_total * 1000 / TICK / broadcasts,
                "rss_after_broadcasts_mb": rss2 / 1024}
    finally:
        if clients:
            clients.stop()
        if notify:
            notify.stdin.close()
            notify.wait(10)
        server.stop()


def ws(n=10000, rounds=3, broadcasts=20, auth=False, only=None):
    sides = [s for s in ("bun", "ours") if only in (None, s)]
    results = {s: [] for s in sides}
    for r in range(rounds):
        for side in sides:
            res = ws_side(side, n, broadcasts, auth)
            results[side].append(res)
            summary = {**res["idle"], "cpu_ms_per_broadcast": res["cpu_ms_per_broadcast"],
                       "p50_ms_med": statistics.median(x["p50_ms"] for x in res["rounds"]),
                       "p99_ms_med": statistics.median(x["p99_ms"] for x in res["rounds"]),
                       "min_got": min(x["got"] for x in res["rounds"]),
                       "rss_after_broadcasts_mb": res["rss_after_broadcasts_mb"]}
            print(f"round {r + 1} {side}{' (authenticated)' if auth and side == 'ours' else ''}: {json.dumps(summary)}", flush=True)
    label = {"bun": "bun-ws.ts (Bun.serve)", "ours": "ours /api/ws" + (" (authenticated)" if auth else " (anonymous)")}
    print(f"\n| {n:,} WebSocket connections | idle KB/conn (RSS) | of it anonymous | sockstat mem delta (pages) | broadcast p50 ms | broadcast p99 ms | server CPU-ms/broadcast |")
    print("|---|---|---|---|---|---|---|")
    for side, runs in results.items():
        cells = [fmt_spread([x["idle"]["kb_per_conn"] for x in runs], 2),
                 fmt_spread([x["idle"]["anon_kb_per_conn"] for x in runs], 2),
                 fmt_spread([x["idle"]["sockstat_mem_pages_delta"] for x in runs], 0),
                 fmt_spread([statistics.median(y["p50_ms"] for y in x["rounds"]) for x in runs], 2),
                 fmt_spread([statistics.median(y["p99_ms"] for y in x["rounds"]) for x in runs], 2),
                 fmt_spread([x["cpu_ms_per_broadcast"] for x in runs], 1)]
        print(f"| {label[side]} | " + " | ".join(cells) + " |")


def main():
    raise_nofile()
    os.makedirs(STATE, exist_ok=True)
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    cmd, rest = args[0], [a for a in args[1:] if not a.startswith("--")]
    if cmd == "setup":
        setup()
    elif cmd == "teardown":
        teardown()
    elif cmd == "graphql":
        graphql(int(rest[0]) if rest else 3, int(rest[1]) if len(rest) > 1 else None)
    elif cmd == "ws":
        only = None
        if "--only" in args:
            only = args[args.index("--only") + 1]
            rest = [a for a in rest if a != only]
        ws(int(rest[0]) if rest else 10000, int(rest[1]) if len(rest) > 1 else 3,
           int(rest[2]) if len(rest) > 2 else 20, auth="--auth" in args, only=only)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
