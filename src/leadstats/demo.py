"""A realistic synthetic lead dataset, for trying leadstats and for testing the insight layer.

Everything is drawn with numpy from fixed distributions and a seed, so the same arguments give the same
events. What is planted (and what ``insights`` must find) is listed in :data:`PLANTED`:

- ``low_quality_campaign``: a high-volume campaign (about a fifth of actual leads) with few hot leads,
  many suspicious and VPN leads and extra bots;
- ``hot_campaign``: a small campaign (about 1-2% of actual leads) where most leads are hot;
- ``bot_burst``: three hours of bot traffic at night on one project and source, three days before the end.

The daily cycle peaks in Indian business hours (11:00-13:00 and 18:00-21:00 IST), weekends are quieter,
bots and blocked IPs come at any hour (so they dominate the night), and volume grows slowly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .ingest.validate import STORE_SCHEMA
from .model.timegrid import US, to_us, zone
from .service import IngestResult, LeadStats

DEMO_TZ = "Asia/Kolkata"

PLANTED: dict[str, Any] = {
    "low_quality_campaign": "mega_sale_broad",
    "hot_campaign": "founders_circle",
    "bot_burst": {
        "project": "Skyline Residences",
        "source": "direct",
        "days_before_end": 3,
        "local_hours": (1, 4),
        "share_of_events": 0.01,
    },
}

PROJECTS = (
    ("Skyline Residences", 0.27),
    ("Green Valley", 0.22),
    ("Harbor Point", 0.17),
    ("Orchid Heights", 0.14),
    ("Metro Lofts", 0.12),
    ("Palm Grove", 0.08),
)
# (source, utm_medium, campaign, weight); the planted campaigns are listed by name.
CAMPAIGNS = (
    ("google", "cpc", "brand_search", 0.17),
    ("google", "cpc", "generic_search", 0.14),
    ("google", "cpc", "pmax_projects", 0.09),
    ("meta", "paid_social", "lookalike_buyers", 0.12),
    ("meta", "paid_social", "retarget_visitors", 0.08),
    ("meta", "paid_social", "mega_sale_broad", 0.22),
    ("linkedin", "paid_social", "founders_circle", 0.015),
    ("bing", "cpc", "brand_search", 0.03),
    ("email", "email", "monthly_newsletter", 0.035),
    ("direct", None, None, 0.06),
    ("referral", "referral", None, 0.03),
)
GEO = (  # country, phone code, weight, ((region, city, weight), ...)
    (
        "IN",
        "+91",
        0.78,
        (
            ("Maharashtra", "Mumbai", 0.24),
            ("Maharashtra", "Pune", 0.12),
            ("Karnataka", "Bengaluru", 0.17),
            ("Delhi", "New Delhi", 0.12),
            ("Telangana", "Hyderabad", 0.10),
            ("Tamil Nadu", "Chennai", 0.08),
            ("West Bengal", "Kolkata", 0.05),
            ("Gujarat", "Ahmedabad", 0.05),
            ("Haryana", "Gurugram", 0.04),
            ("Uttar Pradesh", "Noida", 0.03),
        ),
    ),
    ("AE", "+971", 0.06, (("Dubai", "Dubai", 0.8), ("Abu Dhabi", "Abu Dhabi", 0.2))),
    ("US", "+1", 0.04, (("California", "San Jose", 0.4), ("New York", "New York", 0.35), ("Texas", "Austin", 0.25))),
    ("GB", "+44", 0.03, (("England", "London", 0.8), ("England", "Manchester", 0.2))),
    ("SG", "+65", 0.025, (("Singapore", "Singapore", 1.0),)),
    ("SA", "+966", 0.02, (("Riyadh", "Riyadh", 0.6), ("Makkah", "Jeddah", 0.4))),
    ("QA", "+974", 0.015, (("Doha", "Doha", 1.0),)),
    ("CA", "+1", 0.015, (("Ontario", "Toronto", 1.0),)),
    ("AU", "+61", 0.01, (("New South Wales", "Sydney", 1.0),)),
    (None, None, 0.005, ((None, None, 1.0),)),
)
CTAS = ("hero_enquire", "pricing_callback", "brochure_download", "whatsapp_chat", "site_visit")
PAGES = ("", "pricing", "floor-plans", "offers", "contact")
# Relative lead volume per local hour (IST): quiet nights, late-morning and evening peaks.
HOURLY = np.array(
    [
        0.6,
        0.4,
        0.3,
        0.25,
        0.25,
        0.35,
        0.6,
        1.0,
        1.8,
        2.8,
        3.6,
        4.4,
        4.6,
        4.0,
        3.5,
        3.3,
        3.4,
        3.8,
        4.5,
        4.8,
        4.6,
        3.8,
        2.6,
        1.4,
    ]
)
WEEKDAY = np.array([1.0, 1.03, 1.02, 1.0, 0.95, 0.72, 0.68])  # Monday..Sunday
TYPES = np.array(["primary", "follow_up", "test", "blocked", "bot"])


@dataclass(frozen=True)
class DemoSpec:
    events: int = 1_000_000
    days: int = 90
    end: datetime | None = None  # default: now
    seed: int = 7


def _pick(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    p = weights / weights.sum()
    return rng.choice(len(p), size=n, p=p)


def _local_times(
    rng: np.random.Generator, n: int, start_us: int, end_us: int, hourly: np.ndarray, offset_us: int
) -> np.ndarray:
    """n instants in [start, end), distributed by local hour-of-day, weekday and a slow growth trend."""
    day0 = (start_us + offset_us) // (86_400 * US)
    day1 = (end_us + offset_us) // (86_400 * US)
    days = np.arange(day0, day1 + 1)
    weekday = (days + 3) % 7
    growth = np.linspace(0.85, 1.15, len(days))
    slot_w = (WEEKDAY[weekday] * growth)[:, None] * hourly[None, :]
    slots = _pick(rng, slot_w.ravel(), n)
    local = (days[slots // 24] * 86_400 + (slots % 24) * 3600) * US + rng.integers(0, 3600 * US, n)
    utc = local - offset_us
    utc = np.where((utc < start_us) | (utc >= end_us), rng.integers(start_us, end_us, n), utc)
    return np.asarray(utc, dtype=np.int64)


@dataclass
class _Draw:
    """Every per-event draw of one demo dataset (numpy arrays of length ``events``)."""

    etype: np.ndarray
    ts: np.ndarray
    project: np.ndarray
    camp: np.ndarray
    low: np.ndarray
    hot: np.ndarray
    place: np.ndarray
    width: int
    label: np.ndarray
    vpn: np.ndarray
    score: np.ndarray
    page: np.ndarray
    cta: np.ndarray
    lead: np.ndarray


def _draw_traffic(rng: np.random.Generator, spec: DemoSpec, start_us: int, end_us: int,
                  offset: int) -> dict[str, np.ndarray]:
    """Campaign, event type, time and project of every event, the planted bot burst appended last."""
    n = spec.events
    burst = PLANTED["bot_burst"]
    n_burst = int(n * burst["share_of_events"])
    n_main = n - n_burst
    camp = _pick(rng, np.array([c[3] for c in CAMPAIGNS]), n_main)
    low_q = np.array([c[2] == PLANTED["low_quality_campaign"] for c in CAMPAIGNS])[camp]
    hot_c = np.array([c[2] == PLANTED["hot_campaign"] for c in CAMPAIGNS])[camp]
    # Event types: bots and blocked IPs arrive at any hour; the planted low-quality campaign draws more.
    type_p = np.where(low_q[:, None], [0.50, 0.14, 0.005, 0.055, 0.30], [0.64, 0.22, 0.012, 0.025, 0.103])
    u = rng.random(n_main)
    etype = (u[:, None] > np.cumsum(type_p, axis=1)).sum(axis=1)
    human = etype <= 2
    ts = np.empty(n_main, np.int64)
    ts[human] = _local_times(rng, int(human.sum()), start_us, end_us, HOURLY, offset)
    ts[~human] = _local_times(rng, int((~human).sum()), start_us, end_us, np.ones(24), offset)
    # The bot burst: uniform over its local hours, three days before the end.
    burst_day = (end_us + offset) // (86_400 * US) - burst["days_before_end"]
    h0, h1 = burst["local_hours"]
    burst_ts = (burst_day * 86_400 + h0 * 3600) * US - offset + rng.integers(0, (h1 - h0) * 3600 * US, n_burst)
    project = np.concatenate([_pick(rng, np.array([p[1] for p in PROJECTS]), n_main), np.zeros(n_burst, int)])
    return {
        "project": project,
        "camp": np.concatenate([camp, np.full(n_burst, len(CAMPAIGNS))]),  # the burst: plain direct traffic
        "etype": np.concatenate([etype, np.full(n_burst, 4)]),
        "ts": np.concatenate([ts, burst_ts]),
        "low": np.concatenate([low_q, np.zeros(n_burst, bool)]),
        "hot": np.concatenate([hot_c, np.zeros(n_burst, bool)]),
    }


def _draw_places(rng: np.random.Generator, total: int) -> tuple[np.ndarray, int]:
    """Country and city of every event, as ``geo * width + city index``."""
    geo = _pick(rng, np.array([g[2] for g in GEO]), total)
    width = max(len(g[3]) for g in GEO)
    place = np.zeros(total, int)
    for gi, g in enumerate(GEO):
        mask = geo == gi
        place[mask] = gi * width + _pick(rng, np.array([c[2] for c in g[3]]), int(mask.sum()))
    return place, width


def _draw(spec: DemoSpec, start_us: int, end_us: int, offset: int) -> _Draw:
    rng = np.random.default_rng(spec.seed)
    t = _draw_traffic(rng, spec, start_us, end_us, offset)
    total = spec.events
    place, width = _draw_places(rng, total)
    # Quality: engagement, VPN and suspicion depend on the campaign.
    label_p = np.where(
        t["hot"][:, None],
        [0.05, 0.20, 0.45, 0.30],
        np.where(t["low"][:, None], [0.72, 0.24, 0.03, 0.01], [0.38, 0.36, 0.19, 0.07]),
    )
    label = np.minimum((rng.random(total)[:, None] > np.cumsum(label_p, axis=1)).sum(axis=1), 3)
    vpn = rng.random(total) < np.where(t["low"], 0.22, 0.05)
    suspicious_draw = rng.random(total) < np.where(t["low"], 0.42, 0.08)
    score = np.where(
        suspicious_draw,
        rng.integers(8, 20, total) * 5,
        np.where(rng.random(total) < 0.3, rng.integers(1, 8, total) * 5, 0),
    ).astype(float)
    page = rng.integers(0, len(PAGES), total)
    cta = rng.integers(0, len(CTAS), total)
    lead = rng.integers(0, 2**40, total)
    return _Draw(t["etype"], t["ts"], t["project"], t["camp"], t["low"], t["hot"], place, width, label, vpn,
                 score, page, cta, lead)


def _names(width: int) -> dict[str, list[Any]]:
    """The values the integer codes of a draw stand for."""
    places = [g[3][c] if c < len(g[3]) else (None, None, 0.0) for g in GEO for c in range(width)]
    return {
        "project": [p[0] for p in PROJECTS],
        "source": [c[0] for c in CAMPAIGNS] + ["direct"],
        "utm_medium": [c[1] for c in CAMPAIGNS] + [None],
        "utm_campaign": [c[2] for c in CAMPAIGNS] + [None],
        "referer": [f"https://{p[0].lower().replace(' ', '-')}.example.com/{page}" for p in PROJECTS for page in PAGES],
        "country": [g[0] for g in GEO for _ in range(width)],
        "phone": [g[1] for g in GEO for _ in range(width)],
        "region": [pl[0] for pl in places],
        "city": [pl[1] for pl in places],
    }


def _table(d: _Draw, idx: np.ndarray, names: dict[str, list[Any]], seed: int) -> pa.Table:
    """One batch (the events at ``idx``) in store schema."""
    submit = d.etype[idx] <= 1
    c = d.camp[idx]
    place = d.place[idx]
    has_utm = np.array([m is not None for m in names["utm_medium"]])[c]
    table = {
        "event_id": pc.binary_join_element_wise(f"demo-{seed}-", pc.cast(pa.array(idx), pa.string()), ""),
        "event_type": _codes(d.etype[idx], list(TYPES)),
        "occurred_at": pa.array(d.ts[idx], pa.timestamp("us")),
        "project": _codes(d.project[idx], names["project"]),
        "source": _codes(c, names["source"]),
        "referer": _codes(d.project[idx] * len(PAGES) + d.page[idx], names["referer"]),
        "cta": _codes(d.cta[idx], list(CTAS), ~submit),
        "utm_source": _codes(c, names["source"], ~has_utm),
        "utm_medium": _codes(c, names["utm_medium"]),
        "utm_campaign": _codes(c, names["utm_campaign"]),
        "utm_term": pa.nulls(len(idx), pa.string()),
        "utm_content": pa.nulls(len(idx), pa.string()),
        "engagement_label": _codes(d.label[idx], ["Cold", "Warm", "Hot", "Very Hot"], ~submit),
        "vpn": pa.array(d.vpn[idx], mask=~submit),
        "suspicion_score": pa.array(d.score[idx], mask=~submit),
        "country": _codes(place, names["country"]),
        "region": _codes(place, names["region"]),
        "city": _codes(place, names["city"]),
        "phone_country_code": _codes(place, names["phone"], ~submit),
        "lead_id": pa.array(np.char.mod("%010x", d.lead[idx]), mask=~submit),
        "weight": np.ones(len(idx), np.int64),
    }
    return pa.table(table, schema=STORE_SCHEMA)


def generate(spec: DemoSpec, batch_size: int = 250_000) -> Iterator[pa.Table]:
    """Yield the demo events as store-schema Arrow tables, in time order (``lead_id`` raw: the ingest
    pipeline hashes it like any other)."""
    end = spec.end or datetime.now(UTC)
    end_us = to_us(end if end.tzinfo else end.replace(tzinfo=UTC))
    start_us = end_us - spec.days * 86_400 * US
    offset = 19_800 * US  # IST has no DST: one constant offset
    d = _draw(spec, start_us, end_us, offset)
    names = _names(d.width)
    order = np.argsort(d.ts, kind="stable")
    for lo in range(0, spec.events, batch_size):
        yield _table(d, order[lo : lo + batch_size], names, spec.seed)


def _codes(codes: np.ndarray, values: list[Any], null: np.ndarray | None = None) -> pa.Array:
    """Strings from small integer codes (a dictionary decode), null where ``null`` is true."""
    indices = pa.array(codes.astype(np.int32), mask=null)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, pa.string())).cast(pa.string())


def build(ls: LeadStats, spec: DemoSpec, progress: Callable[[int], None] | None = None) -> IngestResult:
    """Store the demo events through the ingest pipeline (valid by construction: no validation pass)."""
    result = IngestResult()
    for table in generate(spec):
        result.add_result(ls.ingest_rows(table))
        if progress:
            progress(table.num_rows)
    return result


def demo_window(spec: DemoSpec) -> tuple[datetime, datetime]:
    end = spec.end or datetime.now(UTC)
    return end - timedelta(days=spec.days), end


__all__ = ["DEMO_TZ", "PLANTED", "DemoSpec", "build", "generate", "zone"]
