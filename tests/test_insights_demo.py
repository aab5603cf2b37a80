"""Evaluation on the demo data: the focus list and the anomalies find exactly what the generator planted.

The demo store (200k events over 90 days ending 2026-03-02 00:00 IST, seed 7) is built once per test
process by :func:`demo_db` and shared read-only by every insights, digest, MCP and export test.
"""

from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import leadstats
from leadstats.demo import CAMPAIGNS, PLANTED, DemoSpec, build
from leadstats.insights import anomalies, best_windows, focus, forecast
from leadstats.model.timegrid import zone
from leadstats.service import LeadStats

TZ = "Asia/Kolkata"
DEMO_END = datetime(2026, 3, 2, tzinfo=zone(TZ))  # local midnight: every local day is whole
LAST_WEEK = ("2026-02-23", "2026-03-02")  # holds the bot burst (3 days before the end)
LOW = PLANTED["low_quality_campaign"]
HOT = PLANTED["hot_campaign"]
BURST = PLANTED["bot_burst"]
BURST_DAY = date(2026, 3, 2).toordinal() - BURST["days_before_end"]


@cache
def demo_db() -> str:
    """Path of the demo store, built on first use and removed when the test process exits."""
    folder = Path(tempfile.mkdtemp(prefix="leadstats-demo-"))
    atexit.register(shutil.rmtree, folder, True)
    path = str(folder / "demo.duckdb")
    with leadstats.connect(path) as ls:
        build(ls, DemoSpec(events=200_000, days=90, end=DEMO_END, seed=7))
    return path


def open_demo() -> LeadStats:
    return leadstats.connect(demo_db(), read_only=True)


@cache
def _week_digest() -> dict[str, Any]:
    from leadstats.insights import build_digest

    with open_demo() as ls:
        return build_digest(ls, period="week", to="2026-03-02", tz=TZ)


def week_digest() -> dict[str, Any]:
    """The store-wide week brief to 2026-03-02, built once per test process (test_digest and
    test_insights_advice both read it); each caller gets its own copy."""
    return copy.deepcopy(_week_digest())


@pytest.fixture(scope="module")
def demo() -> Iterator[LeadStats]:
    ls = open_demo()
    yield ls
    ls.close()


def source_of(campaign: str) -> str:
    return next(c[0] for c in CAMPAIGNS if c[2] == campaign)


def flagged(doc: dict[str, Any]) -> dict[str, str]:
    return {item["label"]: item["action"] for item in doc["items"]}


def test_focus_finds_exactly_the_planted_campaigns(demo: LeadStats) -> None:
    doc = focus(demo, "2026-01-05", "2026-02-23", tz=TZ, limit=None)  # six weeks before the burst
    assert flagged(doc) == {f"utm_campaign={LOW}": "pause", f"utm_campaign={HOT}": "scale"}
    low, hot = doc["items"]
    assert low["rank"] == 1 and low["impact"] > hot["impact"]  # the big campaign matters most
    assert {"low_hot", "high_suspicious", "high_vpn"} <= set(low["signals"])
    assert low["rates"]["hot_pct"]["high"] < low["rates"]["hot_pct"]["typical"] / 2
    assert 15 < low["share_of_primary"] < 25  # "about a fifth of actual leads"
    # The low-quality campaign is why its source looks poor, and the hot campaign is its source's only one.
    assert f"source={source_of(LOW)}" in low["explains"]
    assert hot["same_as"] == [f"source={source_of(HOT)}"]
    assert hot["rates"]["hot_pct"]["low"] > 60 and hot["share_of_primary"] < 3
    assert "hot 7" in hot["reason"] and "scale" in hot["reason"]
    assert doc["segments_evaluated"] > 200


def test_focus_in_the_burst_week_adds_only_the_burst_segments(demo: LeadStats) -> None:
    doc = focus(demo, *LAST_WEEK, tz=TZ, limit=None)
    got = flagged(doc)
    assert got[f"utm_campaign={LOW}"] == "pause" and got[f"utm_campaign={HOT}"] == "scale"
    burst = {f"project={BURST['project']}", f"source={BURST['source']}"}
    extra = {label: action for label, action in got.items() if "utm_campaign=" not in label}
    assert burst <= set(extra) and set(extra.values()) == {"fix"}
    assert all(set(label.split(" × ")) <= burst for label in extra)  # pairs only of the burst's own values
    for item in doc["items"]:
        if item["label"] in burst:
            assert item["signals"] == ["high_bot"] and "bots" in item["reason"]


def test_anomalies_find_exactly_the_bot_burst(demo: LeadStats) -> None:
    doc = anomalies(demo, *LAST_WEEK, tz=TZ, limit=None)
    assert doc["anomaly_count"] >= 10
    h0, h1 = BURST["local_hours"]
    for a in doc["anomalies"]:
        start = datetime.fromisoformat(a["start"])
        assert start.date().toordinal() == BURST_DAY, a["description"]
        assert a["kind"] == "spike"
        if a["granularity"] == "hour":
            assert h0 <= start.hour < h1, a["description"]
    assert len(doc["incidents"]) == 1
    incident = doc["incidents"][0]
    assert incident["severity"] == "high" and incident["direction"] == "up"
    assert incident["start"].endswith(f"T{h0:02d}:00:00+05:30") and incident["end"].endswith(f"T{h1:02d}:00:00+05:30")
    drivers = {d["segment"]: d["share_of_excess"] for d in incident["drivers"]}
    assert drivers[f"project={BURST['project']}"] >= 90 and drivers[f"source={BURST['source']}"] >= 90
    overall = [a for a in doc["anomalies"] if a["label"] == "overall" and a["granularity"] == "hour"
               and a["metric"] == "received"]
    assert len(overall) == h1 - h0
    assert all(a["value"] > 10 * a["baseline"]["median"] and a["severity"] == "high" for a in overall)
    # The burst is about 1% of all events in three hours: the excess says so.
    assert 0.8 * 0.01 * 200_000 < incident["excess"] < 1.2 * 0.01 * 200_000


def test_quiet_weeks_have_no_anomalies(demo: LeadStats) -> None:
    for start, end in (("2026-01-26", "2026-02-02"), ("2026-02-09", "2026-02-16")):
        doc = anomalies(demo, start, end, tz=TZ)
        assert doc["anomalies"] == [] and doc["incidents"] == []


def test_anomalies_report_zero_and_drop_when_data_stops(demo: LeadStats) -> None:
    # The demo ends at 2026-03-02 00:00: the next day is empty, which reads as "zero in a busy hour".
    doc = anomalies(demo, "2026-03-02", "2026-03-03", tz=TZ, dimensions=(), limit=None)
    kinds = {(a["granularity"], a["kind"]) for a in doc["anomalies"] if a["label"] == "overall"}
    assert ("hour", "zero") in kinds and ("day", "zero") in kinds
    assert doc["incidents"][0]["direction"] == "down"


def test_best_windows_follow_the_demo_day_cycle(demo: LeadStats) -> None:
    doc = best_windows(demo, None, "2026-02-23", tz=TZ, weeks=6)
    assert doc["weeks"] == 6
    for slot in doc["top_ad_slots"]:
        assert slot["weekday"] <= 5 and (10 <= slot["hour"] <= 13 or 17 <= slot["hour"] <= 21), slot
    peaks = doc["peak_hours"]
    assert any(p["from_hour"] <= 11 and p["to_hour"] >= 13 for p in peaks)
    assert any(p["from_hour"] <= 18 and p["to_hour"] >= 21 for p in peaks)
    assert doc["junk_slots"] and all(s["hour"] <= 6 and s["bot_rate"] > 50 for s in doc["junk_slots"])
    assert len(doc["slots"]) == 168 and all(s["occurrences"] == 6 for s in doc["slots"])
    # Expected = mean per occurrence: the slots add back up to the window's totals.
    assert round(sum(s["expected"]["primary"] * s["occurrences"] for s in doc["slots"])) == sum(
        s["totals"]["primary"] for s in doc["slots"])


def test_forecast_on_demo_is_accurate_and_honest(demo: LeadStats) -> None:
    doc = forecast(demo, "2026-02-23", tz=TZ, metric="primary")
    daily, hourly = doc["daily"], doc["hourly"]
    assert len(daily["points"]) == 7 and daily["points"][0]["date"] == "2026-02-23"
    assert len(hourly["points"]) == 24 and hourly["points"][0]["start"] == "2026-02-23T00:00:00+05:30"
    for part in (daily, hourly):
        scores = {k: v for k, v in part["backtest"]["mape"].items() if v is not None}
        assert part["model"] == min(scores, key=lambda k: scores[k]) and part["mape"] == scores[part["model"]]
        assert all(p["low"] <= p["expected"] <= p["high"] for p in part["points"])
    assert daily["mape"] < 10 and hourly["mape"] < 40
    actual = demo.report("2026-02-23", "2026-03-02", timezone=TZ, bucket="1d").rows
    inside = sum(p["low"] <= r["primary"] <= p["high"] for p, r in zip(daily["points"], actual, strict=True))
    assert inside >= 4  # an 80% interval holds most days
    total = sum(r["primary"] for r in actual)
    assert abs(doc["next_7_days"]["expected"] - total) / total < 0.1
    # Weekends are quieter in the demo and the forecast knows it.
    by_weekday = {p["weekday"]: p["expected"] for p in daily["points"]}
    assert by_weekday[7] < 0.85 * by_weekday[2]
