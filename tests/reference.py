"""A plain-Python reading of CONTRACT §2-§4, written independently of the engine, for property tests.

Deliberately naive: bucket starts are found by walking back minute by minute over real UTC instants
and checking the local wall clock with zoneinfo, exactly as the contract words it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

METRICS = ["received", "submissions", "primary", "follow_up", "test", "blocked", "bot", "vpn", "suspicious", "hot"]
WIDTH_MIN = {"15m": 15, "30m": 30, "60m": 60, "2h": 120, "3h": 180, "4h": 240, "6h": 360, "12h": 720}


def metrics_of(e: dict[str, Any], smin: float) -> dict[str, int]:
    t = e["event_type"]
    prim = t == "primary"
    return {
        "received": 1,
        "submissions": int(t in ("primary", "follow_up")),
        "primary": int(prim),
        "follow_up": int(t == "follow_up"),
        "test": int(t == "test"),
        "blocked": int(t == "blocked"),
        "bot": int(t == "bot"),
        "vpn": int(prim and e.get("vpn") is True),
        "suspicious": int(prim and e.get("suspicion_score") is not None and e["suspicion_score"] >= smin),
        "hot": int(prim and e.get("engagement_label") in ("Hot", "Very Hot")),
    }


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def first_instant_of(day: date, tz: ZoneInfo) -> datetime:
    t = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=30)
    while t.astimezone(tz).date() < day:
        t += timedelta(minutes=15)
    return t


def bucket_start(t: datetime, bucket: str, tz: ZoneInfo) -> datetime:
    local = t.astimezone(tz)
    if bucket in WIDTH_MIN:
        width = WIDTH_MIN[bucket]
        cand = t.replace(second=0, microsecond=0)
        while True:
            wall = cand.astimezone(tz)
            if (wall.hour * 60 + wall.minute) % width == 0:
                return cand
            cand -= timedelta(minutes=1)
    d = local.date()
    if bucket == "1w":
        d -= timedelta(days=d.weekday())
    elif bucket == "1mo":
        d = d.replace(day=1)
    return first_instant_of(d, tz)


def all_buckets(start: datetime, end: datetime, bucket: str, tz: ZoneInfo) -> list[datetime]:
    out = {bucket_start(start, bucket, tz)}
    if bucket in WIDTH_MIN:
        t = start.replace(second=0, microsecond=0)
        while t < end:
            if t >= start:
                wall = t.astimezone(tz)
                if (wall.hour * 60 + wall.minute) % WIDTH_MIN[bucket] == 0:
                    out.add(t)
            t += timedelta(minutes=1)
    else:
        t = start
        while t < end:
            out.add(bucket_start(t, bucket, tz))
            t += timedelta(hours=1)
        out.add(bucket_start(end - timedelta(microseconds=1), bucket, tz))
    return sorted(out)


def dim_value(e: dict[str, Any], dim: str, tz: ZoneInfo) -> Any:
    local = parse_utc(e["occurred_at"]).astimezone(tz)
    if dim == "hour_of_day":
        return local.hour
    if dim == "weekday":
        return local.isoweekday()
    if dim == "vpn_suspected":  # CONTRACT §3: the event field vpn as a dimension
        return e.get("vpn")
    return e.get(dim)


def passes(e: dict[str, Any], flt: list[Any], tz: ZoneInfo) -> bool:
    op, dim, values = flt
    v = dim_value(e, dim, tz)
    if op == "is":
        return v in values
    if op == "is_not":
        return v not in values
    return v is not None and any(str(x).lower() in str(v).lower() for x in values)


def iso(t: datetime, tz: ZoneInfo) -> str:
    return t.astimezone(tz).isoformat()


def evaluate(events: list[dict[str, Any]], q: dict[str, Any]) -> dict[str, Any]:
    tz = ZoneInfo(q["timezone"])
    start, end = parse_utc(q["from"]), parse_utc(q["to"])
    bucket, dims, smin = q.get("bucket"), q.get("dimensions", []), q.get("suspicious_min", 40)
    groups: dict[tuple[Any, ...], dict[str, int]] = {}
    for e in events:
        t = parse_utc(e["occurred_at"])
        if not (start <= t < end) or not all(passes(e, f, tz) for f in q.get("filters", [])):
            continue
        key = ((bucket_start(t, bucket, tz),) if bucket else ()) + tuple(dim_value(e, d, tz) for d in dims)
        acc = groups.setdefault(key, dict.fromkeys(METRICS, 0))
        for k, v in metrics_of(e, smin).items():
            acc[k] += v
    if not dims:
        keys = [(b,) for b in all_buckets(start, end, bucket, tz)] if bucket else [()]
        items = [(k, groups.get(k, dict.fromkeys(METRICS, 0))) for k in keys]
    else:
        items = sorted(
            groups.items(),
            key=lambda kv: (
                kv[0][0] if bucket else 0,
                -kv[1]["received"],
                tuple((1, "") if x is None else (0, x) for x in kv[0][int(bool(bucket)) :]),
            ),
        )
    rows = []
    for key, m in items:
        row: dict[str, Any] = {}
        if bucket:
            row["bucket_start"] = iso(key[0], tz)
        row.update(zip(dims, key[int(bool(bucket)) :], strict=True))
        row.update(m)
        rows.append(row)
    totals = dict.fromkeys(METRICS, 0)
    for _k, m in items:
        for name in METRICS:
            totals[name] += m[name]
    return {"rows": rows, "totals": totals}
