"""Benchmark: import a 1M-row D1 SQLite file (built from d1_schema.sql) into a fresh DuckDB store.

    .venv/bin/python benchmarks/bench_d1_import.py [--rows 1000000] [--keep DIR]

Prints source rows/s, events/s and the peak resident memory of the importing process (measured in a
child process, so building the fixture does not count), then the time of a second, incremental run that
finds nothing new. The file holds, per 20 rows: 5 Leads (every 10th a legacy lead with only an
EnquiryDateTime), 10 LeadSubmissions, 1 TestingLeads and 4 BlockedIPLeads rows.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def child(source: str, store: str, batch: str) -> None:
    import leadstats
    from leadstats.sources.d1 import import_d1

    with leadstats.connect(store) as ls:
        started = time.perf_counter()
        cpu = time.process_time()
        report = import_d1(ls, source, page_size=int(batch) or None)
        first = time.perf_counter() - started
        cpu = time.process_time() - cpu
        started = time.perf_counter()
        again = import_d1(ls, source)
        second = time.perf_counter() - started
    print(json.dumps({"read": report.read, "accepted": report.accepted, "errors": report.error_count,
                      "seconds": first, "cpu": cpu, "again_read": again.read, "again_seconds": second}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", help="directory to keep (and reuse) the D1 file in")
    parser.add_argument("--batch-size", type=int, default=0, help="rows per page (default: the importer's)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from d1_fixtures import build_bulk

    work = Path(args.keep or tempfile.mkdtemp(prefix="bench_d1_"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"d1_{args.rows}.sqlite"
    if not source.exists():
        started = time.perf_counter()
        counts = build_bulk(source, args.rows)
        print(f"built {source} ({sum(counts.values()):,} rows: {counts}) in {time.perf_counter() - started:.1f}s")
    load_before = os.getloadavg()[0]
    store = work / "bench.duckdb"
    for path in (store, Path(str(store) + ".wal")):
        if path.exists():
            path.unlink()
    cmd = [sys.executable, __file__, "--child", str(source), str(store), str(args.batch_size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    secs = result["seconds"]
    print(f"import: {result['read']:,} source rows -> {result['accepted']:,} events in {secs:.2f}s"
          f"  = {result['read'] / secs:,.0f} rows/s, {result['accepted'] / secs:,.0f} events/s"
          f" (CPU time of all threads: {result['cpu']:.1f}s)")
    print(f"peak RSS of the importing process: {peak_mb:,.0f} MB"
          f"  (D1 file {source.stat().st_size / 1e6:,.0f} MB, store {store.stat().st_size / 1e6:,.0f} MB)")
    print(f"second run: read {result['again_read']:,} rows in {result['again_seconds']:.2f}s")
    print(f"cpus: {os.cpu_count()}, 1-minute load average before the import: {load_before:.1f}")
    if not args.keep:
        for path in work.iterdir():
            path.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
