"""Issue 13 import benchmark: ``leadstats import events`` of Parquet, JSON Lines and CSV files, fresh and
again (every record a duplicate), against DuckDB's bare bulk load of the same file in the same run.

    python benchmarks/bench_import.py                       # 2M events, files cached in benchmarks/data
    python benchmarks/bench_import.py --events 500000 --kinds parquet,jsonl --runs 3

Each measurement runs in a fresh process (its peak RSS is that process's VmHWM): leadstats imports the
file into a new store, then imports it again (all duplicates); the peer is
``CREATE TABLE t AS SELECT * FROM read_parquet(...)`` / ``read_json(...)`` / ``read_csv(...)`` into a
plain on-disk DuckDB table (no validation, no dedupe, no rollups). Figures are medians of ``--runs``
alternating runs; ``ratio`` is leadstats' events/s over the peer's. ``ev/CPU-s`` divides by the process's
CPU time (all threads) instead of the wall clock: on a shared machine it is the steadier comparison.
``--baseline SRC`` measures another source tree too (``before`` lines), e.g. main's ``src``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(__file__))
from common import END  # noqa: E402

from leadstats.demo import DemoSpec, generate  # noqa: E402

KINDS = ("parquet", "jsonl", "csv")


def make_files(n: int, data_dir: str) -> dict[str, str]:
    """The demo's events as Parquet (typed: timestamptz, bool, double), JSON Lines and CSV (ISO strings)."""
    paths = {k: os.path.join(data_dir, f"import-{n}.{k}") for k in KINDS}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    table = pa.concat_tables(generate(DemoSpec(events=n, days=90, end=END, seed=5))).drop(["weight"])
    i = table.schema.get_field_index("occurred_at")
    ts = table.column("occurred_at").cast(pa.timestamp("us", tz="UTC"))
    pq.write_table(table.set_column(i, "occurred_at", ts), paths["parquet"])
    iso = table.set_column(i, "occurred_at", pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ"))
    with open(paths["jsonl"], "w") as fh:
        for batch in iso.to_batches(50_000):
            fh.writelines(json.dumps({k: v for k, v in rec.items() if v is not None}) + "\n"
                          for rec in batch.to_pylist())
    pacsv.write_csv(iso, paths["csv"])
    return paths


_LEADSTATS = """
import sys, time, leadstats
from leadstats.sources.files import import_file
path, db, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with leadstats.connect(db) as ls:
    t, c = time.perf_counter(), time.process_time()
    r = import_file(ls, path).result
    fresh, fresh_cpu = time.perf_counter() - t, time.process_time() - c
    assert r.accepted == n and not r.rejected, (r.accepted, r.rejected[:3])
    t, c = time.perf_counter(), time.process_time()
    r = import_file(ls, path).result
    again, again_cpu = time.perf_counter() - t, time.process_time() - c
    assert r.duplicates == n and r.accepted == 0, (r.accepted, r.duplicates)
hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]
print(fresh, again, int(hwm) / 1024, fresh_cpu, again_cpu)
"""

_PEER = """
import sys, time, duckdb
path, db, kind = sys.argv[1], sys.argv[2], sys.argv[3]
reader = {"parquet": "read_parquet", "jsonl": "read_json", "csv": "read_csv"}[kind]
con = duckdb.connect(db)
t, c = time.perf_counter(), time.process_time()
con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{path}')")
con.execute("CHECKPOINT")
took, cpu = time.perf_counter() - t, time.process_time() - c
hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]
print(took, 0, int(hwm) / 1024, cpu, 0)
"""


SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def run(code: str, *args: str, src: str = SRC) -> tuple[float, ...]:
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(out.stderr)
    return tuple(float(x) for x in out.stdout.split()[-5:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--baseline", help="also measure the leadstats source tree at this path (e.g. main's src)")
    ap.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "data"))
    args = ap.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    report(args.events, make_files(args.events, args.data_dir), args.data_dir, args.runs,
           args.kinds.split(","), args.baseline)


def report(n: int, paths: dict[str, str], work_dir: str, runs: int, kinds: Sequence[str],
           baseline: str | None = None) -> None:
    print(f"{n:,} events · medians of {runs} runs · peer: DuckDB CREATE TABLE AS SELECT * FROM read_*")
    print(f"{'file':<8}{'MB':>6}{'import ev/s':>12}{'peer ev/s':>11}{'ratio':>6}{'re-import':>11}"
          f"{'ev/CPU-s':>10}{'peer':>10}{'ratio':>6}{'re-imp.':>10}{'RSS MB':>7}{'peer':>6}")

    def line(label: str, rows: list[tuple[float, ...]], size: str) -> None:
        m = [statistics.median(x[i] for x in rows) for i in range(5)]
        print(f"{label:<8}{size:>6}{n / m[0]:>12,.0f}{n / p[0]:>11,.0f}{p[0] / m[0]:>6.2f}{n / m[1]:>11,.0f}"
              f"{n / m[3]:>10,.0f}{n / p[3]:>10,.0f}{p[3] / m[3]:>6.2f}{n / m[4]:>10,.0f}{m[2]:>7,.0f}{p[2]:>6,.0f}",
              flush=True)

    for kind in kinds:
        path = paths[kind]
        ours, peer, base = [], [], []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
                ours.append(run(_LEADSTATS, path, os.path.join(tmp, "ls.duckdb"), str(n)))
                peer.append(run(_PEER, path, os.path.join(tmp, "peer.duckdb"), kind))
                if baseline:
                    base.append(run(_LEADSTATS, path, os.path.join(tmp, "base.duckdb"), str(n), src=baseline))
        p = [statistics.median(x[i] for x in peer) for i in range(5)]
        line(kind, ours, f"{os.path.getsize(path) / 1e6:,.0f}")
        if base:
            line("  before", base, "")


if __name__ == "__main__":
    main()
