"""Property test: on random small event sets and random queries, the engine equals the contract read
by a plain-Python evaluator (tests/reference.py), on DuckDB and on chDB (whose time-only reports come
from its 15-minute rollup and score histogram, the others from the MergeTree)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import leadstats
from conftest_backends import CHDB_DIR, new_database
from leadstats.model.report import ReportResult
from leadstats.service import LeadStats
from leadstats.store.chdb import ChDBStore
from reference import evaluate

ZONES = ["Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "UTC", "Australia/Lord_Howe"]
BUCKETS = [None, "15m", "30m", "60m", "2h", "3h", "4h", "6h", "12h", "1d", "1w", "1mo"]
DIMS = ["project", "country", "event_type", "vpn_suspected", "engagement_label", "hour_of_day", "weekday",
        "utm_campaign", "suspicion_score"]
# Around the 2026 New York DST changes and an ordinary IST week.
ANCHORS = [datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 4, 4, tzinfo=UTC)]

events_st = st.lists(
    st.fixed_dictionaries(
        {
            "anchor": st.sampled_from(ANCHORS),
            "offset_ms": st.integers(0, 4 * 86_400_000),
            "event_type": st.sampled_from(["primary", "follow_up", "test", "blocked", "bot"]),
            "project": st.sampled_from(["Alpha, Phase 2", "Skyline", None]),
            "country": st.sampled_from(["IN", "US", None]),
            "vpn": st.sampled_from([True, False, None]),
            "engagement_label": st.sampled_from(["Cold", "Hot", "Very Hot", None]),
            "suspicion_score": st.sampled_from([None, 0, 39.5, 40, 80]),
            "utm_campaign": st.sampled_from(["brand", "mega", None]),
        }
    ),
    max_size=40,
)


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    anchor = draw(st.sampled_from(ANCHORS))
    start = anchor + timedelta(minutes=draw(st.integers(0, 2 * 24 * 4)) * 15 + draw(st.sampled_from([0, 0, 7])))
    end = start + timedelta(minutes=draw(st.integers(1, 3 * 24 * 4)) * 15)
    flt = draw(
        st.lists(
            st.sampled_from(
                [
                    ["is", "project", ["Alpha, Phase 2"]],
                    ["is_not", "country", ["IN"]],
                    ["is", "country", [None, "US"]],
                    ["contains", "project", ["sky"]],
                    ["is", "hour_of_day", [10, 11, 12]],
                    ["is_not", "vpn_suspected", [True]],
                ]
            ),
            max_size=2,
            unique_by=lambda f: f[1],
        )
    )
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "timezone": draw(st.sampled_from(ZONES)),
        "bucket": draw(st.sampled_from(BUCKETS)),
        "dimensions": draw(st.lists(st.sampled_from(DIMS), max_size=2, unique=True)),
        "filters": flt,
        "suspicious_min": draw(st.sampled_from([40, 0, 39.5])),
        "rates": draw(st.booleans()),
    }


RATES = {"actual_pct": (("primary",), "received"), "hot_pct": (("hot",), "primary"),
         "bot_rate": (("bot", "blocked"), "received"), "vpn_pct": (("vpn",), "primary"),
         "suspicious_pct": (("suspicious",), "primary")}


def with_rates(expected: dict[str, Any], q: dict[str, Any]) -> dict[str, Any]:
    """CONTRACT §2's rates after the counts of every row and the totals, when the query asks for them."""
    if not q.get("rates"):
        return expected

    def rated(m: dict[str, Any]) -> dict[str, Any]:
        out = dict(m)
        for name, (tops, bottom) in RATES.items():
            top = sum(m[t] for t in tops)
            out[name] = round(100.0 * top / m[bottom], 2) if m[bottom] else None
        return out

    return {"rows": [rated(r) for r in expected["rows"]], "totals": rated(expected["totals"])}


def _events(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Contract events from the drawn records: ids by position, times from anchor + offset (UTC)."""
    events = []
    for i, r in enumerate(raw):
        at = r["anchor"] + timedelta(milliseconds=r["offset_ms"])
        e = {k: v for k, v in r.items() if k not in ("anchor", "offset_ms")}
        e.update(event_id=f"e{i}", occurred_at=at.isoformat().replace("+00:00", "Z"))
        events.append(e)
    return events


def _open(backend: str) -> LeadStats:
    if backend == "chdb":
        return LeadStats(ChDBStore(CHDB_DIR, database=new_database()))
    return leadstats.connect(":memory:")


# On chDB each example opens a store (a session and its tables): minutes on a loaded machine, so more than
# the suite's 300 s timeout, which only bounds a hang.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", ["duckdb", "chdb"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=events_st, q=queries())
def test_engine_equals_reference(backend: str, raw: list[dict[str, Any]], q: dict[str, Any]) -> None:
    events = _events(raw)
    ls = _open(backend)
    try:
        assert ls.ingest(events).accepted == len(events)
        result = ls.query(q)
        text, csv_text = result.to_json(), result.to_csv()  # written from the columns, before any row dict
        doc = result.to_dict()
        note(f"answered by: {ls.store.report_rows(ls.build_json_query(q)).engine}")
    finally:
        if backend == "chdb":
            ls.store.execute(f"DROP DATABASE IF EXISTS {ls.store.database}")  # type: ignore[attr-defined]
        ls.close()
    expected = with_rates(evaluate(events, q), q)
    note(f"query: {q}")
    assert doc["rows"] == expected["rows"]
    assert doc["totals"] == expected["totals"]
    assert text == json.dumps(doc, ensure_ascii=False)  # the API's and the CLI's JSON, byte for byte
    assert csv_text == ReportResult(result.query, doc["rows"], doc["totals"], {}).to_csv()


@st.composite
def time_only_queries(draw: st.DrawFn) -> dict[str, Any]:
    """Reports the 15-minute rollup answers: slot-aligned windows, no filters, local hour/weekday only."""
    q = draw(queries())
    start, end = datetime.fromisoformat(q["from"]), datetime.fromisoformat(q["to"])
    shift = timedelta(minutes=start.minute % 15)  # both ends are 15-minute steps apart
    return {**q, "from": (start - shift).isoformat(), "to": (end - shift).isoformat(), "filters": [],
            "dimensions": draw(st.lists(st.sampled_from(["hour_of_day", "weekday"]), max_size=1))}


@pytest.mark.timeout(900)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=events_st, q=time_only_queries())
def test_chdb_rollup_equals_reference(raw: list[dict[str, Any]], q: dict[str, Any]) -> None:
    """Every such report on chDB is read from the rollup (the score histogram for suspicious_min 0 and
    39.5) and equals the plain-Python reading of the contract."""
    events = _events(raw)
    ls = _open("chdb")
    try:
        assert ls.ingest(events).accepted == len(events)
        ls.delete_events([e["event_id"] for e in events[::4]])  # the rollup follows deletes too
        kept = [e for i, e in enumerate(events) if i % 4]
        assert ls.store.report_rows(ls.build_json_query(q)).engine == "rollup"
        doc = ls.query(q).to_dict()
    finally:
        ls.store.execute(f"DROP DATABASE IF EXISTS {ls.store.database}")  # type: ignore[attr-defined]
        ls.close()
    expected = with_rates(evaluate(kept, q), q)
    note(f"query: {q}")
    assert doc["rows"] == expected["rows"]
    assert doc["totals"] == expected["totals"]
