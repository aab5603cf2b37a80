"""The focus list: which segments to scale, fix or pause, and why, in numbers.

Method (pure, over report results split by one or two dimensions):

1. For each segment (``utm_campaign=x``, ``project=p × country=c``, ...) take its counts and compare its
   rates with the *typical* segment of the same split: the interquartile mean of the segments' rates,
   weighted by volume (the middle half of the traffic). ``hot_pct`` (hot / primary), ``bot_rate``
   ((bot + blocked) / received), ``suspicious_pct`` and ``vpn_pct`` (per primary). Not the window total:
   one big bad campaign drags the total down and would make every ordinary source look "better". A pair
   segment is compared with the typical pair *and* its two parents (the larger of them for "higher than",
   the smaller for "lower than"), so it is listed only for what its parents do not already explain.
2. Each rate gets a Wilson interval at ``z``: by default the Bonferroni bound for a 5% family-wise error
   over every segment × rate tested (about 4 for 250 segments), so testing hundreds of segments does not
   flag a few by chance. A segment is *better* on hot leads only when the lower bound of its hot rate beats the
   typical rate by ``min_lift`` (25% relative), *worse* when the upper bound falls short by the same
   margin; junk rates must exceed the typical rate by half again and by 3 points at the lower bound.
   A 3-lead segment at 100% hot has a lower bound near 40%, so it cannot outrank 300 leads at 60%.
3. Suggestion: ``scale`` (better hot rate, clean traffic), ``pause`` (worse hot rate *and* junk),
   ``fix`` (either problem alone, or good leads mixed with junk).
4. Rank by *impact* in leads, using the conservative bound: extra (or missing) hot leads against the
   typical rate, or excess junk events. Volume matters as much as the rate gap.
5. Repeats are dropped: two names for the same traffic (a source that runs one campaign) become one item
   (``same_as``); a pair segment (``project × country``) whose signals its single-dimension parent already
   shows is dropped; and a broad segment flagged only because it contains a flagged narrower one (a source
   flagged because of one campaign) is dropped when the rest of it is fine (``explains`` on the narrow
   one), so the list says "pause the campaign", not "pause the whole source".

Segments with fewer than ``k`` events are never listed (k-anonymity).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from ..model.report import ReportResult
from ..model.schema import METRIC_NAMES
from .common import fmt_int, fmt_pct, pct, rates, ratio, ratio_parts, resolve_window, segment_label, wilson
from .words import and_list, segment_name

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

    z: float | None = None  # None: Bonferroni over all tests, family-wise error ``alpha``
    alpha: float = 0.05
    min_lift: float = 0.25  # hot rate at least 25% better / worse than typical (relative)
    junk_factor: float = 1.5  # junk rate at least 1.5x typical ...
    junk_points: float = 0.03  # ... and at least 3 points above it
    k: int = 5  # minimum events per listed segment


RATE_NAMES: tuple[str, ...] = ("hot_pct", "actual_pct", *JUNK_RATES)
Baseline = Mapping[str, tuple[float | None, float | None]]  # rate -> (compare "higher" with, "lower" with)


def typical_rates(rows: Iterable[Mapping[str, Any]], k: int) -> dict[str, float | None]:
    """Per rate: the interquartile mean of the segments' rates (``received >= k``), weighted by the rate's
    denominator: the pooled rate of the middle half of the traffic once sorted by rate."""
    kept = [r for r in rows if int(r.get("received", 0)) >= k]
    out: dict[str, float | None] = {}
    for name in RATE_NAMES:
        points = sorted((num / den, den) for num, den in (ratio_parts(r, name) for r in kept) if den > 0)
        total = sum(w for _v, w in points)
        lo_cut, hi_cut = total / 4, 3 * total / 4
        acc = num_sum = weight_sum = 0.0
        for value, weight in points:
            inside = max(0.0, min(acc + weight, hi_cut) - max(acc, lo_cut))
            num_sum += value * inside
            weight_sum += inside
            acc += weight
        out[name] = num_sum / weight_sum if weight_sum else None
    return out


def _baseline(typical: Mapping[str, float | None], parents: Sequence[Mapping[str, int]] = ()) -> Baseline:
    out: dict[str, tuple[float | None, float | None]] = {}
    for name in RATE_NAMES:
        values = [v for v in (typical.get(name), *(ratio(*ratio_parts(p, name)) for p in parents)) if v is not None]
        out[name] = (max(values), min(values)) if values else (None, None)
    return out


def _signals(seg: Mapping[str, int], baseline: Baseline, opts: FocusOptions) -> tuple[list[str], float, dict]:
    """Which rates differ from the baseline, the impact in leads, and the rate details."""
    details: dict[str, dict[str, float | None]] = {}
    signals: list[str] = []
    impact = 0.0
    for name in RATE_NAMES:
        num, den = ratio_parts(seg, name)
        lo, hi = wilson(num, den, opts.z or 3.0)
        up, down = baseline[name]
        details[name] = {"value": pct(ratio(num, den)), "low": pct(lo) if den else None,
                         "high": pct(hi) if den else None, "typical": pct(up)}
        if not den or up is None or down is None:
            continue
        if name == "hot_pct":
            if lo > up * (1 + opts.min_lift):
                signals.append("high_hot")
                impact = max(impact, den * (lo - up))
            elif hi < down * (1 - opts.min_lift):
                signals.append("low_hot")
                impact = max(impact, den * (down - hi))
                details[name]["typical"] = pct(down)
        elif name in JUNK_RATES and lo > max(up * opts.junk_factor, up + opts.junk_points):
            signals.append(f"high_{name.removesuffix('_pct').removesuffix('_rate')}")
            impact = max(impact, den * (lo - up))
    return signals, impact, details


def _parents(result: ReportResult) -> dict[tuple[str, Any], dict[str, int]]:
    """Counts of each single-dimension parent of a pair split, summed from the pair rows themselves."""
    out: dict[tuple[str, Any], dict[str, int]] = {}
    for row in result.rows:
        for dim in result.query.dimensions:
            acc = out.setdefault((dim, row.get(dim)), dict.fromkeys(METRIC_NAMES, 0))
            for m in METRIC_NAMES:
                acc[m] += int(row.get(m, 0))
    return out


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
    """The advice, as the end of a sentence (lowercase, no full stop)."""
    if action == "scale":
        return "scale it: move budget and sales attention here"
    if action == "pause":
        return "pause it or rework its targeting: few hot leads and much junk"
    if "high_hot" in signals:
        return "fix it: good leads mixed with junk, filter before scaling"
    if "high_bot" in signals:
        return "fix it: block bots on this traffic (honeypot, rate limits)"
    if "low_hot" in signals and len(signals) == 1:
        return "fix it: lead quality is low, refresh targeting and creative"
    return "fix it: tighten targeting and verify these leads"


def _evidence(counts: Mapping[str, int], share: float | None, signals: Sequence[str],
              details: Mapping[str, Mapping[str, float | None]]) -> str:
    """The figures behind an item, without its name: ``1,951 actual leads (18% of all), hot 4.2% vs ...``."""
    parts = [f"{fmt_int(counts['primary'])} actual leads ({fmt_pct(share)} of all)"]
    for sig in signals:
        name = _SIGNAL_RATE[sig]
        d = details[name]
        parts.append(f"{_WORDS[name]} {fmt_pct(d['value'])} vs {fmt_pct(d['typical'])} typical")
    return ", ".join(parts)


def _compose(item: dict[str, Any]) -> None:
    """``reason`` (one sentence that names the item) from its name, evidence, notes and advice."""
    notes = "".join(f" ({n})" for n in item.get("notes", []))
    item["reason"] = f"{item['name']}{notes}: {item['evidence']}; {item['advice']}."


def _counts(row: Mapping[str, Any]) -> dict[str, int]:
    return {m: int(row.get(m, 0)) for m in METRIC_NAMES}


# When two single-dimension segments hold exactly the same traffic (a source that runs one campaign),
# the one listed first here is kept and the other is named in ``same_as``.
_PRECEDENCE = ("utm_campaign", "project", "city", "country", "source")


def _key(counts: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(int(counts[m]) for m in METRIC_NAMES)


def _dedupe(items: list[dict[str, Any]], names: Mapping[tuple[int, ...], list[str]],
            plain_names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Drop repeats: identical traffic under two names, and pairs whose parent already says it all.

    ``names`` maps a single-dimension segment's counts to every label with exactly those counts;
    ``plain_names`` maps a label to its plain-words name.
    """
    singles = sorted((i for i in items if len(i["segment"]) == 1),
                     key=lambda i: _PRECEDENCE.index(i["dimensions"][0])
                     if i["dimensions"][0] in _PRECEDENCE else len(_PRECEDENCE))
    kept: list[dict[str, Any]] = []
    for item in singles:
        if any(k["counts"] == item["counts"] for k in kept):
            continue  # already listed under a preferred name
        twins = [n for n in names.get(_key(item["counts"]), []) if n != item["label"]]
        item["same_as"] = twins
        if twins:
            words = [plain_names.get(t, t) for t in twins]
            item["notes"].append("the same traffic as " + and_list(words))
        kept.append(item)
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
             typical: Mapping[tuple[str, ...], Mapping[str, float | None]],
             opts: FocusOptions) -> list[dict[str, Any]]:
    """Drop a broad item whose flag comes from a narrower flagged item nested inside it (module doc, 5)."""
    singles = [i for i in items if len(i["segment"]) == 1]
    dropped: set[int] = set()
    for broad in singles:
        (bdim, bval), = broad["segment"].items()
        for narrow in singles:
            (ndim, nval), = narrow["segment"].items()
            if narrow is broad or ndim == bdim or not set(broad["signals"]) <= set(narrow["signals"]) \
                    or narrow["counts"]["primary"] >= broad["counts"]["primary"]:
                continue
            overlap = _pair_counts(pairs, (bdim, bval), (ndim, nval))
            if overlap is None or overlap["received"] < 0.9 * narrow["counts"]["received"]:
                continue  # not nested
            remainder = {m: broad["counts"][m] - overlap[m] for m in METRIC_NAMES}
            if _action(_signals(remainder, _baseline(typical[(bdim,)]), opts)[0]) is None:
                dropped.add(id(broad))
                narrow.setdefault("explains", []).append(broad["label"])
                narrow["advice"] += f" (it is also why {broad['name']} looks poor)"
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
    results = list(results)
    opts = options or FocusOptions()
    segments = sum(1 for r in results for row in r.rows if int(row["received"]) >= opts.k)
    tests = len(("hot_pct", *JUNK_RATES)) * segments
    if opts.z is None:  # Bonferroni: each of `tests` two-sided tests at alpha / tests
        opts = replace(opts, z=round(NormalDist().inv_cdf(1 - opts.alpha / (2 * max(tests, 1))), 3))
    items: list[dict[str, Any]] = []
    totals: dict[str, int] | None = None
    evaluated = 0
    pairs: dict[tuple[str, str], ReportResult] = {}
    typical: dict[tuple[str, ...], dict[str, float | None]] = {}
    names: dict[tuple[int, ...], list[str]] = {}
    plain: dict[str, str] = {}
    for result in results:
        dims = list(result.query.dimensions)
        totals = dict(result.totals)
        if len(dims) == 2:
            pairs[(dims[0], dims[1])] = result
        typical[tuple(dims)] = typical_rates(result.rows, opts.k)
        parents = _parents(result) if len(dims) > 1 else {}
        for row in result.rows:
            counts = _counts(row)
            if counts["received"] < opts.k:
                continue
            if len(dims) == 1:
                one = {dims[0]: row.get(dims[0])}
                names.setdefault(_key(counts), []).append(segment_label(one))
                plain[segment_label(one)] = segment_name(one)
            evaluated += 1
            baseline = _baseline(typical[tuple(dims)], [parents[(d, row.get(d))] for d in dims if parents])
            signals, impact, details = _signals(counts, baseline, opts)
            action = _action(signals)
            if action is None:
                continue
            segment = {d: row.get(d) for d in dims}
            share = pct(ratio(counts["primary"], totals["primary"]))
            label = segment_label(segment)
            items.append({
                "segment": segment,
                "label": label,
                "name": segment_name(segment),
                "dimensions": dims,
                "action": action,
                "signals": signals,
                "impact": round(impact, 1),
                "evidence": _evidence(counts, share, signals, details),
                "advice": _verdict(action, signals),
                "notes": [],
                "share_of_primary": share,
                "counts": counts,
                "rates": details,
            })
    items = _explain(_dedupe(items, names, plain), pairs, typical, opts)
    for item in items:
        _compose(item)
    items.sort(key=lambda i: (-i["impact"], i["label"]))
    for rank, item in enumerate(items, 1):
        item["rank"] = rank
    window_totals = dict(totals or dict.fromkeys(METRIC_NAMES, 0))
    return {
        "baseline": {**window_totals, **rates(window_totals)},
        "items": items if limit is None else items[:limit],
        "flagged": len(items),
        "segments_evaluated": evaluated,
        "method": {"z": opts.z, "tests": tests, "min_lift": opts.min_lift, "junk_factor": opts.junk_factor,
                   "junk_points": opts.junk_points, "k": opts.k,
                   "compared_with": "the typical segment of the same split (volume-weighted interquartile "
                                    "mean); pairs also with their parents",
                   "typical": {"+".join(k): {n: pct(v) for n, v in t.items()} for k, t in typical.items()}},
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
    window = resolve_window(start, end, ls.timezone(tz), default_days=DEFAULT_DAYS)
    opts = options or FocusOptions(k=ls.settings.k_anonymity)
    results = [window.report(ls, dimensions=list(dims), filters=filters) for dims in dimensions]
    doc = rank_segments(results, options=opts, limit=limit)
    return {"window": window.to_dict(), **doc}
