"""Does a chDB append cost grow with the table? Load N events batch by batch and print the append rate
of each tenth of the load (exact dedupe included), then Q1 at the end.

    .venv/bin/python benchmarks/bench_chdb_append.py --events 30000000
    .venv/bin/python benchmarks/bench_chdb_append.py --events 10000000 --batch 100000 --dir /tmp/b --keep

Events come from ``bench_backends.generate`` (time order, 90 days, ids ``b0``, ``b1``, ...) and go straight
through ``Store.append``. With the ids index (``leadstats_ids ORDER BY event_id``) each batch's check reads
the few granules that can hold its ids, so the rate of the last tenth should equal the first's; before
it, the check read the ``id_hash`` of every stored event per batch and the rate fell with the table.
``--probe`` also times a 1,000-event append of new ids and of stored ids at the end (an HTTP-sized batch).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, os.path.dirname(__file__))
from bench_backends import generate, queries  # noqa: E402
from common import median_ms  # noqa: E402

from leadstats.service import LeadStats  # noqa: E402
from leadstats.store.chdb import ChDBStore  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--batch", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--probe", action="store_true", help="also time 1,000-event appends at the end")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep --dir afterwards")
    args = ap.parse_args(argv)
    where = args.dir or tempfile.mkdtemp(prefix="leadstats-chappend-")
    os.makedirs(where, exist_ok=True)
    print(f"{args.events:,} events, batches of {args.batch:,}; load average {os.getloadavg()[0]:.1f}"
          f" on {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    store = ChDBStore(os.path.join(where, "append.chdb"))
    try:
        times: list[float] = []
        t_all = time.perf_counter()
        for batch in generate(args.events, args.days, args.batch):
            t = time.perf_counter()
            store.append(batch)
            times.append(time.perf_counter() - t)
        total = time.perf_counter() - t_all
        print(f"load {total:.1f} s, {args.events / total:,.0f} events/s overall (generation included)")
        tenth = max(1, len(times) // 10)
        for i in range(0, len(times), tenth):
            part = times[i : i + tenth]
            held = i * args.batch
            rate = len(part) * args.batch / sum(part)
            print(f"  batches {i + 1:4d}-{i + len(part):4d} (table {held / 1e6:6.1f}M..): {rate:10,.0f} events/s,"
                  f" median {statistics.median(part) * 1000:7.0f} ms per batch", flush=True)
        if args.probe:
            new = next(generate(1000, 1, 1000, seed=5))
            new = new.set_column(0, "event_id", pc.binary_join_element_wise("probe", new.column("event_id"), ""))
            old = next(generate(args.events, args.days, args.batch)).slice(0, 1000)
            for label, table in (("1,000 new ids", new), ("1,000 stored ids", old)):
                t = time.perf_counter()
                result = store.append(table)
                print(f"  append {label:18s} {(time.perf_counter() - t) * 1000:7.1f} ms  {result}")
            store.delete(pa.chunked_array(new.column("event_id")).to_pylist())
        service = LeadStats(store)
        q1 = queries()["Q1"]
        ms = median_ms(lambda: service.run(q1).to_dict(), args.repeat)
        print(f"Q1 (30 days, IST, 30m): {ms:.1f} ms median of {args.repeat}, engine"
              f" {store.report_rows(q1).engine}; {store.count():,} events; load average {os.getloadavg()[0]:.1f}")
    finally:
        store.close()
        if not (args.dir and args.keep):
            shutil.rmtree(where, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
