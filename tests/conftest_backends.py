"""Backends for the shared contract suite: real DuckDB files, real chDB, real ClickHouse when given.

chDB opens one directory per process, so every chDB store in a test process lives in ``CHDB_DIR`` and
gets a database of its own. ``LEADSTATS_TEST_CLICKHOUSE_URL`` (e.g. ``clickhouse://default:@127.0.0.1:8123/default``)
adds a ClickHouse server; each test then gets a fresh database on it.

Imported by test_backends*.py, test_ae_backend.py and test_migrate.py (not a pytest conftest).
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import leadstats
from leadstats.service import LeadStats
from leadstats.store.chdb import ChDBStore
from leadstats.store.clickhouse import ClickHouseStore

CHDB_DIR = tempfile.mkdtemp(prefix="leadstats-chdb-")
atexit.register(shutil.rmtree, CHDB_DIR, True)
SERVER_URL = os.environ.get("LEADSTATS_TEST_CLICKHOUSE_URL", "").strip()

#: Every backend the suite knows; "connect" is ClickHouseStore driven through clickhouse-connect's
#: chDB interface (the server driver's code path, without a server).
CLICKHOUSE_KINDS = ["chdb", "connect"] + (["server"] if SERVER_URL else [])
ALL_KINDS = ["duckdb", *CLICKHOUSE_KINDS]


def new_database() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def _server_url(database: str) -> str:
    parts = urlsplit(SERVER_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def _server_admin(sql: str) -> None:
    import clickhouse_connect

    parts = urlsplit(SERVER_URL)
    client = clickhouse_connect.get_client(
        host=parts.hostname, port=parts.port or 8123, username=parts.username or "default",
        password=parts.password or "", autogenerate_session_id=False,
    )
    try:
        client.command(sql)
    finally:
        client.close()


@contextmanager
def open_backend(kind: str, tmp_path: Path, name: str = "store") -> Iterator[LeadStats]:
    """A fresh, empty store of ``kind`` behind the LeadStats service; dropped afterwards."""
    database = new_database()
    if kind == "duckdb":
        service = leadstats.connect(str(tmp_path / f"{name}.duckdb"))
    elif kind == "chdb":
        service = LeadStats(ChDBStore(CHDB_DIR, database=database))
    elif kind == "connect":
        import clickhouse_connect

        client = clickhouse_connect.get_client(interface="chdb", path=CHDB_DIR)
        service = LeadStats(ClickHouseStore(client=client, database=database))
    elif kind == "server":
        _server_admin(f"CREATE DATABASE IF NOT EXISTS {database}")
        service = leadstats.connect(_server_url(database))
    else:
        raise ValueError(kind)
    try:
        yield service
    finally:
        if kind in ("chdb", "connect"):
            service.store.execute(f"DROP DATABASE IF EXISTS {database}")  # type: ignore[attr-defined]
        service.close()
        if kind == "server":
            _server_admin(f"DROP DATABASE IF EXISTS {database}")


# -- random events and queries (for backend-vs-DuckDB comparisons) ---------------------------------
ZONES = ["Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "UTC"]
BUCKETS = [None, "15m", "30m", "60m", "2h", "3h", "4h", "6h", "12h", "1d", "1w", "1mo"]
DIMS = ["project", "country", "event_type", "vpn_suspected", "engagement_label", "hour_of_day",
        "weekday", "utm_campaign", "source", "suspicion_score", "city"]
# Around both 2026 New York DST changes and an ordinary IST week.
ANCHORS = [datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 4, 3, tzinfo=UTC)]
PROJECTS = ["Alpha, Phase 2", "Skyline", "O'Brien \\ Towers", "Dév ü", None]
FILTERS: list[list[Any]] = [
    ["is", "project", ["Alpha, Phase 2"]],
    ["is", "project", ["O'Brien \\ Towers", None]],
    ["is_not", "country", ["IN"]],
    ["is_not", "country", ["US", None]],
    ["is", "country", [None, "US"]],
    ["contains", "project", ["sky"]],
    ["contains", "referer", ["pricing", "o'b"]],
    ["is", "hour_of_day", [10, 11, 12]],
    ["is_not", "weekday", [6, 7]],
    ["is_not", "vpn_suspected", [True]],
    ["is", "event_type", ["primary", "bot"]],
    ["is_not", "engagement_label", ["Cold", None]],
    ["is", "suspicion_score", [40, 80]],
    ["is", "source", ["google"]],
]


def random_events(rng: random.Random, n: int, *, whole_seconds: bool = False) -> list[dict[str, Any]]:
    events = []
    for i in range(n):
        anchor = rng.choice(ANCHORS)
        if whole_seconds:
            at = anchor + timedelta(seconds=rng.randrange(0, 5 * 86_400))
        else:
            at = anchor + timedelta(milliseconds=rng.randrange(0, 5 * 86_400_000))
        if rng.random() < 0.1:  # exactly on a 15-minute edge (every bucket edge in these zones)
            at = at.replace(minute=rng.choice([0, 15, 30, 45]), second=0, microsecond=0)
        events.append(
            {
                "event_id": f"r{i}",
                "event_type": rng.choice(["primary", "primary", "primary", "follow_up", "test", "blocked", "bot"]),
                "occurred_at": at.isoformat().replace("+00:00", "Z"),
                "project": rng.choice(PROJECTS),
                "source": rng.choice(["google", "meta", None]),
                "referer": rng.choice(["https://x.example/pricing", "https://x.example/o'brien", None]),
                "country": rng.choice(["IN", "US", "NP", None]),
                "city": rng.choice(["Pune", "Kathmandu", None]),
                "vpn": rng.choice([True, False, None]),
                "engagement_label": rng.choice(["Cold", "Warm", "Hot", "Very Hot", None]),
                "suspicion_score": rng.choice([None, 0, 39.5, 40, 80]),
                "utm_campaign": rng.choice(["brand", "mega", None]),
            }
        )
    return events


def random_query(rng: random.Random) -> dict[str, Any]:
    anchor = rng.choice(ANCHORS)
    start = anchor + timedelta(minutes=15 * rng.randrange(0, 2 * 96) + rng.choice([0, 0, 0, 7]))
    end = start + timedelta(minutes=15 * rng.randrange(1, 4 * 96))
    if rng.random() < 0.3:  # a whole local-date window
        start_s: str = (anchor - timedelta(days=rng.randrange(0, 3))).date().isoformat()
        end_s: str = (anchor + timedelta(days=rng.randrange(1, 40))).date().isoformat()
    else:
        start_s, end_s = start.isoformat(), end.isoformat()
    n_filters = rng.choice([0, 0, 1, 2])
    filters: list[list[Any]] = []
    for f in rng.sample(FILTERS, n_filters):
        if all(g[1] != f[1] for g in filters):
            filters.append(f)
    return {
        "date_range": [start_s, end_s],
        "timezone": rng.choice(ZONES),
        "bucket": rng.choice(BUCKETS),
        "dimensions": rng.sample(DIMS, rng.choice([0, 0, 1, 1, 2])),
        "filters": filters,
        "suspicious_min": rng.choice([40, 0, 39.5]),
    }


def document(service: LeadStats, query: dict[str, Any]) -> dict[str, Any]:
    """The §4 document without ``meta`` (which names the backend and its timing)."""
    doc = service.query(query).to_dict()
    doc.pop("meta")
    return doc
