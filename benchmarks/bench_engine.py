"""Issue 2 benchmark: leadstats' report engine vs hand-written naive DuckDB SQL on the same data, plus
import rates and a report's peak memory.

    python benchmarks/bench_engine.py                 # 10M events (builds benchmarks/data/engine-10M.duckdb once)
    python benchmarks/bench_engine.py --events 1000000 --import-events 200000

Q1: 30 days, IST, 30m buckets, no dimensions.  Q2: 30 days, IST, 1d x project x country.
Q3: 90 days, IST, 60m x source. Every figure is a median of 7 warm runs; ratios are engine / naive,
measured in the same run on the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(__file__))
from common import AGG, END, median_ms, store_for, window  # noqa: E402

import leadstats  # noqa: E402
from leadstats.demo import DemoSpec, generate  # noqa: E402
from leadstats.sources.files import import_file  # noqa: E402

IST = "Asia/Kolkata"
QUERIES = {
    "Q1": dict(days=30, bucket="30m", dims=[]),
    "Q2": dict(days=30, bucket="1d", dims=["project", "country"]),
    "Q3": dict(days=90, bucket="60m", dims=["source"]),
}


def naive_sql(bucket: str, dims: list[str]) -> str:
    """What one would write by hand: convert every row with ICU's AT TIME ZONE, then truncate."""
    local = f"timezone('{IST}', occurred_at::TIMESTAMPTZ)"
    key = {
        "30m": f"time_bucket(INTERVAL 30 MINUTE, {local})",
        "60m": f"date_trunc('hour', {local})",
        "1d": f"date_trunc('day', {local})",
    }[bucket]
    cols = "".join(f", {d}" for d in dims)
    return (
        f"SELECT {key} AS b{cols}, {AGG} FROM events "
        "WHERE occurred_at >= $1::TIMESTAMPTZ AND occurred_at < $2::TIMESTAMPTZ GROUP BY ALL ORDER BY 1"
    )


def peak_rss_mb(db: str, name: str) -> float:
    """Run one report in a fresh process and read its peak resident memory."""
    spec = QUERIES[name]
    start, end = window(int(spec["days"]))  # type: ignore[arg-type]
    code = (
        "import leadstats;"
        f"ls = leadstats.connect({db!r}, read_only=True);"
        f"ls.report({start!r}, {end!r}, timezone={IST!r}, bucket={spec['bucket']!r}, dimensions={spec['dims']!r});"
        # VmHWM is this process's own peak (ru_maxrss would include the parent's, kept across exec).
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def import_rates(n: int) -> dict[str, float]:
    """Events/s for Parquet and JSON Lines files through `import_file` (validation + dedupe + append)."""
    rates: dict[str, float] = {}
    table = pa.concat_tables(generate(DemoSpec(events=n, days=90, end=END, seed=5)))
    table = table.drop(["weight"])
    ts = table.column("occurred_at").cast(pa.timestamp("us", tz="UTC"))
    with tempfile.TemporaryDirectory() as tmp:
        pq_path = os.path.join(tmp, "events.parquet")
        pq.write_table(table.set_column(table.schema.get_field_index("occurred_at"), "occurred_at", ts), pq_path)
        jl_path = os.path.join(tmp, "events.jsonl")
        iso = table.set_column(
            table.schema.get_field_index("occurred_at"),
            "occurred_at",
            pa.compute.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ"),  # type: ignore[attr-defined]
        )
        with open(jl_path, "w") as fh:
            for batch in iso.to_batches(50_000):
                for rec in batch.to_pylist():
                    fh.write(json.dumps({k: v for k, v in rec.items() if v is not None}) + "\n")
        for label, path in (("parquet", pq_path), ("jsonl", jl_path)):
            db = os.path.join(tmp, f"{label}.duckdb")
            with leadstats.connect(db) as ls:
                started = time.perf_counter()
                report = import_file(ls, path)
                took = time.perf_counter() - started
                assert report.result.accepted == n, (report.result.accepted, report.result.rejected[:3])
                again = time.perf_counter()
                report = import_file(ls, path)  # a re-import: every row is a duplicate
                retook = time.perf_counter() - again
                assert report.result.duplicates == n
            rates[label] = n / took
            rates[f"{label}_reimport"] = n / retook
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--import-events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "data"))
    args = parser.parse_args()

    os.makedirs(args.data_dir, exist_ok=True)
    db = os.path.join(args.data_dir, f"engine-{args.events}.duckdb")
    ls, build_s = store_for(db, args.events)
    print(f"store: {db} · {ls.store.count():,} events · {os.path.getsize(db) / 1e6:,.0f} MB")
    if build_s:
        print(f"bulk append (generated, pre-validated): {args.events / build_s:,.0f} events/s")
    print(f"\n{'query':<6}{'leadstats ms':>14}{'naive ms':>11}{'ratio':>8}  rows")
    for name, spec in QUERIES.items():
        start, end = window(int(spec["days"]))  # type: ignore[arg-type]
        dims = list(spec["dims"])  # type: ignore[arg-type]

        def engine(start: str = start, end: str = end, dims: list[str] = dims, bucket: object = spec["bucket"]) -> int:
            return len(ls.report(start, end, timezone=IST, bucket=str(bucket), dimensions=dims).rows)

        lo = ls.report(start, end, timezone=IST).query.to_dict()
        sql = naive_sql(str(spec["bucket"]), dims)

        def naive(sql: str = sql, lo: dict[str, str] = lo) -> int:
            return len(ls.store.execute(sql, [lo["from"], lo["to"]]))  # type: ignore[attr-defined]

        rows = engine()
        assert rows == naive() or spec["dims"], (rows, naive())
        e_ms, n_ms = median_ms(engine, args.runs), median_ms(naive, args.runs)
        print(f"{name:<6}{e_ms:>14.1f}{n_ms:>11.1f}{e_ms / n_ms:>8.2f}  {rows}")
    ls.close()
    print(
        "\npeak RSS of one report in a fresh process: "
        + ", ".join(f"{q} {peak_rss_mb(db, q):,.0f} MB" for q in QUERIES)
    )
    if args.import_events:
        rates = import_rates(args.import_events)
        print(f"\nimport of {args.import_events:,} events (validation + dedupe + append, one process):")
        for label, rate in rates.items():
            print(f"  {label:<18}{rate:>12,.0f} events/s")
    print(
        f"\nbenchmark process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
        f" · data ends {END.isoformat()}"
    )


if __name__ == "__main__":
    main()
