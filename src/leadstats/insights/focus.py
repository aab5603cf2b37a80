"""The focus list: which segments to scale, fix or pause, and why, in numbers.

Method (pure, over report results split by one or two dimensions):

1. For each segment (``utm_campaign=x``, ``project=p × country=c``, ...) take its counts and compare its
   rates with the *rest* of the traffic (window totals minus the segment): ``hot_pct`` (hot / primary),
   ``bot_rate`` ((bot + blocked) / received), ``suspicious_pct`` and ``vpn_pct`` (per primary).
2. Each rate gets a Wilson interval at ``z`` (default 3, about 99.7%, because dozens of segments are
   tested at once). A segment is *better* on hot leads only when the lower bound of its hot rate beats the
   rest by ``min_lift`` (25% relative), *worse* when the upper bound falls short by the same margin; junk
   rates must exceed the rest by half again and by 3 points at the lower bound. A 3-lead segment at 100%
   hot has a lower bound near 40%, so it cannot outrank 300 leads at 60%.
3. Suggestion: ``scale`` (better hot rate, clean traffic), ``pause`` (worse hot rate *and* junk),
   ``fix`` (either problem alone, or good leads mixed with junk).
4. Rank by *impact* in leads, using the conservative bound: extra (or missing) hot leads against the
   rest's rate, or excess junk events. Volume matters as much as the rate gap.
5. Repeats are dropped: two names for the same traffic (a source that runs one campaign) become one item
   (``same_as``); a pair segment (``project × country``) whose signals its single-dimension parent already
   shows is dropped; and a broad segment flagged only because it contains a flagged narrower one (a source
   flagged because of one campaign) is dropped when the rest of it is fine (``explains`` on the narrow
   one), so the list says "pause the campaign", not "pause the whole source".

Segments with fewer than ``k`` events are never listed (k-anonymity).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ..model.report import ReportResult
from ..model.schema import METRIC_NAMES
from .common import fmt_int, fmt_pct, pct, rates, ratio, ratio_parts, resolve_window, segment_label, wilson

if TYPE_CHECKING:
    from ..service import LeadStats

FOCUS_DIMENSIONS: tuple[tuple[str, ...], ...] = (
    ("project",),
    ("source",),
    ("utm_campaign",),
    ("country",),
    ("city",),
    ("project", "country"),
    ("project", "source"),
    ("utm_campaign", "country"),
    ("source", "utm_campaign"),
)
JUNK_RATES: tuple[str, ...] = ("bot_rate", "suspicious_pct", "vpn_pct")
ACTIONS: tuple[str, ...] = ("scale", "fix", "pause")
DEFAULT_DAYS = 28


@dataclass(frozen=True)
class FocusOptions:
    """Thresholds of the focus list (see module doc)."""

    z: float = 3.0
    min_lift: float = 0.25  # hot rate at least 25% better / worse than the rest (relative)
    junk_factor: float = 1.5  # junk rate at least 1.5x the rest ...
    junk_points: float = 0.03  # ... and at least 3 points above it
    k: int = 5  # minimum events per listed segment


def _signals(seg: Mapping[str, int], rest: Mapping[str, int], opts: FocusOptions) -> tuple[list[str], float, dict]:
    """Which rates differ from the rest, the impact in leads, and the rate details."""
    details: dict[str, dict[str, float | None]] = {}
    signals: list[str] = []
    impact = 0.0
    for name in ("hot_pct", "actual_pct", *JUNK_RATES):
        num, den = ratio_parts(seg, name)
        rnum, rden = ratio_parts(rest, name)
        lo, hi = wilson(num, den, opts.z)
        base = ratio(rnum, rden)
        details[name] = {"value": pct(ratio(num, den)), "low": pct(lo) if den else None,
                         "high": pct(hi) if den else None, "rest": pct(base)}
        if not den or base is None:
            continue
        if name == "hot_pct":
            if lo > base * (1 + opts.min_lift):
                signals.append("high_hot")
                impact = max(impact, den * (lo - base))
            elif hi < base * (1 - opts.min_lift):
                signals.append("low_hot")
                impact = max(impact, den * (base - hi))
        elif name in JUNK_RATES and lo > max(base * opts.junk_factor, base + opts.junk_points):
            signals.append(f"high_{name.removesuffix('_pct').removesuffix('_rate')}")
            impact = max(impact, den * (lo - base))
    return signals, impact, details


def _action(signals: Sequence[str]) -> str | None:
    junk = any(s in signals for s in ("high_bot", "high_suspicious", "high_vpn"))
    if "high_hot" in signals:
        return "fix" if junk else "scale"
    if "low_hot" in signals:
        return "pause" if junk else "fix"
    return "fix" if junk else None


_WORDS = {"hot_pct": "hot", "bot_rate": "bots+blocked", "suspicious_pct": "suspicious", "vpn_pct": "VPN"}
_SIGNAL_RATE = {"high_hot": "hot_pct", "low_hot": "hot_pct", "high_bot": "bot_rate",
                "high_suspicious": "suspicious_pct", "high_vpn": "vpn_pct"}


def _verdict(action: str, signals: Sequence[str]) -> str:
    if action == "scale":
        return "scale: move budget and sales attention here"
    if action == "pause":
        return "pause: few hot leads and much junk"
    if "high_hot" in signals:
        return "fix: good leads mixed with junk, filter before scaling"
    if "high_bot" in signals:
        return "fix: block bots on this traffic (honeypot, rate limits)"
    if "low_hot" in signals and len(signals) == 1:
        return "fix: lead quality is low, refresh targeting and creative"
    return "fix: tighten targeting and verify these leads"


def _reason(label: str, counts: Mapping[str, int], share: float | None, signals: Sequence[str],
            details: Mapping[str, Mapping[str, float | None]], action: str) -> str:
    parts = [f"{label}: {fmt_int(counts['primary'])} actual leads ({fmt_pct(share)} of all)"]
    for sig in signals:
        name = _SIGNAL_RATE[sig]
        d = details[name]
        parts.append(f"{_WORDS[name]} {fmt_pct(d['value'])} vs {fmt_pct(d['rest'])} elsewhere")
    return ", ".join(parts) + f": {_verdict(action, signals)}"


def _counts(row: Mapping[str, Any]) -> dict[str, int]:
    return {m: int(row.get(m, 0)) for m in METRIC_NAMES}


# When two single-dimension segments hold exactly the same traffic (a source that runs one campaign),
# the one listed first here is kept and the other is named in ``same_as``.
_PRECEDENCE = ("utm_campaign", "project", "city", "country", "source")


def _dedupe(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats: identical traffic under two names, and pairs whose parent already says it all."""
    singles = sorted((i for i in items if len(i["segment"]) == 1),
                     key=lambda i: _PRECEDENCE.index(i["dimensions"][0])
                     if i["dimensions"][0] in _PRECEDENCE else len(_PRECEDENCE))
    kept: list[dict[str, Any]] = []
    for item in singles:
        twin = next((k for k in kept if k["counts"] == item["counts"] and k["action"] == item["action"]), None)
        if twin is None:
            item["same_as"] = []
            kept.append(item)
        else:
            twin["same_as"].append(item["label"])
            twin["reason"] = twin["reason"].replace(":", f" (same traffic as {item['label']}):", 1)
    by_key = {next(iter(i["segment"].items())): set(i["signals"]) for i in singles}
    for item in items:
        if len(item["segment"]) == 1:
            continue
        parents = [by_key.get(kv) for kv in item["segment"].items()]
        if any(p is not None and set(item["signals"]) <= p for p in parents):
            continue  # the pair adds nothing its parent has not said
        item["same_as"] = []
        kept.append(item)
    for item in kept:
        item.setdefault("explains", [])
    return kept


def _explain(items: list[dict[str, Any]], pairs: Mapping[tuple[str, str], ReportResult],
             totals: Mapping[str, int], opts: FocusOptions) -> list[dict[str, Any]]:
    """Drop a broad item whose flag comes from a narrower flagged item nested inside it (module doc, 5)."""
    singles = [i for i in items if len(i["segment"]) == 1]
    dropped: set[int] = set()
    for broad in singles:
        (bdim, bval), = broad["segment"].items()
        for narrow in singles:
            (ndim, nval), = narrow["segment"].items()
            if narrow is broad or ndim == bdim or narrow["action"] != broad["action"] \
                    or narrow["counts"]["primary"] >= broad["counts"]["primary"]:
                continue
            overlap = _pair_counts(pairs, (bdim, bval), (ndim, nval))
            if overlap is None or overlap["received"] < 0.9 * narrow["counts"]["received"]:
                continue  # not nested
            remainder = {m: broad["counts"][m] - overlap[m] for m in METRIC_NAMES}
            rest = {m: totals[m] - remainder[m] for m in METRIC_NAMES}
            if _action(_signals(remainder, rest, opts)[0]) is None:
                dropped.add(id(broad))
                narrow.setdefault("explains", []).append(broad["label"])
                narrow["reason"] += f" (it is also why {broad['label']} looks poor)"
                break
    return [i for i in items if id(i) not in dropped]


def _pair_counts(pairs: Mapping[tuple[str, str], ReportResult], a: tuple[str, Any],
                 b: tuple[str, Any]) -> dict[str, int] | None:
    for (d1, d2), result in pairs.items():
        if {d1, d2} != {a[0], b[0]}:
            continue
        want = {a[0]: a[1], b[0]: b[1]}
        out = dict.fromkeys(METRIC_NAMES, 0)
        for row in result.rows:
            if row.get(d1) == want[d1] and row.get(d2) == want[d2]:
                for m in METRIC_NAMES:
                    out[m] += int(row.get(m, 0))
        return out
    return None


def rank_segments(
    results: Iterable[ReportResult],
    *,
    options: FocusOptions | None = None,
    limit: int | None = 10,
) -> dict[str, Any]:
    """The focus list from reports split by one or two dimensions (no bucket), all over one window.

    Returns ``{"baseline", "items", "segments_evaluated", "method"}``; ``items`` are ranked by impact.
    """
    opts = options or FocusOptions()
    items: list[dict[str, Any]] = []
    totals: dict[str, int] | None = None
    evaluated = 0
    pairs: dict[tuple[str, str], ReportResult] = {}
    for result in results:
        dims = list(result.query.dimensions)
        totals = dict(result.totals)
        if len(dims) == 2:
            pairs[(dims[0], dims[1])] = result
        for row in result.rows:
            counts = _counts(row)
            if counts["received"] < opts.k:
                continue
            evaluated += 1
            rest = {m: totals[m] - counts[m] for m in METRIC_NAMES}
            signals, impact, details = _signals(counts, rest, opts)
            action = _action(signals)
            if action is None:
                continue
            segment = {d: row.get(d) for d in dims}
            share = pct(ratio(counts["primary"], totals["primary"]))
            label = segment_label(segment)
            items.append({
                "segment": segment,
                "label": label,
                "dimensions": dims,
                "action": action,
                "signals": signals,
                "impact": round(impact, 1),
                "reason": _reason(label, counts, share, signals, details, action),
                "share_of_primary": share,
                "counts": counts,
                "rates": details,
            })
    items = _explain(_dedupe(items), pairs, totals or {}, opts)
    items.sort(key=lambda i: (-i["impact"], i["label"]))
    for rank, item in enumerate(items, 1):
        item["rank"] = rank
    baseline = dict(totals or dict.fromkeys(METRIC_NAMES, 0))
    return {
        "baseline": {**baseline, **rates(baseline)},
        "items": items if limit is None else items[:limit],
        "flagged": len(items),
        "segments_evaluated": evaluated,
        "method": {"z": opts.z, "min_lift": opts.min_lift, "junk_factor": opts.junk_factor,
                   "junk_points": opts.junk_points, "k": opts.k,
                   "compared_with": "the rest of the traffic in the same window"},
    }


def focus(
    ls: LeadStats,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    *,
    tz: str | None = None,
    dimensions: Sequence[Sequence[str]] = FOCUS_DIMENSIONS,
    limit: int | None = 10,
    options: FocusOptions | None = None,
    filters: Any = None,
) -> dict[str, Any]:
    """Run the reports behind the focus list and rank the segments (default: the last 28 full days).

    >>> import leadstats
    >>> ls = leadstats.connect(":memory:")
    >>> focus(ls, "2026-03-01", "2026-03-08")["items"]
    []
    """
    window = resolve_window(start, end, tz or ls.settings.timezone, default_days=DEFAULT_DAYS)
    opts = options or FocusOptions(k=ls.settings.k_anonymity)
    results = [ls.run(window.query(dimensions=list(dims), filters=filters)) for dims in dimensions]
    doc = rank_segments(results, options=opts, limit=limit)
    return {"window": window.to_dict(), **doc}
