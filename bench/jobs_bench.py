#!/usr/bin/env python3
"""Job queue benchmark: end-to-end no-op throughput and enqueue-to-start latency of the real
`quickdapp` binary (parent + worker processes), on PostgreSQL or SQLite.

Throughput: N `diagnostics.noop` jobs are enqueued first (`quickdapp jobs enqueue --count`),
then `quickdapp serve` starts pinned to core 0 (its worker processes inherit the pinning) and
runs them; the rate is N / (last finish - first start) from the rows, and also N / wall time
including the workers' start (graphile-worker's perf script reports the latter). CPU-µs per
job is the server's utime + stime (parent and workers, from /proc just before it stops;
the whole run including start) divided by N.

Latency (PostgreSQL): with the server idle, the `latency` example of the jobs crate (release
build, `LATENCY`, pinned to core 1) enqueues one `diagnostics.echo` job every 10 ms with
`jobs::enqueue`, as a web process does, and the server's worker process runs it: three
processes (enqueuer, PostgreSQL, worker). It prints the latency from just before the enqueue to
the handler's start, and its parts (the enqueue with its commit; commit-to-start).

Latency through psql (`latency-psql`): with the server idle, this script inserts one
`diagnostics.echo` job at a time through psql (the INSERT and its NOTIFY in one statement, one commit, as `schedule_job`
does; the next 10 ms after psql answered) and compares the enqueue time it put in the job's
data with the handler's start time in the result: across processes. It also reports the
enqueue's commit alone (until psql answered) and the rest, from that answer to the start
(commit-to-start: the wake-up, the claim and the spawn; the notification and psql's answer
leave PostgreSQL at the same moment).

Usage: bench/jobs_bench.py throughput postgres|sqlite N [ack_batch] [workers] [concurrency] [prefetch]
       bench/jobs_bench.py latency|latency-psql postgres [samples]
Only 127.0.0.1; every run is bounded and stops its server.
"""

import contextlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get(
    "QUICKDAPP", os.path.join(os.environ.get("CARGO_TARGET_DIR", ROOT + "/target"), "release/quickdapp")
)
LATENCY = os.environ.get(
    "LATENCY",
    os.path.join(os.environ.get("CARGO_TARGET_DIR", ROOT + "/target"), "release/examples/latency"),
)
PG_ADMIN = os.environ.get("PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
KEY = "bench-session-key-0123456789abcdef0123456789abcdef"
# Pin the server (and so its worker processes) to core 0; PIN=0 to let it use both cores.
PIN = os.environ.get("PIN", "1") != "0"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql):
    return subprocess.run(
        ["psql", url, "-Atqc", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


class Database:
    def __init__(self, backend):
        self.backend = backend
        if backend == "postgres":
            self.name = "qd_bench_" + uuid.uuid4().hex[:12]
            psql(PG_ADMIN, f"CREATE DATABASE {self.name}")
            self.url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.name
        else:
            self.dir = tempfile.TemporaryDirectory()
            self.path = os.path.join(self.dir.name, "bench.db")
            self.url = "sqlite://" + self.path

    def query(self, sql):
        if self.backend == "postgres":
            return psql(self.url, sql)
        with sqlite3.connect(self.path, timeout=30) as conn:
            row = conn.execute(sql).fetchone()
            return "|".join("" if v is None else str(v) for v in row)

    def session(self):
        """A connection kept open for repeated queries (`Session.query`)."""
        return Session(self)

    def drop(self):
        if self.backend == "postgres":
            psql(PG_ADMIN, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


class Session:
    """One psql kept open on core 1, for polling: a psql process and a PostgreSQL backend
    started per poll (every 10 ms) cost several ms of CPU each on the core PostgreSQL runs on,
    which the server under test then lacked. On SQLite, one connection."""

    def __init__(self, db):
        self.db = db
        if db.backend == "postgres":
            self.psql = subprocess.Popen(
                ["taskset", "-c", "1", "psql", db.url, "-Atq"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        else:
            self.conn = sqlite3.connect(db.path, timeout=30)

    def query(self, sql):
        """The first column of the first row (one-row queries only)."""
        if self.db.backend == "postgres":
            self.psql.stdin.write(sql.rstrip(";") + ";\n")
            self.psql.stdin.flush()
            return self.psql.stdout.readline().strip()
        row = self.conn.execute(sql).fetchone()
        return "" if row[0] is None else str(row[0])

    def close(self):
        if self.db.backend == "postgres":
            self.psql.stdin.close()
            self.psql.wait()
        else:
            self.conn.close()


def env(db, extra):
    e = {
        "PATH": os.environ["PATH"],
        "APP_MODE": "production",
        "SESSION_ENCRYPTION_KEY": "9f2c4e7a1b3d5f60817263a4b5c6d7e8f90a1b2c3d4e5f60",
        "DATABASE_URL": db.url,
        "LOG_LEVEL": "warn",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
    }
    e.update(extra)
    return e


def quickdapp(db, args, extra=None):
    return subprocess.run(
        [BIN, *args], env=env(db, extra or {}), check=True, capture_output=True, text=True
    ).stdout


def tree_cpu_seconds(pid):
    """utime + stime of `pid` and its live children, from /proc (before they exit)."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    # Each thread lists the children it spawned.
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / ticks


def seconds_between(db, first, last):
    if db.backend == "postgres":
        return float(db.query(f"SELECT EXTRACT(EPOCH FROM ({last}) - ({first}))"))
    value = db.query(f"SELECT (julianday({last}) - julianday({first})) * 86400.0")
    return float(value)


def throughput(backend, n, ack_batch="256", workers="1", concurrency="64", prefetch="0"):
    db = Database(backend)
    try:
        quickdapp(db, ["migrate"])
        quickdapp(db, ["jobs", "enqueue", "diagnostics.noop", "--count", str(n)])
        started = time.monotonic()
        server = subprocess.Popen(
            ["taskset", "-c", "0", BIN, "serve"] if PIN else [BIN, "serve"],
            env=env(
                db,
                {
                    "WORKER_COUNT": workers,
                    "JOB_CONCURRENCY": concurrency,
                    "JOB_ACK_BATCH": ack_batch,
                    "JOB_PREFETCH": prefetch,
                    "JOB_POLL_INTERVAL": "1s",
                },
            ),
            stdout=subprocess.DEVNULL,
        )
        deadline = started + 600
        poll = db.session()
        while True:
            left = int(poll.query("SELECT COUNT(*) FROM worker_jobs WHERE finished IS NULL AND type = 'diagnostics.noop'"))
            if left == 0:
                break
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"not finished: {left} left")
            time.sleep(0.01)
        wall = time.monotonic() - started
        poll.close()
        cpu = tree_cpu_seconds(server.pid)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        span = seconds_between(
            db,
            "(SELECT MIN(started) FROM worker_jobs WHERE type = 'diagnostics.noop')",
            "(SELECT MAX(finished) FROM worker_jobs WHERE type = 'diagnostics.noop')",
        )
        ok = int(db.query("SELECT COUNT(*) FROM worker_jobs WHERE type = 'diagnostics.noop' AND success"))
        assert ok == n, f"{ok} of {n} succeeded"
        print(
            json.dumps(
                {
                    "backend": backend,
                    "jobs": n,
                    "ack_batch": int(ack_batch),
                    "workers": int(workers),
                    "concurrency": int(concurrency),
                    "prefetch": int(prefetch),
                    "jobs_per_s": round(n / span),
                    "jobs_per_s_incl_start": round(n / wall),
                    "cpu_us_per_job": round(cpu * 1e6 / n, 1),
                }
            ),
            flush=True,
        )
    finally:
        db.drop()


@contextlib.contextmanager
def idle_server(backend):
    """A new database served by `quickdapp serve` on core 0 with one worker, migrated, started
    and gone idle; yields the database. The server is stopped (SIGTERM, then waited for) and
    the database dropped when the block ends, also when it failed."""
    db = Database(backend)
    try:
        with serving(db):
            yield db
    finally:
        db.drop()


@contextlib.contextmanager
def serving(db):
    quickdapp(db, ["migrate"])
    server = subprocess.Popen(
        ["taskset", "-c", "0", BIN, "serve"],
        env=env(db, {"WORKER_COUNT": "1", "JOB_POLL_INTERVAL": "10s"}),
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)  # let the worker start and go idle before measuring
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def latency(backend, samples=300):
    assert backend == "postgres", "cross-process latency is measured on PostgreSQL"
    with idle_server(backend) as db:
        feeder = subprocess.Popen(
            ["taskset", "-c", "1", "psql", db.url, "-Atq"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        # One job at a time: the INSERT and its NOTIFY in one statement (one commit, as
        # `schedule_job` does), then wait for psql's answer (the commit) before the next, so a
        # slow commit delays the next sample instead of queueing behind it.
        committed = {}
        for _ in range(samples):
            t = time.time_ns() // 1000
            feeder.stdin.write(
                "WITH j AS (INSERT INTO worker_jobs (type, user_id, data, due, remove_at, idempotency_key) "
                f"VALUES ('diagnostics.echo', 0, '{{\"t\": {t}}}', now(), now() + interval '1 day', NULL) "
                "RETURNING id) SELECT j.id, pg_notify('worker_jobs', '') FROM j;\n"
            )
            feeder.stdin.flush()
            job_id = int(feeder.stdout.readline().split("|")[0])
            committed[job_id] = time.time_ns() // 1000
            time.sleep(0.01)
        feeder.stdin.close()
        feeder.wait()
        deadline = time.monotonic() + 30
        while int(db.query("SELECT COUNT(*) FROM worker_jobs WHERE finished IS NULL AND type = 'diagnostics.echo'")) > 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        rows = [
            line.split("|")
            for line in psql(
                db.url,
                "SELECT id, (data->>'t')::bigint, (result->>'startedAtMicros')::bigint FROM worker_jobs "
                "WHERE type = 'diagnostics.echo' ORDER BY id",
            ).split()
        ]
    lat = sorted((int(started) - int(t)) / 1000.0 for _, t, started in rows)
    # The enqueue's own commit (psql's answer came back) and, from its end, the rest.
    commit = sorted((committed[int(i)] - int(t)) / 1000.0 for i, t, _ in rows)
    after = sorted((int(started) - committed[int(i)]) / 1000.0 for i, _, started in rows)
    q = lambda xs, p: round(xs[min(len(xs) - 1, int(p * (len(xs) - 1)))], 3)
    print(
        json.dumps(
            {
                "backend": backend,
                "samples": len(lat),
                "p50_ms": q(lat, 0.5),
                "p90_ms": q(lat, 0.9),
                "p99_ms": q(lat, 0.99),
                "max_ms": q(lat, 1.0),
                "mean_ms": round(statistics.mean(lat), 3),
                "enqueue_commit_p50_ms": q(commit, 0.5),
                "commit_to_start_p50_ms": q(after, 0.5),
                "commit_to_start_p90_ms": q(after, 0.9),
            }
        ),
        flush=True,
    )


def latency_rust(backend, samples=300):
    """Enqueues from a Rust process (`jobs::enqueue`), runs in the server's worker process."""
    assert backend == "postgres", "across processes is measured on PostgreSQL"
    with idle_server(backend) as db:
        out = subprocess.run(
            ["taskset", "-c", "1", LATENCY, backend, str(samples)],
            env={**os.environ, "LATENCY_DATABASE_URL": db.url},
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout.strip().splitlines()[-1]
    print(json.dumps({"across": "enqueuer, PostgreSQL, worker", **json.loads(out)}), flush=True)


if __name__ == "__main__":
    what, backend, *rest = sys.argv[1:]
    if what == "throughput":
        throughput(backend, int(rest[0]), *rest[1:])
    elif what == "latency":
        latency_rust(backend, *(int(x) for x in rest))
    else:
        latency(backend, *(int(x) for x in rest))
