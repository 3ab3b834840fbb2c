#!/usr/bin/env python3
"""Where a server's slowest answers come from under `wrk -t1 -c50`-like load: stall episodes
in which every connection waits, and what ran on each core during them.

Usage: bench/stalls.py [--port P] [--url-path /health] -- <server command...>
  e.g. bench/stalls.py -- env PORT=3301 LOG_LEVEL=warn WORKER_COUNT=0 \
         SESSION_ENCRYPTION_KEY=stalls-only-0123456789abcdef0123456789 "$(scripts/dist)"
       bench/stalls.py --port 3399 --url-path / -- env PORT=3399 peer-ts/node_modules/.bin/bun peer-ts/elysia-hello.ts
Starts the server pinned to core 0 (the command must listen on --port), drives it for 10 s
with `httpc closed` (bench/httpc, built here with gcc) pinned to core 1 while
`perf record -k CLOCK_MONOTONIC -e sched:sched_switch -a` records every context switch, then
prints the latency percentiles, the episodes of slow answers (gaps under 2 ms apart) and,
for the largest gaps in the answer stream, the other tasks that ran on either core.
Runs only against 127.0.0.1 and stops by itself. Needs perf (apt: linux-perf) and gcc.
"""
import argparse, bisect, collections, os, re, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))


def build_client(d):
    binary = os.path.join(d, "httpc")
    subprocess.run(["gcc", "-O2", "-o", binary, os.path.join(HERE, "httpc/httpc.c")], check=True)
    return binary


def wait_listening(port, deadline_s=20):
    import socket
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def switches(perf_data):
    """(ns, cpu, previous task, next task) for every context switch perf recorded."""
    script = subprocess.run(["perf", "script", "-i", perf_data, "-F", "cpu,time,trace"],
                            capture_output=True, text=True, check=True).stdout
    pattern = re.compile(r"\s*\[(\d+)\]\s+([\d.]+):\s*prev_comm=(.*?) prev_pid=.*? ==> next_comm=(.*?) next_pid")
    return [(int(float(m.group(2)) * 1e9), int(m.group(1)), m.group(3), m.group(4))
            for m in map(pattern.match, script.splitlines()) if m]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", nargs="+")
    ap.add_argument("--port", type=int, default=3301)
    ap.add_argument("--url-path", default="/health")
    ap.add_argument("--gaps", type=int, default=30, help="how many of the largest gaps to explain")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        client = build_client(d)
        server = subprocess.Popen(["taskset", "-c", "0", *args.command], cwd=d,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(args.port)
            log, data = os.path.join(d, "answers.txt"), os.path.join(d, "perf.data")
            subprocess.run(["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-e", "sched:sched_switch", "-a",
                            "-o", data, "--", "taskset", "-c", "1", client, "closed", "127.0.0.1",
                            str(args.port), args.url_path, "50", "10", log], check=True)
        finally:
            server.terminate()
            server.wait()
        rows = [tuple(map(int, line.split())) for line in open(log)]
        events = switches(data)
    latencies = sorted(r[1] - r[0] for r in rows)
    pct = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))] / 1000
    print(f"{len(rows)} answers in 10 s; p50 {pct(.5):.0f} µs, p90 {pct(.9):.0f}, p99 {pct(.99):.0f}, "
          f"p99.9 {pct(.999):.0f}, max {latencies[-1] / 1000:.0f}")
    threshold = latencies[int(len(latencies) * 0.99)]
    slow = sorted((r for r in rows if r[1] - r[0] >= threshold), key=lambda r: r[1])
    episodes, current = [], []
    for r in slow:
        if current and r[1] - current[-1][1] > 2_000_000:
            episodes.append(current)
            current = []
        current.append(r)
    episodes += [current] if current else []
    sizes = sorted(len({r[2] for r in e}) for e in episodes)
    print(f"the slowest 1 % (≥ {threshold / 1000:.0f} µs): {len(slow)} answers in {len(episodes)} episodes; "
          f"connections per episode: median {sizes[len(sizes) // 2]}, max {sizes[-1]}")
    received = sorted(r[1] for r in rows)
    gaps = sorted(((received[i + 1] - received[i], received[i]) for i in range(len(received) - 1)))[-args.gaps:]
    times = [e[0] for e in events]
    others = collections.Counter()
    print(f"the {args.gaps} largest gaps with no answer, and the other tasks that ran in them:")
    for gap, at in sorted(gaps, reverse=True):
        ran = set()
        for _, cpu, prev, nxt in events[bisect.bisect_left(times, at):bisect.bisect_right(times, at + gap)]:
            for task in (prev, nxt):
                if not task.startswith(("swapper", "tokio", "httpc", "bun", "quickdapp", "taskset")):
                    ran.add(f"cpu{cpu}:{task}")
        others.update(ran)
        print(f"  {gap / 1000:7.0f} µs: {', '.join(sorted(ran)) or '(no other task: the hypervisor or an interrupt)'}")
    print("most frequent:", ", ".join(f"{task} ({n})" for task, n in others.most_common(8)))


if __name__ == "__main__":
    main()
