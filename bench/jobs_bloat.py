#!/usr/bin/env python3
"""Bloat check (awa / River style) on PostgreSQL: continuous enqueue and dequeue for a fixed
time at a fixed rate, with finished jobs deleted every 10 s (what `removeOldWorkerJobs` does,
more often). Every 30 s it prints the enqueue-to-start latency of that window (p50/p99, from
the rows), the queue's dead tuples, its table + index size, and autovacuum runs; drift shows
as latency or size growing over the run.

Usage: bench/jobs_bloat.py SECONDS RATE_PER_SECOND     (e.g. 1800 500 for 30 minutes)
Only 127.0.0.1; bounded by SECONDS; stops its server.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobs_bench import BIN, Database, env, psql, quickdapp  # noqa: E402


def main(seconds, rate):
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
        while time.monotonic() - start < seconds:
            t = time.time_ns() // 1000
            values = ", ".join(
                f"('diagnostics.echo', 0, '{{\"t\": {t}}}', now(), now())" for _ in range(per_tick)
            )
            feeder.stdin.write(
                f"INSERT INTO worker_jobs (type, user_id, data, due, remove_at) VALUES {values}; "
                "SELECT pg_notify('worker_jobs', '');\n"
            )
            if time.monotonic() >= next_cleanup:
                feeder.stdin.write(
                    "DELETE FROM worker_jobs WHERE finished IS NOT NULL AND remove_at <= now();\n"
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
    main(int(sys.argv[1]), int(sys.argv[2]))
