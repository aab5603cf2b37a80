"""Insights that read as advice (issues 11.2, 15.9-15.13): scoped briefs, plain words, forecast bands that
hold, a few distinct ad windows, anomaly words that follow a score against the trend, partial buckets.

Synthetic data is seeded and deterministic; the demo store is the shared one of test_insights_demo.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from leadstats.cli import app
from leadstats.cli.report import render_table
from leadstats.insights import best_windows, build_digest, forecast_series, render_markdown
from leadstats.insights.anomalies import Series, detect, incidents, weekly_trend
from leadstats.insights.buckets import partial_buckets
from leadstats.insights.digest import _change_cell
from leadstats.insights.words import segment_name, span_words
from leadstats.model.schema import METRIC_NAMES
from leadstats.model.timegrid import zone
from leadstats.service import LeadStats
from test_insights_demo import BURST, HOT, LOW, TZ, demo_db, open_demo, week_digest

IST = zone(TZ)
TO = "2026-03-02"
SCOPE = "Palm Grove"


@pytest.fixture(scope="module")
def week() -> dict[str, Any]:
    return week_digest()  # built once for both test files


@pytest.fixture(scope="module")
def scoped() -> dict[str, Any]:
    with open_demo() as ls:
        return build_digest(ls, period="week", to=TO, tz=TZ, project=SCOPE)


# -- 11.2: a scoped brief is scoped everywhere, and proposes nothing that changes nothing ------------


def test_a_project_brief_is_scoped_in_every_section(scoped: dict[str, Any], week: dict[str, Any]) -> None:
    # The store-wide brief opens with the Skyline bot burst; the Palm Grove brief must not.
    assert week["actions"][0]["category"] == "incident" and BURST["project"] in week["actions"][0]["title"]
    a = scoped["anomalies"]
    assert a["filters"] == [["is", "project", [SCOPE]]]
    assert not any("project" in x["segment"] for x in a["anomalies"])  # the fixed project is not split
    assert all(BURST["project"] not in i["headline"] for i in a["incidents"])
    assert not any(x["category"] == "incident" for x in scoped["actions"])
    with open_demo() as ls:
        flt = [["is", "project", [SCOPE]]]
        totals = ls.report("2026-02-23", TO, timezone=TZ, filters=flt).totals
        hourly = ls.report("2026-01-05", TO, timezone=TZ, bucket="60m", filters=flt).totals
    assert scoped["kpis"]["primary"]["value"] == totals["primary"]
    assert scoped["focus"]["baseline"]["primary"] == totals["primary"]
    assert scoped["windows"]["hourly_mean"]["hot"] * 8 * 168 == pytest.approx(hourly["hot"], rel=0.01)
    assert scoped["forecast"]["next_7_days"]["expected"] < 0.2 * week["forecast"]["next_7_days"]["expected"]
    # "put first calls on Palm Grove (100% of all hot leads)" changes nothing in a Palm Grove brief.
    assert not any(x["category"] == "team" for x in scoped["actions"])
    assert not any("100%" in x["detail"] for x in scoped["actions"])
    md = render_markdown(scoped)
    assert f"project {SCOPE} only" in md and "100% of all hot leads" not in md


def test_the_day_brief_says_which_window_each_figure_comes_from() -> None:
    with open_demo() as ls:
        doc = build_digest(ls, period="day", to=TO, tz=TZ)
    md = render_markdown(doc)
    assert "Period: Sun 1 Mar (Asia/Kolkata), compared with the day before (Sat 28 Feb)." in md
    assert "## Key numbers (Sun 1 Mar against Sat 28 Feb)" in md
    assert "## Focus list (the 7 days Mon 23 Feb – Sun 1 Mar)" in md
    assert "## Best time windows (the 8 weeks Mon 5 Jan – Sun 1 Mar)" in md
    assert "## Anomalies (Sun 1 Mar, against the 6 weeks before)" in md
    assert "## Forecast (actual leads, Mon 2 Mar – Sun 8 Mar)" in md
    for action in doc["actions"]:
        assert action["when"] and action["when"] in action["detail"] or action["category"] == "incident"
    pause = next(x for x in doc["actions"] if x["title"].startswith("Pause"))
    assert pause["detail"].startswith("In the 7 days Mon 23 Feb – Sun 1 Mar: ")  # not the day's figures


# -- 15.9: plain words -----------------------------------------------------------------------------


def test_words_for_segments_and_local_spans() -> None:
    assert segment_name({"utm_campaign": "mega_sale_broad"}) == "campaign mega_sale_broad"
    assert segment_name({"source": "direct"}) == "source direct"
    assert segment_name({"project": "Skyline", "country": "IN"}) == "project Skyline in country IN"
    assert segment_name({"utm_campaign": None}) == "traffic without a campaign"
    assert span_words("2026-11-29T01:00:00+05:30", "2026-11-29T04:00:00+05:30") == "Sun 29 Nov, 01:00–04:00"
    assert span_words("2026-11-28T22:00:00+05:30", "2026-11-29T02:00:00+05:30") == \
        "Sat 28 Nov 22:00 – Sun 29 Nov 02:00"
    assert span_words("2026-11-23T00:00:00+05:30", "2026-11-30T00:00:00+05:30") == "Mon 23 Nov – Sun 29 Nov"


def test_the_brief_and_insights_read_in_plain_words(week: dict[str, Any]) -> None:
    md = render_markdown(week)
    assert not re.search(r"\b(utm_campaign|source|project|country)=", md), md
    assert "{'" not in md and "T01:00" not in md and "2026-02-27 01:00" not in md
    assert "Fri 27 Feb, 01:00–04:00" in md
    assert f"campaign {LOW}" in md and "source direct" in md
    assert "typical error" in md and "a same-weekday guess" in md and "band held on" in md
    titles = [a["title"] for a in week["actions"]]
    assert f"Pause or rework campaign {LOW}" in titles and f"Scale campaign {HOT}" in titles
    for action in week["actions"]:  # the title names the segments; the detail does not repeat them
        named = [w for w in (LOW, HOT, "source direct", BURST["project"]) if w in action["title"]]
        assert not any(w in action["detail"] for w in named), action
        assert action["detail"].count(": ") <= 2 and "pause:" not in action["detail"]
    incident = week["anomalies"]["incidents"][0]
    assert incident["headline"].startswith("Fri 27 Feb, 01:00–04:00: ")
    assert f"project {BURST['project']}" in incident["headline"]
    item = next(i for i in week["focus"]["items"] if i["label"] == f"utm_campaign={LOW}")
    assert item["name"] == f"campaign {LOW}" and item["reason"].startswith(f"campaign {LOW}: ")


def test_cli_forecast_prints_error_and_coverage_in_words() -> None:
    result = CliRunner().invoke(app, ["insights", "forecast", "--to", TO, "--format", "table", "--db", demo_db()])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "{'" not in out and "backtest MAPE: daily" not in out
    assert re.search(r"typical error \d+\.\d% on the last 4 weeks \(a same-weekday guess: \d+\.\d%\); "
                     r"the 80% band held on \d+% of held-out days", out), out


# -- 15.10: forecast intervals that hold -----------------------------------------------------------


def test_the_80_percent_band_covers_70_to_90_percent_of_held_out_days() -> None:
    week_shape = np.array([100, 110, 105, 100, 95, 60, 55], float) * 4
    inside = total = 0
    reported: list[float] = []
    for seed in range(30):
        rng = np.random.default_rng(seed)
        mean = np.tile(week_shape, 9) * np.linspace(1.0, 1.1, 63)  # growth, weekly cycle
        y = rng.negative_binomial(20, 20 / (20 + mean)).astype(float)  # overdispersed counts
        doc = forecast_series(y[:56], period=7, horizon=7, folds=4, step=7)
        assert doc["coverage"] == doc["backtest"]["coverage"][doc["model"]]
        reported.append(doc["coverage"])
        for point, actual in zip(doc["points"], y[56:], strict=True):
            inside += point["low"] <= actual <= point["high"]
            total += 1
    assert 0.70 <= inside / total <= 0.90, inside / total  # the band holds on days it never saw
    assert 70 <= float(np.mean(reported)) <= 90  # and the backtest measures that


def test_demo_forecast_reports_its_coverage() -> None:
    with open_demo() as ls:
        from leadstats.insights import forecast

        doc = forecast(ls, "2026-02-23", tz=TZ)
    for part in (doc["daily"], doc["hourly"]):
        assert 60 <= part["coverage"] <= 95 and "band held on" in part["accuracy"]


# -- 15.11: a few distinct ad windows; one night's burst is not a junk hour ---------------------------


def _hour_events(prefix: str, at: datetime, primary: int, hot: int, bots: int = 0) -> list[dict[str, Any]]:
    out = []
    for i in range(primary):
        out.append({"event_id": f"{prefix}-p{i}", "event_type": "primary", "project": "Alpha",
                    "occurred_at": (at + timedelta(seconds=i * 3600 // max(primary, 1))).isoformat(),
                    "engagement_label": "Hot" if i < hot else "Warm"})
    for i in range(bots):
        out.append({"event_id": f"{prefix}-b{i}", "event_type": "bot", "project": "Alpha",
                    "occurred_at": (at + timedelta(seconds=i * 3600 // max(bots, 1))).isoformat()})
    return out


def test_ad_windows_are_a_few_distinct_hours_and_a_one_night_burst_is_not_junk(ls: LeadStats) -> None:
    first = date(2026, 1, 5)  # a Monday; six weeks
    events: list[dict[str, Any]] = []
    for d in range(42):
        day = first + timedelta(days=d)
        for hour in range(24):
            at = datetime(day.year, day.month, day.day, hour, tzinfo=IST)
            if 9 <= hour <= 21:  # a long busy day with two sharper peaks
                hot = 9 if hour in (11, 12, 19, 20) else 6
                events += _hour_events(f"{day}-{hour}", at, 12, hot)
            elif hour == 3:  # every night at 03:00 bots are most of the traffic
                events += _hour_events(f"{day}-{hour}", at, 2, 0, bots=8)
            else:
                events += _hour_events(f"{day}-{hour}", at, 2, 0)
    burst = datetime(2026, 1, 30, 1, tzinfo=IST)  # one Friday night only
    events += _hour_events("burst", burst, 0, 0, bots=400)
    assert ls.ingest(events).accepted == len(events)
    doc = best_windows(ls, "2026-01-05", "2026-02-16", tz=TZ)
    peaks = doc["peak_hours"]
    assert 1 <= len(peaks) <= 3
    assert all(2 <= p["to_hour"] - p["from_hour"] <= 4 for p in peaks), peaks  # not one 13-hour block
    spans = sorted((p["from_hour"], p["to_hour"]) for p in peaks)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))  # separate, not touching
    ranked = [(p["expected_hot_per_hour"], p["expected_primary_per_hour"]) for p in peaks]
    assert ranked == sorted(ranked, reverse=True)
    assert any(p["from_hour"] <= 11 and p["to_hour"] >= 13 for p in peaks[:2])
    assert any(p["from_hour"] <= 19 and p["to_hour"] >= 21 for p in peaks[:2])
    junk = {(s["weekday"], s["hour"]) for s in doc["junk_slots"]}
    assert junk == {(wd, 3) for wd in range(1, 8)}  # the recurring night hour, every weekday
    assert (5, 1) not in junk  # one Friday's burst is an incident, not a junk hour
    fri1 = next(s for s in doc["slots"] if (s["weekday"], s["hour"]) == (5, 1))
    assert fri1["bot_rate"] > 50 and fri1["typical_bot_rate"] == 0  # the mean would call it junk


# -- 15.12: anomaly strength against the trend -----------------------------------------------------


def _daily_series(values: list[int], first: datetime) -> Series:
    starts = [first + timedelta(hours=h) for h in range(24 * len(values))]
    counts = [dict.fromkeys(METRIC_NAMES, 0) for _ in starts]
    for d, v in enumerate(values):
        counts[24 * d + 10] = {**dict.fromkeys(METRIC_NAMES, 0), "received": v, "primary": v}
    return Series(starts, counts, {})


def test_a_week_on_a_growing_trend_is_not_a_sharp_rise() -> None:
    rng = np.random.default_rng(3)
    first = datetime(2026, 1, 5, tzinfo=IST)
    # Six weeks growing 1% a week with little noise, then a week 12% above the last one.
    base = [round(2000 * 1.01 ** (d // 7) + rng.normal(0, 5)) for d in range(42)]
    judged = [round(2000 * 1.01 ** 5 * 1.12 + rng.normal(0, 5)) for _ in range(7)]
    series = _daily_series(base + judged, first)
    start = first + timedelta(days=42)
    found = detect(series, granularity="hour", start=start, end=start + timedelta(days=7))
    assert all(a["severity"] == "low" for a in found), [a["description"] for a in found]
    assert not any("sharply" in i["headline"] for i in incidents(found))
    assert weekly_trend([14000 * 1.01 ** w for w in range(6)]) == pytest.approx(1.01, abs=1e-6)
    assert weekly_trend([14000.0] * 6) == 1.0
    assert weekly_trend([100.0, 104, 97, 103, 99, 106]) == 1.0  # noise, not a trend
    # A real spike on the same trend still reads as one.
    spiked = judged.copy()
    spiked[3] = 3 * spiked[3]
    found = detect(_daily_series(base + spiked, first), granularity="hour", start=start,
                   end=start + timedelta(days=7))
    high = [i for i in incidents(found) if i["severity"] == "high"]
    assert len(high) == 1 and "rose sharply" in high[0]["headline"]
    assert high[0]["headline"].startswith("Thu 19 Feb, 10:00–11:00: ")


# -- 15.13: partial buckets and a near-empty previous period ---------------------------------------


def test_partial_first_and_last_buckets_are_marked_in_the_cli_table(ls: LeadStats) -> None:
    ls.ingest([{"event_id": f"e{i}", "event_type": "primary", "occurred_at": f"2026-02-{3 + i:02d}T06:00:00Z"}
               for i in range(15)])
    result = ls.report("2026-02-03", "2026-02-18", timezone=TZ, bucket="1w")  # Tuesday to Wednesday
    starts = [r["bucket_start"] for r in result.rows]
    assert partial_buckets(result) == {starts[0], starts[-1]} and len(starts) == 3
    console = Console(width=200, record=True)
    console.print(render_table(result))
    text = console.export_text()
    assert "2026-02-02 *" in text and "2026-02-16 *" in text and "2026-02-09 *" not in text
    assert "partial bucket" in text
    assert json.loads(json.dumps(result.to_dict()))["rows"][0]["bucket_start"] == starts[0]  # JSON unchanged
    whole = ls.report("2026-02-02", "2026-02-16", timezone=TZ, bucket="1w")
    assert partial_buckets(whole) == set()
    hourly = ls.report("2026-02-03T10:30:00+05:30", "2026-02-03T13:00:00+05:30", timezone=TZ, bucket="60m")
    assert partial_buckets(hourly) == {hourly.rows[0]["bucket_start"]}


def test_a_near_empty_previous_period_reads_new() -> None:
    block = {"value": 25638, "previous": 1, "change": 25637, "change_pct": 2563700.0}
    assert _change_cell("received", block) == "new"
    assert _change_cell("received", {"value": 5, "previous": 0, "change": 5, "change_pct": None}) == "new"
    assert _change_cell("received", {"value": 120, "previous": 100, "change": 20, "change_pct": 20.0}) == \
        "+20 (+20.0%)"
