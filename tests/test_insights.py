"""Insight methods on small hand-made stores: confidence bounds, k-anonymity, anomaly kinds, forecasting."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from leadstats.insights import (
    ForecastError,
    anomalies,
    focus,
    forecast,
    forecast_series,
    k_anonymize_report,
    merge_small_groups,
)
from leadstats.insights.common import resolve_window, wilson
from leadstats.model.timegrid import zone
from leadstats.service import LeadStats

TZ = "Asia/Kolkata"
IST = zone(TZ)


def _events(prefix: str, n: int, at: datetime, **fields: Any) -> list[dict[str, Any]]:
    return [{"event_id": f"{prefix}-{i}", "event_type": "primary",
             "occurred_at": (at + timedelta(seconds=i * 3600 // max(n, 1))).isoformat(), **fields}
            for i in range(n)]


def test_wilson_bounds_keep_tiny_segments_from_outranking_big_ones(ls: LeadStats) -> None:
    at = datetime(2026, 3, 3, 11, tzinfo=IST)
    events = (_events("tiny", 3, at, utm_campaign="tiny", engagement_label="Hot")
              + _events("big-hot", 180, at, utm_campaign="big", engagement_label="Hot")
              + _events("big-cold", 120, at, utm_campaign="big", engagement_label="Cold"))
    for name in ("a", "b", "c", "d"):  # ordinary campaigns at 20% hot
        events += _events(f"{name}-hot", 60, at, utm_campaign=name, engagement_label="Hot")
        events += _events(f"{name}-cold", 240, at, utm_campaign=name, engagement_label="Warm")
    assert ls.ingest(events).accepted == len(events)
    doc = focus(ls, "2026-03-03", "2026-03-04", tz=TZ, dimensions=[("utm_campaign",)])
    labels = [i["label"] for i in doc["items"]]
    assert labels == ["utm_campaign=big"]  # 300 leads at 60% hot; 3 leads at 100% are not evidence
    big = doc["items"][0]
    assert big["action"] == "scale" and big["rates"]["hot_pct"]["value"] == 60.0
    assert big["rates"]["hot_pct"]["typical"] == 20.0 and "hot 60% vs 20% typical" in big["reason"]
    lo3, _ = wilson(3, 3, doc["method"]["z"])
    lo300, _ = wilson(180, 300, doc["method"]["z"])
    assert lo3 < 0.35 < lo300  # the bound, not the point estimate, decides


def test_k_anonymity_merges_small_groups_per_bucket_and_keeps_totals() -> None:
    rows = [
        {"bucket_start": "t0", "city": "Pune", "received": 9, "primary": 5},
        {"bucket_start": "t0", "city": "Ooty", "received": 2, "primary": 2},
        {"bucket_start": "t0", "city": "Kota", "received": 1, "primary": 0},
        {"bucket_start": "t1", "city": "Ooty", "received": 4, "primary": 1},
    ]
    out = merge_small_groups(rows, ["city"], 5, metrics=("received", "primary"))
    assert out == [
        {"bucket_start": "t0", "city": "Pune", "received": 9, "primary": 5},
        {"bucket_start": "t0", "city": "other", "received": 3, "primary": 2},
        {"bucket_start": "t1", "city": "other", "received": 4, "primary": 1},
    ]
    assert merge_small_groups(rows, [], 5) == rows  # time-only rows name no group
    doc = k_anonymize_report({"query": {"dimensions": ["city"]}, "rows": rows, "totals": {"received": 16}}, 5)
    assert doc["totals"] == {"received": 16} and doc["meta"]["k_anonymity"]["rows_after"] == 3


def _daily_at_ten(day: date, n: int, prefix: str) -> list[dict[str, Any]]:
    return _events(f"{prefix}-{day}", n, datetime(day.year, day.month, day.day, 10, tzinfo=IST),
                   project="Alpha", source="google")


def test_anomalies_spike_drop_and_zero_in_a_busy_hour(ls: LeadStats) -> None:
    first = date(2026, 1, 5)  # a Monday; six weeks of 40 leads each day at 10:00, then the week judged
    events: list[dict[str, Any]] = []
    for d in range(42):
        events += _daily_at_ten(first + timedelta(days=d), 40, "base")
    week = first + timedelta(days=42)
    plan = {0: 0, 1: 120, 2: 5, 3: 40, 4: 40, 5: 40, 6: 40}  # Mon zero, Tue spike, Wed drop
    for d, n in plan.items():
        events += _daily_at_ten(week + timedelta(days=d), n, "week")
    ls.ingest(events)
    doc = anomalies(ls, week, week + timedelta(days=7), tz=TZ, limit=None)
    overall = {(a["granularity"], a["start"][:10], a["metric"]): a for a in doc["anomalies"] if not a["segment"]}
    mon, tue, wed = (str(week + timedelta(days=i)) for i in range(3))
    assert overall[("hour", mon, "received")]["kind"] == "zero"
    assert overall[("hour", mon, "received")]["severity"] == "high"  # usual 40, got nothing
    assert overall[("day", mon, "primary")]["kind"] == "zero"
    spike = overall[("hour", tue, "received")]
    assert spike["kind"] == "spike" and spike["value"] == 120 and spike["baseline"]["median"] == 40
    assert spike["baseline"]["values"] == [40.0] * 6 and spike["excess"] == 80
    assert overall[("hour", wed, "primary")]["kind"] == "drop"
    assert not [a for a in doc["anomalies"] if a["start"][:10] > wed]  # ordinary days stay quiet
    # The same anomalies are found for the one project and source that carry all the traffic.
    assert {a["label"] for a in doc["anomalies"]} == {
        "overall", "project=Alpha", "source=google", "country=(none)", "utm_campaign=(none)"}
    assert [i["direction"] for i in doc["incidents"]].count("down") == 2


def test_anomalies_need_history(ls: LeadStats) -> None:
    ls.ingest(_daily_at_ten(date(2026, 3, 2), 500, "new"))
    assert anomalies(ls, "2026-03-02", "2026-03-03", tz=TZ)["anomalies"] == []  # no baseline weeks yet


def test_forecast_series_picks_the_better_model_by_backtest() -> None:
    rng = np.random.default_rng(1)
    week = np.array([100, 110, 105, 100, 95, 60, 55], float)
    days = 70
    trend = np.linspace(1.0, 1.6, days)  # strong growth: last week's value lags, Holt-Winters follows
    series = np.tile(week, days // 7) * trend + rng.normal(0, 2, days)
    doc = forecast_series(series, period=7, horizon=7, folds=4, step=7)
    assert doc["model"] == "holt_winters"
    assert doc["backtest"]["mape"]["holt_winters"] < doc["backtest"]["mape"]["seasonal_naive"]
    assert doc["mape"] < 5 and len(doc["points"]) == 7
    assert doc["points"][5]["expected"] < doc["points"][1]["expected"]  # the weekend dip carries on
    flat = np.tile(week, 10)  # a pure weekly pattern: repeating last week is exact
    assert forecast_series(flat, period=7, horizon=7, folds=4, step=7)["mape"] == 0.0
    with pytest.raises(ForecastError):
        forecast_series(week, period=7, horizon=7, folds=4, step=7)


def test_forecast_refuses_an_empty_store(ls: LeadStats) -> None:
    with pytest.raises(ForecastError, match="not enough history"):
        forecast(ls, "2026-03-01", tz=TZ)


def test_default_windows_are_whole_local_days() -> None:
    now = datetime(2026, 3, 8, 15, 20, tzinfo=IST)
    w = resolve_window(None, None, TZ, default_days=28, now=now)
    assert w.to_dict() == {"from": "2026-02-08T00:00:00+05:30", "to": "2026-03-08T00:00:00+05:30",
                           "timezone": TZ}
    hourly = resolve_window(None, None, "Asia/Kathmandu", default_days=7, default_end="hour", now=now)
    assert hourly.to_dict()["to"] == "2026-03-08T15:00:00+05:45"
    assert resolve_window("2026-03-01", "2026-03-02", TZ, default_days=1).days == 1
