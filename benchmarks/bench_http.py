"""Issue 4 benchmark: durable ingest rate through ``leadstats serve``, the group-commit effect, and report
latency through HTTP against the in-process engine.

    python benchmarks/bench_http.py                          # 200k-event store: about a minute
    python benchmarks/bench_http.py --events 10000000        # the issue's size (builds the store once)
    python benchmarks/bench_http.py --skip-ingest --events 1000000
    python benchmarks/bench_http.py --skip-group-commit --skip-report --prefill 2000000  # ingest into a big store

1. Group commit, in process: four threads submit 1,000-event requests to the writer, once with one
   transaction per request and once grouped (the server's setting). Events/s and commits.
2. HTTP ingest: a fresh store behind a real ``leadstats serve``; 1,000-event JSON batches (encoded before
   the clock starts) from one client, then from four concurrent clients. A batch counts when its 200 has
   arrived, i.e. when it is durable. Events/s, request latency, requests per commit (from /metrics).
4. Mixed load (``--mixed``): on the same store, two report clients running Q1 over HTTP, first alone and
   then while four clients send 1,000-event batches: Q1 p50/p99 of both, the ingest rate under that load
   and the p99 ratio loaded / alone (issue 16's target: under 3x), rounds alternating.
3. Report latency, Q1 (30 days, Asia/Kolkata, 30m buckets, no dimensions) on a demo store of ``--events``:
   the median of warm runs in process (``LeadStats.run``, then also with ``to_dict`` + JSON encoding), then
   through ``GET /api/v1/report`` on a keep-alive connection. The ratio is HTTP / in-process engine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

sys.path.insert(0, os.path.dirname(__file__))
from common import median_ms, store_for, window  # noqa: E402

import leadstats  # noqa: E402
from leadstats.api.writer import GroupCommitWriter  # noqa: E402
from leadstats.model.report import ReportQuery  # noqa: E402

LEADSTATS = str(Path(sys.executable).with_name("leadstats"))
INGEST, READ = "bench-ingest", "bench-read"
IST = "Asia/Kolkata"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``leadstats serve`` in a subprocess (no rate limit), stopped with SIGTERM."""

    def __init__(self, db: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "LEADSTATS_INGEST_TOKENS": INGEST,
            "LEADSTATS_READ_TOKENS": READ,
            "LEADSTATS_RATE_LIMIT_PER_MINUTE": "0",
        }
        args = [LEADSTATS, "serve", "--db", db, "--port", str(self.port), "--log-level", "warning"]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise SystemExit("server did not start")

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", headers={"Authorization": f"Bearer {READ}"}, timeout=30).text
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server process so far (Linux ``/proc``; None elsewhere): on a shared
        machine, CPU per event is steadier than events per second."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def event(i: int, prefix: str) -> dict[str, Any]:
    """A realistic event: most fields set, as the Worker sends them."""
    kinds = ("primary", "primary", "primary", "follow_up", "bot", "blocked", "test")
    return {
        "event_id": f"{prefix}-{i}",
        "event_type": kinds[i % len(kinds)],
        "occurred_at": f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+05:30",
        "project": ("Skyline", "Green Valley", "Harbor Point")[i % 3],
        "source": ("google", "meta", "direct")[i % 3],
        "referer": f"https://example.com/p/{i % 50}?utm=1",
        "cta": "book-visit",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": f"c{i % 9}",
        "engagement_label": ("Cold", "Warm", "Hot", "Very Hot")[i % 4],
        "vpn": i % 11 == 0,
        "suspicion_score": i % 100,
        "country": ("India", "US", "AE")[i % 3],
        "city": "Pune",
        "phone_country_code": "+91",
        "lead_id": f"h{i:x}",
    }


def bodies(prefix: str, batches: int, size: int) -> list[bytes]:
    return [json.dumps([event(b * size + k, prefix) for k in range(size)]).encode() for b in range(batches)]


def bench_group_commit(requests: int, size: int, repeat: int) -> dict[str, Any]:
    """The writer alone: grouped vs one transaction per request, four submitting threads; the rounds
    alternate the two so a busy machine affects both alike."""
    rates: dict[str, list[float]] = {"one_txn_per_request": [], "group_commit": []}
    commits: dict[str, int] = {}
    for r in range(repeat):
        for label, group in (("one_txn_per_request", 1), ("group_commit", 50_000)):
            with tempfile.TemporaryDirectory() as tmp:
                ls = leadstats.connect(os.path.join(tmp, "gc.duckdb"))
                tag = f"{label}{r}"
                texts = [pa.array([json.dumps(event(q * size + k, tag)) for k in range(size)]) for q in range(requests)]
                writer = GroupCommitWriter(ls, max_group_events=group)
                writer.start()
                writer.submit(pa.array([json.dumps(event(0, "warm"))])).result()
                started = time.perf_counter()

                def worker(part: list[pa.Array], writer: GroupCommitWriter = writer) -> None:
                    for lines in part:
                        writer.submit(lines).result()

                threads = [threading.Thread(target=worker, args=(texts[t::4],)) for t in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                rates[label].append(requests * size / (time.perf_counter() - started))
                commits[label] = writer.commits - 1
                writer.close()
                assert ls.count() == requests * size + 1
                ls.close()
    out: dict[str, Any] = {}
    for label, values in rates.items():
        out[label] = {
            "events_per_s_best": round(max(values)),
            "events_per_s_median": round(statistics.median(values)),
            "commits": commits[label],
            "requests": requests,
        }
        print(
            f"  writer, {label:20} best {out[label]['events_per_s_best']:>9,} events/s, median "
            f"{out[label]['events_per_s_median']:>9,} ({commits[label]} commits for {requests} requests)"
        )
    return out


def _send(server: Server, payloads: list[list[bytes]], size: int) -> tuple[float, list[float]]:
    """All clients send their batches at once; returns (seconds, request latencies)."""
    headers = {"Authorization": f"Bearer {INGEST}", "Content-Type": "application/json"}
    latencies: list[float] = []

    def client(mine: list[bytes]) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            for body in mine:
                t0 = time.perf_counter()
                resp = http.post("/api/v1/events", content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                assert resp.status_code == 200 and resp.json()["accepted"] == size, resp.text

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies


def bench_ingest(batches: int, size: int, repeat: int, prefill: int = 0) -> dict[str, Any]:
    """Durable events/s through HTTP: 1 and 4 clients with ``size``-event batches, and 1 client with
    10x larger batches for reference; rounds alternate the configurations. ``prefill``: the store holds
    that many demo events first (every append checks its ids against all of them)."""
    configs = [(1, size, batches), (4, size, batches), (1, size * 10, max(1, batches // 10))]
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ingest.duckdb")
        if prefill:
            ls, built = store_for(path, prefill)
            ls.close()
            print(f"  prefilled the ingest store with {prefill:,} events in {built:.1f} s")
        server = Server(path)
        try:
            _send(server, [bodies("warm", 1, size)], size)
            for r in range(repeat):
                for clients, batch, count in configs:
                    key = f"{clients}_client{'s' if clients > 1 else ''}_{batch}"
                    payloads = [bodies(f"{key}-{r}-{c}", count, batch) for c in range(clients)]
                    commits0 = server.metric("leadstats_ingest_commits_total")
                    cpu0 = server.cpu_seconds()
                    seconds, latencies = _send(server, payloads, batch)
                    cpu1 = server.cpu_seconds()
                    commits = server.metric("leadstats_ingest_commits_total") - commits0
                    latencies.sort()
                    runs.setdefault(key, []).append(
                        {
                            "events_per_s": clients * count * batch / seconds,
                            "p50": statistics.median(latencies) * 1000,
                            "p95": latencies[min(len(latencies) - 1, math.ceil(len(latencies) * 0.95) - 1)] * 1000,
                            "per_commit": clients * count / commits if commits else None,
                            "cpu_ms_per_1000": None if cpu0 is None or cpu1 is None
                            else (cpu1 - cpu0) * 1000 / (clients * count * batch / 1000),
                        }
                    )
        finally:
            server.stop()
    out: dict[str, Any] = {}
    for key, results in runs.items():
        best = max(results, key=lambda x: x["events_per_s"])
        out[key] = {
            "events_per_s_best": round(best["events_per_s"]),
            "events_per_s_median": round(statistics.median(x["events_per_s"] for x in results)),
            "request_p50_ms": round(best["p50"], 1),
            "request_p95_ms": round(best["p95"], 1),
            "requests_per_commit": round(best["per_commit"], 2) if best["per_commit"] else None,
            "server_cpu_ms_per_1000_events_median": None if best["cpu_ms_per_1000"] is None
            else round(statistics.median(x["cpu_ms_per_1000"] for x in results), 1),
        }
        o = out[key]
        print(
            f"  HTTP ingest, {key:18} best {o['events_per_s_best']:>7,} events/s durable, median "
            f"{o['events_per_s_median']:>7,} (p50 {o['request_p50_ms']} ms, p95 {o['request_p95_ms']} ms per "
            f"request, {o['requests_per_commit']} requests/commit, server CPU "
            f"{o['server_cpu_ms_per_1000_events_median']} ms per 1,000 events)"
        )
    return out


def bench_report(path: str, events: int, runs: int) -> dict[str, Any]:
    ls, built = store_for(path, events)
    if built:
        print(f"  built {events:,}-event store in {built:.1f} s")
    stored = ls.count()
    start, end = window(30)
    query = ReportQuery.create(start, end, timezone=IST, bucket="30m")
    engine = median_ms(lambda: ls.run(query), runs=runs, warmup=2)
    with_json = median_ms(lambda: json.dumps(ls.run(query).to_dict()), runs=runs, warmup=1)
    rows = len(ls.run(query).rows)
    ls.close()
    server = Server(path)
    try:
        params = {"from": start, "to": end, "tz": IST, "bucket": "30m"}
        with httpx.Client(base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {READ}"}) as http:
            first = http.get("/api/v1/report", params=params)
            assert first.status_code == 200 and len(first.json()["rows"]) == rows

            same_request: list[float] = []

            def call() -> None:  # until the whole body has arrived (parsing it is the client's business)
                started = time.perf_counter()
                resp = http.get("/api/v1/report", params=params)
                took = (time.perf_counter() - started) * 1000
                assert resp.status_code == 200 and abs(len(resp.content) - len(first.content)) < 20
                engine_ms = json.loads(resp.content[resp.content.rindex(b'"meta"') + 7 : -1])["elapsed_ms"]
                same_request.append(took / engine_ms)

            over_http = median_ms(call, runs=runs, warmup=3)
    finally:
        server.stop()
    out = {
        "store_events": stored,
        "rows": rows,
        "in_process_engine_ms": round(engine, 2),
        "in_process_with_json_ms": round(with_json, 2),
        "http_ms": round(over_http, 2),
        "http_over_engine": round(over_http / engine, 2),
        # the same ratio inside each request (client time / the engine time the server measured for it):
        # immune to load drifting between the in-process and the HTTP runs
        "http_over_engine_same_request": round(statistics.median(same_request), 2),
    }
    print(
        f"  Q1 on {stored:,} events ({rows} rows): engine {engine:.1f} ms, engine+JSON {with_json:.1f} ms, "
        f"HTTP {over_http:.1f} ms -> {out['http_over_engine']}x "
        f"({out['http_over_engine_same_request']}x against the engine time of the same requests)"
    )
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * q) - 1))]


def bench_mixed(path: str, events: int, batches: int, size: int, runs: int, rounds: int) -> dict[str, Any]:
    """Q1 p50/p99 over HTTP alone and under 4 ingest clients + 2 report clients, on one server. Rounds
    alternate alone / loaded so a busy machine affects both alike; the figures are medians over rounds."""
    ls, _ = store_for(path, events)
    ls.close()
    start, end = window(30)
    params = {"from": start, "to": end, "tz": IST, "bucket": "30m"}
    server = Server(path)
    auth = {"Authorization": f"Bearer {READ}"}

    def q1_latencies(count: int, stop: threading.Event | None = None) -> list[float]:
        out: list[float] = []
        with httpx.Client(base_url=server.url, timeout=120, headers=auth) as http:
            while len(out) < count and not (stop is not None and stop.is_set()):
                t0 = time.perf_counter()
                assert http.get("/api/v1/report", params=params).status_code == 200
                out.append((time.perf_counter() - t0) * 1000)
        return out

    def two_readers(*, count: int | None = None, load: Callable[[], None] | None = None) -> list[float]:
        """Q1 latencies of two concurrent report clients: ``count`` reports each, or, given a ``load``
        instead, as many as they make while it runs."""
        if (count is None) == (load is None):
            raise ValueError("give either count or load")
        stop = threading.Event()
        got: list[list[float]] = [[], []]

        def reader(i: int) -> None:
            got[i] = q1_latencies(count if count is not None else 10**9, stop)

        readers = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
        for t in readers:
            t.start()
        if load is not None:
            load()
            stop.set()
        for t in readers:
            t.join()
        return got[0] + got[1]

    per_round: list[dict[str, float]] = []
    try:
        q1_latencies(5)
        for _ in range(rounds):
            # The same two report clients, first without and then with the ingest load: the ratio is what
            # the ingest costs the reports (two concurrent reports on 2 cores already wait for each other).
            alone = two_readers(count=max(runs * 4, 60))
            payloads = [bodies(f"mixed-{time.time_ns()}-{c}", batches, size) for c in range(4)]  # new ids each run
            sent: list[float] = []
            both = two_readers(load=lambda p=payloads, out=sent: out.append(_send(server, p, size)[0]))
            seconds = sent[0]
            per_round.append(
                {
                    "alone_p50": statistics.median(alone),
                    "alone_p99": _percentile(alone, 0.99),
                    "loaded_p50": statistics.median(both),
                    "loaded_p99": _percentile(both, 0.99),
                    "reports": len(both),
                    "ingest": 4 * batches * size / seconds,
                }
            )
    finally:
        server.stop()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in per_round)

    out = {
        "q1_alone_p50_ms": round(med("alone_p50"), 1),
        "q1_alone_p99_ms": round(med("alone_p99"), 1),
        "q1_loaded_p50_ms": round(med("loaded_p50"), 1),
        "q1_loaded_p99_ms": round(med("loaded_p99"), 1),
        "q1_reports_under_load": int(sum(r["reports"] for r in per_round)),
        "ingest_events_per_s_under_load": round(med("ingest")),
        "rounds": rounds,
        "p99_ratio_per_round": [round(r["loaded_p99"] / r["alone_p99"], 2) for r in per_round],
    }
    out["p99_loaded_over_alone"] = round(out["q1_loaded_p99_ms"] / out["q1_alone_p99_ms"], 2)
    print(
        f"  mixed: Q1 alone p50 {out['q1_alone_p50_ms']} ms / p99 {out['q1_alone_p99_ms']} ms; with 4 ingest clients"
        f" x {size:,} + 2 report clients p50 {out['q1_loaded_p50_ms']} ms / p99 {out['q1_loaded_p99_ms']} ms"
        f" ({out['p99_loaded_over_alone']}x, target < 3x; per round {out['p99_ratio_per_round']}) over"
        f" {out['q1_reports_under_load']} reports in {rounds} rounds; ingest {out['ingest_events_per_s_under_load']:,}"
        " events/s durable (medians over rounds)"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="store size for the report benchmark")
    parser.add_argument("--batches", type=int, default=20, help="batches per client and round")
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per latency figure (median)")
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "data"))
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each ingest configuration")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-group-commit", action="store_true", help="skip the in-process writer figures")
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument("--prefill", type=int, default=0, help="HTTP ingest into a store holding this many events")
    parser.add_argument("--mixed", action="store_true", help="also measure Q1 latency under ingest load")
    parser.add_argument("--mixed-rounds", type=int, default=3, help="alternating alone/loaded rounds (--mixed)")
    args = parser.parse_args()
    results: dict[str, Any] = {"cpus": os.cpu_count()}
    if not args.skip_ingest:
        print("ingest")
        if not args.skip_group_commit:
            results["group_commit_in_process"] = bench_group_commit(args.batches, args.batch_size, args.repeat)
        results["http_ingest"] = bench_ingest(args.batches, args.batch_size, args.repeat, args.prefill)
    if not args.skip_report:
        print("report")
        os.makedirs(args.data_dir, exist_ok=True)
        path = os.path.join(args.data_dir, f"http-{args.events}.duckdb")
        results["q1_latency"] = bench_report(path, args.events, args.runs)
    if args.mixed:
        print("mixed load")
        os.makedirs(args.data_dir, exist_ok=True)
        path = os.path.join(args.data_dir, f"http-{args.events}.duckdb")
        results["mixed"] = bench_mixed(path, args.events, args.batches, args.batch_size, args.runs, args.mixed_rounds)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
