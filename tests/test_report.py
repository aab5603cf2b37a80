"""Report engine on a real DuckDB file: the contract's time, grouping, filter and output rules."""

from __future__ import annotations

import csv
import io

import pytest

from conftest import ev
from leadstats.service import LeadStats


def nonzero(rows: list[dict[str, object]]) -> list[tuple[object, int]]:
    return [(r["bucket_start"], r["received"]) for r in rows if r["received"]]


def test_ist_hour_starts_at_half_past_utc_edge_and_one_ms_before(ls: LeadStats) -> None:
    ls.ingest(
        [
            ev("edge", "primary", "2026-03-07T04:30:00.000Z"),  # 10:00 IST exactly
            ev("before", "primary", "2026-03-07T04:29:59.999Z"),  # 09:59:59.999 IST
        ]
    )
    rows = ls.report("2026-03-07", "2026-03-08", timezone="Asia/Kolkata", bucket="60m").rows
    assert nonzero(rows) == [("2026-03-07T09:00:00+05:30", 1), ("2026-03-07T10:00:00+05:30", 1)]


@pytest.mark.parametrize("bucket", ["15m", "30m", "60m", "2h", "3h", "4h", "6h", "12h", "1d"])
def test_kathmandu_buckets_start_at_quarter_past(ls: LeadStats, bucket: str) -> None:
    ls.ingest([ev("a", "primary", "2026-03-07T06:15:00Z"), ev("b", "bot", "2026-03-07T06:14:59.999Z")])
    rows = ls.report("2026-03-07", "2026-03-08", timezone="Asia/Kathmandu", bucket=bucket).rows
    hits = nonzero(rows)
    # 06:15 UTC is 12:00 NPT, a boundary for every width; 1 ms earlier is in the bucket before.
    if bucket == "1d":
        assert hits == [("2026-03-07T00:00:00+05:45", 2)]
    else:
        assert hits[-1] == ("2026-03-07T12:00:00+05:45", 1)
        assert hits[0][1] == 1 and hits[0][0] < "2026-03-07T12:00:00+05:45"


def test_new_york_fall_back_repeated_hour_is_two_buckets(ls: LeadStats) -> None:
    ls.ingest(
        [
            ev("edt", "primary", "2026-11-01T05:30:00Z"),  # 01:30 EDT
            ev("est", "primary", "2026-11-01T06:30:00Z"),  # 01:30 EST
        ]
    )
    rows = ls.report("2026-11-01", "2026-11-02", timezone="America/New_York", bucket="60m").rows
    assert len(rows) == 25
    assert nonzero(rows) == [("2026-11-01T01:00:00-04:00", 1), ("2026-11-01T01:00:00-05:00", 1)]
    days = ls.report("2026-10-31", "2026-11-03", timezone="America/New_York", bucket="1d").rows
    assert [r["received"] for r in days] == [0, 2, 0]


def test_new_york_spring_forward_has_no_2am_bucket(ls: LeadStats) -> None:
    ls.ingest([ev("a", "primary", "2026-03-08T07:00:00Z")])  # 03:00 EDT, right after the gap
    rows = ls.report("2026-03-08", "2026-03-09", timezone="America/New_York", bucket="60m").rows
    starts = [r["bucket_start"] for r in rows]
    assert len(rows) == 23
    assert "2026-03-08T02:00:00-05:00" not in starts and "2026-03-08T02:00:00-04:00" not in starts
    assert nonzero(rows) == [("2026-03-08T03:00:00-04:00", 1)]


def test_utc_week_and_month_buckets(ls: LeadStats) -> None:
    ls.ingest([ev("a", "primary", "2026-03-01T23:59:59.999Z"), ev("b", "primary", "2026-03-02T00:00:00Z")])
    weeks = ls.report("2026-02-23", "2026-03-09", timezone="UTC", bucket="1w").rows
    assert [(r["bucket_start"], r["received"]) for r in weeks] == [
        ("2026-02-23T00:00:00+00:00", 1),
        ("2026-03-02T00:00:00+00:00", 1),
    ]
    months = ls.report("2026-02-01", "2026-04-01", timezone="UTC", bucket="1mo").rows
    assert [(r["bucket_start"], r["received"]) for r in months] == [
        ("2026-02-01T00:00:00+00:00", 0),
        ("2026-03-01T00:00:00+00:00", 2),
    ]


def test_zero_fill_and_instant_window_with_offset(ls: LeadStats) -> None:
    ls.ingest([ev("a", "primary", "2026-03-07T04:40:00Z")])  # 10:10 IST
    result = ls.report("2026-03-07T10:00:00+05:30", "2026-03-07T11:30:00+05:30", bucket="30m")
    assert [(r["bucket_start"], r["received"]) for r in result.rows] == [
        ("2026-03-07T10:00:00+05:30", 1),
        ("2026-03-07T10:30:00+05:30", 0),
        ("2026-03-07T11:00:00+05:30", 0),
    ]
    assert result.to_dict()["query"]["from"] == "2026-03-07T10:00:00+05:30"
    # A window given in UTC is the same instant range; buckets still follow the IST wall clock.
    same = ls.report("2026-03-07T04:30:00Z", "2026-03-07T06:00:00Z", bucket="30m")
    assert same.rows == result.rows


def test_metrics_definitions_and_suspicious_threshold(ls: LeadStats) -> None:
    ls.ingest(
        [
            ev("p1", "primary", "2026-03-07T05:00:00Z", vpn=True, suspicion_score=40, engagement_label="hot"),
            ev("p2", "primary", "2026-03-07T05:00:00Z", vpn=False, suspicion_score=39.9, engagement_label="Very Hot"),
            ev("p3", "primary", "2026-03-07T05:00:00Z", engagement_label="Warm"),
            ev("f1", "follow_up", "2026-03-07T05:00:00Z", vpn=True, suspicion_score=90, engagement_label="Hot"),
            ev("t1", "test", "2026-03-07T05:00:00Z"),
            ev("b1", "blocked", "2026-03-07T05:00:00Z"),
            ev("b2", "bot", "2026-03-07T05:00:00Z", vpn=True),
        ]
    )
    totals = ls.report("2026-03-07", "2026-03-08").totals
    assert totals == {
        "received": 7,
        "submissions": 4,
        "primary": 3,
        "follow_up": 1,
        "test": 1,
        "blocked": 1,
        "bot": 1,
        "vpn": 1,
        "suspicious": 1,
        "hot": 2,
    }
    assert ls.report("2026-03-07", "2026-03-08", suspicious_min=39.9).totals["suspicious"] == 2
    assert ls.report("2026-03-07", "2026-03-08", suspicious_min=0).totals["suspicious"] == 2


def test_dimensions_null_groups_and_ordering(ls: LeadStats) -> None:
    ls.ingest(
        [
            ev("a", "primary", "2026-03-07T05:00:00Z", project="Skyline", country="India"),
            ev("b", "primary", "2026-03-07T05:01:00Z", project="Skyline", country="in"),
            ev("c", "bot", "2026-03-07T05:02:00Z", project=None, country="IN"),
            ev("d", "primary", "2026-03-07T05:03:00Z", project="Alpha", country="Narnia"),
            ev("e", "primary", "2026-03-07T05:03:00Z", project="Alpha", country="US"),
        ]
    )
    rows = ls.report("2026-03-07", "2026-03-08", dimensions=["country", "project"]).rows
    assert [(r["country"], r["project"], r["received"]) for r in rows] == [
        ("IN", "Skyline", 2),
        ("IN", None, 1),
        ("Narnia", "Alpha", 1),
        ("US", "Alpha", 1),
    ]
    by_hour = ls.report("2026-03-07", "2026-03-08", dimensions=["hour_of_day", "weekday"]).rows
    assert [(r["hour_of_day"], r["weekday"], r["received"]) for r in by_hour] == [(10, 6, 5)]  # Saturday


def test_filters_is_is_not_contains_and_comma_values(ls: LeadStats) -> None:
    ls.ingest(
        [
            ev("a", "primary", "2026-03-07T05:00:00Z", project="Alpha, Phase 2", referer="https://x.in/Pricing"),
            ev("b", "primary", "2026-03-07T05:00:00Z", project="Skyline", referer="https://x.in/"),
            ev("c", "primary", "2026-03-07T05:00:00Z", project=None),
        ]
    )

    def total(filters: list[object]) -> int:
        return ls.report("2026-03-07", "2026-03-08", filters=filters).totals["received"]

    assert total([["is", "project", ["Alpha, Phase 2"]]]) == 1
    assert total([["is_not", "project", ["Alpha, Phase 2"]]]) == 2  # null is "none of" the values
    assert total([["is", "project", [None]]]) == 1
    assert total([["is_not", "project", [None, "Skyline"]]]) == 1
    assert total([["contains", "referer", ["pricing"]]]) == 1
    assert total([["is", "project", ["Skyline", "Alpha, Phase 2"]], ["contains", "referer", ["x.in"]]]) == 2


def test_csv_has_contract_column_order(ls: LeadStats) -> None:
    ls.ingest([ev("a", "primary", "2026-03-07T05:00:00Z", project="Alpha, Phase 2")])
    result = ls.report("2026-03-07", "2026-03-08", bucket="1d", dimensions=["project"])
    rows = list(csv.reader(io.StringIO(result.to_csv())))
    assert rows[0] == [
        "bucket_start",
        "project",
        "received",
        "submissions",
        "primary",
        "follow_up",
        "test",
        "blocked",
        "bot",
        "vpn",
        "suspicious",
        "hot",
    ]
    assert rows[1][:3] == ["2026-03-07T00:00:00+05:30", "Alpha, Phase 2", "1"]


def test_result_document_shape(ls: LeadStats) -> None:
    doc = ls.query(
        {
            "date_range": ["2026-03-07", "2026-03-08"],
            "bucket": "1h",
            "dimensions": ["project"],
            "filters": [["is", "source", ["google", "meta"]]],
            "suspicious_min": 40,
        }
    ).to_dict()
    assert set(doc) == {"query", "rows", "totals", "meta"}
    assert doc["query"] == {
        "from": "2026-03-07T00:00:00+05:30",
        "to": "2026-03-08T00:00:00+05:30",
        "timezone": "Asia/Kolkata",
        "bucket": "60m",
        "dimensions": ["project"],
        "filters": [["is", "source", ["google", "meta"]]],
        "suspicious_min": 40,
    }
    assert doc["rows"] == [] and doc["meta"]["backend"] == "duckdb" and doc["meta"]["elapsed_ms"] >= 0


def test_rollup_and_event_paths_agree(ls: LeadStats) -> None:
    ls.ingest(
        [
            ev(
                f"e{i}",
                ["primary", "bot", "follow_up"][i % 3],
                f"2026-03-07T0{i % 10}:{i % 60:02d}:00Z",
                suspicion_score=i % 100,
                vpn=bool(i % 2),
                engagement_label="Hot" if i % 5 == 0 else None,
            )
            for i in range(300)
        ]
    )
    aligned = ls.report("2026-03-07", "2026-03-08", bucket="30m", suspicious_min=33)  # served by the rollup
    shifted = ls.report("2026-03-07T00:00:00.001+05:30", "2026-03-08", bucket="30m", suspicious_min=33)
    assert aligned.totals == shifted.totals
    assert aligned.rows[1:] == shifted.rows[1:]
    assert ls.store.report_rows(aligned.query).engine == "rollup"
    assert ls.store.report_rows(shifted.query).engine == "events"


def test_filter_values_are_spelled_like_stored_values(ls: LeadStats) -> None:
    ls.ingest([
        ev("a", "primary", "2026-03-07T05:00:00Z", country="India", engagement_label="very hot"),
        ev("b", "follow_up", "2026-03-07T05:00:00Z", country="us"),
    ])

    def total(filters: list[object]) -> int:
        return ls.report("2026-03-07", "2026-03-08", filters=filters).totals["received"]

    assert total([["is", "country", ["india"]]]) == 1
    assert total([["is_not", "country", ["IND"]]]) == 1
    assert total([["is", "engagement_label", ["VERY_HOT"]]]) == 1
    assert total([["is", "event_type", ["Follow-Up"]]]) == 1


@pytest.mark.parametrize(
    "doc",
    [
        {"date_range": ["2026-03-07", "2026-03-08"], "filters": [{"op": "is", "dimension": ["x"], "values": ["a"]}]},
        {"date_range": ["2026-03-07", "2026-03-08"], "filters": [[["is"], "country", ["IN"]]]},
        {"date_range": ["2026-03-07", "2026-03-08"], "timezone": ["Asia/Kolkata"]},
        {"date_range": ["2026-03-07", "2026-03-08"], "bucket": 60},
    ],
)
def test_malformed_json_queries_are_query_errors(ls: LeadStats, doc: dict[str, object]) -> None:
    from leadstats.errors import QueryError

    with pytest.raises(QueryError):
        ls.query(doc)
