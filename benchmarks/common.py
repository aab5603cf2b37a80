"""Shared benchmark helpers: build a store of N demo-like events, time things, print figures."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import leadstats
from leadstats.demo import DemoSpec, build

# A fixed end keeps runs comparable: 90 days of data ending 2026-09-30 00:00 IST.
END = datetime(2026, 9, 29, 18, 30, tzinfo=UTC)
AGG = (
    "count(*) AS received, count_if(event_type IN ('primary','follow_up')) AS submissions, "
    "count_if(event_type='primary') AS \"primary\", count_if(event_type='follow_up') AS follow_up, "
    "count_if(event_type='test') AS test, count_if(event_type='blocked') AS blocked, "
    "count_if(event_type='bot') AS bot, count_if(event_type='primary' AND vpn) AS vpn, "
    "count_if(event_type='primary' AND suspicion_score >= 40) AS suspicious, "
    "count_if(event_type='primary' AND engagement_label IN ('Hot','Very Hot')) AS hot"
)


def store_for(path: str, events: int, days: int = 90, seed: int = 11) -> tuple[leadstats.LeadStats, float]:
    """Open ``path``, building it with ``events`` events first if it is not there; returns build seconds."""
    fresh = not os.path.exists(path)
    ls = leadstats.connect(path)
    took = 0.0
    if fresh:
        started = time.perf_counter()
        build(ls, DemoSpec(events=events, days=days, end=END, seed=seed), None)
        took = time.perf_counter() - started
    return ls, took


def median_ms(fn: Callable[[], Any], runs: int = 7, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def window(days: int) -> tuple[str, str]:
    end = (END + timedelta(hours=5, minutes=30)).date()
    return str(end - timedelta(days=days)), str(end)
