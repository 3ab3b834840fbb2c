#!/usr/bin/env python3
"""Bloat check (awa / River style) on PostgreSQL: continuous enqueue and dequeue for a fixed
time at a fixed rate, with finished jobs deleted every 10 s once 40 s old (what
`removeOldWorkerJobs` does, more often; kept long enough for each 30 s report to read them). Every 30 s it prints the enqueue-to-start latency of that window (p50/p99, from
the rows), the queue's dead tuples, its table + index size, and autovacuum runs; drift shows
as latency or size growing over the run.

Usage: bench/jobs_bloat.py SECONDS RATE_PER_SECOND [--own-cluster]   (e.g. 1800 500)
`--own-cluster` runs it on a PostgreSQL cluster of its own (initdb in a temporary directory,
default settings, so autovacuum on), started on a free port on 127.0.0.1 and removed at the
end: a shared cluster with autovacuum off (as on the development machine) makes dead tuples
grow whatever the queue does. Each enqueue stamps its job with the database's clock inside the
INSERT, so a feeder that falls behind is not counted as latency. Only 127.0.0.1; bounded by
SECONDS; stops its server and its cluster.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jobs_bench  # noqa: E402
from jobs_bench import BIN, Database, env, free_port, psql, quickdapp  # noqa: E402


class OwnCluster:
    """A throwaway PostgreSQL cluster with default settings, owned by the `postgres` user."""

    def __init__(self):
        bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        self.pg_ctl = os.path.join(bindir, "pg_ctl")
        self.dir = tempfile.mkdtemp(prefix="qd-bloat-")
        shutil.chown(self.dir, "postgres")
        self.port = free_port()
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.as_postgres = as_postgres
        subprocess.run([*as_postgres, os.path.join(bindir, "initdb"), "-D", self.dir + "/data",
                        "-U", "postgres", "--auth=trust"], check=True, capture_output=True)
        subprocess.run([*as_postgres, self.pg_ctl, "-D", self.dir + "/data", "-w", "-l", self.dir + "/log",
                        "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True)
        self.admin = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self):
        subprocess.run([*self.as_postgres, self.pg_ctl, "-D", self.dir + "/data", "-m", "fast", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def main(seconds, rate, own_cluster):
    cluster = OwnCluster() if own_cluster else None
    if cluster:
        jobs_bench.PG_ADMIN = cluster.admin
        print(json.dumps({"cluster": cluster.admin, "autovacuum": psql(cluster.admin, "SHOW autovacuum")}), flush=True)
    else:
        print(json.dumps({"autovacuum": psql(jobs_bench.PG_ADMIN, "SHOW autovacuum")}), flush=True)
    try:
        run(seconds, rate)
    finally:
        if cluster:
            cluster.stop()


def run(seconds, rate):
    db = Database("postgres")
    try:
        quickdapp(db, ["migrate"])
        server = subprocess.Popen(
            ["taskset", "-c", "0", BIN, "serve"],
            env=env(db, {"WORKER_COUNT": "1", "JOB_CONCURRENCY": "64"}),
            stdout=subprocess.DEVNULL,
        )
        time.sleep(1.0)
        feeder = subprocess.Popen(
            ["taskset", "-c", "1", "psql", db.url, "-Atq"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        per_tick = max(1, rate // 100)
        start = time.monotonic()
        next_tick = start
        next_cleanup = start + 10
        next_report = start + 30
        window_from = time.time_ns() // 1000
        # The enqueue time is the database's clock inside the INSERT; the INSERT and its NOTIFY
        # are one statement (one commit), as `schedule_job` does.
        stamp = "json_build_object('t', (extract(epoch from clock_timestamp()) * 1000000)::bigint)"
        values = ", ".join(f"('diagnostics.echo', 0, {stamp}, now(), now())" for _ in range(per_tick))
        enqueue = (
            f"WITH added AS (INSERT INTO worker_jobs (type, user_id, data, due, remove_at) VALUES {values} "
            "RETURNING id) SELECT pg_notify('worker_jobs', '') FROM (SELECT 1 FROM added LIMIT 1) x;\n"
        )
        while time.monotonic() - start < seconds:
            feeder.stdin.write(enqueue)
            if time.monotonic() >= next_cleanup:
                feeder.stdin.write(
                    "DELETE FROM worker_jobs WHERE finished IS NOT NULL AND remove_at <= now() - interval '40 seconds';\n"
                )
                next_cleanup += 10
            feeder.stdin.flush()
            if time.monotonic() >= next_report:
                now_us = time.time_ns() // 1000
                lat = psql(
                    db.url,
                    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l), "
                    "percentile_cont(0.99) WITHIN GROUP (ORDER BY l), count(*) FROM ("
                    "SELECT ((result->>'startedAtMicros')::bigint - (data->>'t')::bigint) / 1000.0 AS l "
                    f"FROM worker_jobs WHERE finished IS NOT NULL AND (data->>'t')::bigint BETWEEN {window_from} AND {now_us}) x",
                ).split("|")
                stats = psql(
                    db.url,
                    "SELECT n_dead_tup, n_live_tup, autovacuum_count, "
                    "pg_total_relation_size('worker_jobs') FROM pg_stat_user_tables WHERE relname = 'worker_jobs'",
                ).split("|")
                pending = psql(db.url, "SELECT count(*) FROM worker_jobs WHERE finished IS NULL")
                print(
                    json.dumps(
                        {
                            "elapsed_s": round(time.monotonic() - start),
                            "p50_ms": round(float(lat[0] or 0), 2),
                            "p99_ms": round(float(lat[1] or 0), 2),
                            "jobs": int(lat[2]),
                            "dead_tuples": int(stats[0]),
                            "live_tuples": int(stats[1]),
                            "autovacuums": int(stats[2]),
                            "table_and_indexes_kb": int(stats[3]) // 1024,
                            "unfinished": int(pending),
                        }
                    ),
                    flush=True,
                )
                window_from = now_us
                next_report += 30
            next_tick += 0.01
            time.sleep(max(0.0, next_tick - time.monotonic()))
        feeder.stdin.close()
        feeder.wait()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        db.drop()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), "--own-cluster" in sys.argv[3:])
