"""leadstats.insights.summary: KPI windows on local days, ratios, changes and top lists, on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

import leadstats
from leadstats.errors import QueryError
from leadstats.insights.summary import SUMMARY_METRICS, summary
from leadstats.service import LeadStats

TODAY = date(2026, 3, 8)  # current window 2026-03-01..07, previous 2026-02-22..28 (IST)


def ev(i: int, when: str, kind: str = "primary", **fields: Any) -> dict[str, Any]:
    return {"event_id": f"s{i}", "event_type": kind, "occurred_at": when, **fields}


@pytest.fixture()
def ls(tmp_path: Any) -> Iterator[LeadStats]:
    service = leadstats.connect(str(tmp_path / "s.duckdb"), create=True)
    events = [
        # current window
        ev(1, "2026-03-01T00:10:00+05:30", project="Skyline", country="India", engagement_label="Hot"),
        ev(2, "2026-03-02T10:00:00+05:30", project="Skyline", country="IN", vpn=True),
        ev(3, "2026-03-03T10:00:00+05:30", project="Skyline", country="US", suspicion_score=80),
        ev(4, "2026-03-04T10:00:00+05:30", project="Alpha", country="US", engagement_label="Very Hot"),
        ev(5, "2026-03-05T10:00:00+05:30", "follow_up", project="Alpha"),
        ev(6, "2026-03-06T10:00:00+05:30", "bot", project="Alpha"),
        ev(7, "2026-03-07T23:59:00+05:30", "blocked", project="Skyline"),
        ev(8, "2026-03-07T12:00:00+05:30", "test", project="Skyline"),
        # today (not counted) and just before the previous window (not counted)
        ev(9, "2026-03-08T00:00:00+05:30", project="Skyline"),
        ev(10, "2026-02-21T23:59:59+05:30", project="Skyline"),
        # previous window: 2 primary of 4 received, one hot
        ev(11, "2026-02-22T00:00:00+05:30", project="Skyline", country="IN", engagement_label="Hot"),
        ev(12, "2026-02-28T23:00:00+05:30", project="Alpha", country="IN"),
        ev(13, "2026-02-25T10:00:00+05:30", "bot"),
        ev(14, "2026-02-25T11:00:00+05:30", "test"),
    ]
    assert service.ingest(events).accepted == len(events)
    yield service
    service.close()


def test_windows_are_full_local_days_before_today(ls: LeadStats) -> None:
    doc = summary(ls, days=7, tz="Asia/Kolkata", today=TODAY)
    assert doc["current"] == {
        "from": "2026-03-01T00:00:00+05:30",
        "to": "2026-03-08T00:00:00+05:30",
        "first_day": "2026-03-01",
        "last_day": "2026-03-07",
    }
    assert doc["previous"]["first_day"] == "2026-02-22" and doc["previous"]["last_day"] == "2026-02-28"
    m = doc["metrics"]
    assert set(m) == set(SUMMARY_METRICS)
    assert m["received"] == {"value": 8, "previous": 4, "change": 4, "change_pct": 100.0}
    assert m["primary"] == {"value": 4, "previous": 2, "change": 2, "change_pct": 100.0}
    assert m["submissions"]["value"] == 5 and m["submissions"]["previous"] == 2


def test_ratios_are_percentages_with_changes(ls: LeadStats) -> None:
    m = summary(ls, days=7, tz="Asia/Kolkata", today=TODAY)["metrics"]
    assert m["actual_pct"] == {"value": 50.0, "previous": 50.0, "change": 0.0, "change_pct": 0.0}
    assert m["hot_pct"]["value"] == 50.0 and m["hot_pct"]["previous"] == 50.0
    assert m["bot_rate"]["value"] == 25.0  # (bot 1 + blocked 1) / 8
    assert m["bot_rate"]["previous"] == 25.0
    assert m["vpn_pct"] == {"value": 25.0, "previous": 0.0, "change": 25.0, "change_pct": None}
    assert m["suspicious_pct"]["value"] == 25.0


def test_top_lists_rank_by_primary(ls: LeadStats) -> None:
    doc = summary(ls, days=7, tz="Asia/Kolkata", today=TODAY)
    assert doc["top_projects"] == [
        {
            "project": "Skyline",
            "primary": 3,
            "previous_primary": 1,
            "change_pct": 200.0,
            "hot": 1,
            "hot_pct": 33.33,
        },
        {
            "project": "Alpha",
            "primary": 1,
            "previous_primary": 1,
            "change_pct": 0.0,
            "hot": 1,
            "hot_pct": 100.0,
        },
    ]
    countries = doc["top_countries"]
    assert [c["country"] for c in countries] == ["IN", "US"]  # India and IN are one group
    assert countries[0]["primary"] == 2 and countries[0]["previous_primary"] == 2
    assert countries[1]["hot_pct"] == 50.0


def test_project_filter_and_timezone(ls: LeadStats) -> None:
    doc = summary(ls, days=7, tz="Asia/Kolkata", project="Alpha", today=TODAY)
    assert doc["project"] == "Alpha"
    assert doc["metrics"]["received"]["value"] == 3
    assert [p["project"] for p in doc["top_projects"]] == ["Alpha"]
    # In UTC the 2026-03-01 00:10 IST event falls on Feb 28 and the 03-08 00:00 IST one on 03-07.
    utc = summary(ls, days=7, tz="UTC", today=TODAY)
    assert utc["current"]["from"] == "2026-03-01T00:00:00+00:00"
    assert utc["metrics"]["received"]["value"] == 8  # lost s1, gained s9


def test_one_day_and_empty_store(tmp_path: Any) -> None:
    with leadstats.connect(str(tmp_path / "e.duckdb"), create=True) as empty:
        doc = summary(empty, days=1, tz="Asia/Kathmandu", today=TODAY)
        assert doc["current"]["from"] == "2026-03-07T00:00:00+05:45"
        assert doc["metrics"]["hot_pct"] == {
            "value": None,
            "previous": None,
            "change": None,
            "change_pct": None,
        }
        assert doc["top_projects"] == [] and doc["top_countries"] == []


@pytest.mark.parametrize("days", [0, -1, 367, True])
def test_bad_days_refused(ls: LeadStats, days: Any) -> None:
    with pytest.raises(QueryError) as info:
        summary(ls, days=days)
    assert info.value.field == "days"


def test_bad_timezone_refused(ls: LeadStats) -> None:
    with pytest.raises(QueryError):
        summary(ls, tz="Mars/Olympus")


@pytest.mark.parametrize("today", [date(1, 1, 1), date(1971, 6, 1), date(9999, 12, 31)])
def test_out_of_range_today_refused(ls: LeadStats, today: date) -> None:
    with pytest.raises(QueryError) as info:
        summary(ls, today=today)
    assert info.value.field == "today"
