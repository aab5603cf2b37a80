"""``leadstats export --for-ai``: a compact, k-anonymized pack of aggregates to paste into a chat assistant.

The pack (one directory) holds CSV breakdowns of the chosen window, the insight documents as JSON and a
``PROMPT.md`` template that explains the files and asks the questions a marketing lead would ask. Every
breakdown merges groups of fewer than ``k`` events into ``"other"``; nothing below the aggregate level
(no event, no lead id, no referer URL) is written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LeadStatsError
from ..model.csv_safety import safe_row
from ..model.rates import RATES
from ..model.schema import METRIC_NAMES
from .anomalies import anomalies
from .common import rates, resolve_window
from .focus import focus
from .forecast import forecast
from .privacy import merge_small_groups
from .windows import best_windows

if TYPE_CHECKING:
    from ..service import LeadStats

BREAKDOWNS: tuple[tuple[str, ...], ...] = (
    ("project",), ("source",), ("utm_campaign",), ("country",), ("city",), ("cta",), ("project", "country"),
    ("utm_campaign", "country"), ("weekday", "hour_of_day"),
)
DEFAULT_DAYS = 28

#: The rates in words for the prompt, from the one rate registry.
RATE_WORDS = "; ".join(f"{r.name} = {r.formula}" for r in RATES)
PROMPT = """# Lead statistics pack for {window_from} to {window_to} ({timezone})

You are helping a real-estate marketing team decide where to focus. The files below are aggregates from
their lead-capture system (no personal data; groups under {k} events are merged into "other").

Definitions: `received` = every event; `primary` = actual leads; `follow_up` = repeat submits of a lead;
`test`, `blocked`, `bot` = testing, blocked-IP and honeypot traffic; `hot` = actual leads engaged Hot or
Very Hot; `vpn` and `suspicious` (suspicion score >= 40) count actual leads. Ratios (percent):
{rates}.

Files:
{files}

Questions:
1. Which campaigns, sources, projects and countries should we scale, fix or pause, and why? Use
   `focus.json` (segments already tested against the rest of the traffic with confidence bounds) and
   check against the `by_*.csv` breakdowns.
2. When should ads run? Use `windows.json` (expected hot leads per weekday-hour) and `by_weekday_hour_of_day.csv`.
3. What went wrong or changed? Use `anomalies.json` (incidents with their drivers) and `daily.csv`.
4. What volume should the sales team plan for? Use `forecast.json`.

Cite the numbers you use. Do not invent segments or numbers that are not in the files.
"""


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(safe_row(row.get(c) for c in columns))  # formula-safe (model/csv_safety.py)


def _write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _safe(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return dict(fn(*args, **kwargs))
    except LeadStatsError as exc:
        return {"error": exc.message}


def export_for_ai(
    ls: LeadStats,
    out: str | Path,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    *,
    tz: str | None = None,
    k: int | None = None,
) -> dict[str, Any]:
    """Write the pack into directory ``out`` (created if needed); returns the manifest."""
    tz_name = ls.timezone(tz)
    k = ls.settings.k_anonymity if k is None else k
    window = resolve_window(start, end, tz_name, default_days=DEFAULT_DAYS)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    totals = window.report(ls).totals
    _write_json(folder / "totals.json", {"window": window.to_dict(), **totals, **rates(totals)})
    files["totals.json"] = "all metrics and ratios for the whole window"
    daily = window.report(ls, bucket="1d")
    _write_csv(folder / "daily.csv", daily.rows, ["bucket_start", *METRIC_NAMES])
    files["daily.csv"] = "one row per local day"
    for dims in BREAKDOWNS:
        result = window.report(ls, dimensions=list(dims))
        rows = merge_small_groups(result.rows, dims, k)
        name = "by_" + "_".join(dims) + ".csv"
        _write_csv(folder / name, [{**r, **rates(r)} for r in rows], [*dims, *METRIC_NAMES, *rates(totals)])
        files[name] = f"split by {' x '.join(dims)}, groups under {k} events merged into 'other'"

    focus_doc = _safe(focus, ls, window.start, window.end, tz=tz_name, limit=20)
    for item in focus_doc.get("items", []):
        item.pop("rates", None)
    _write_json(folder / "focus.json", focus_doc)
    files["focus.json"] = "segments to scale / fix / pause, with reasons"
    windows_doc = _safe(best_windows, ls, None, window.end, tz=tz_name, include_slots=False)
    _write_json(folder / "windows.json", windows_doc)
    files["windows.json"] = "best hours and weekdays for ads (last 8 weeks)"
    anomalies_doc = _safe(anomalies, ls, window.start, window.end, tz=tz_name, limit=50)
    _write_json(folder / "anomalies.json", anomalies_doc)
    files["anomalies.json"] = "unusual hours and days, grouped into incidents"
    forecast_doc = _safe(forecast, ls, window.end, tz=tz_name)
    _write_json(folder / "forecast.json", forecast_doc)
    files["forecast.json"] = "actual leads expected per day (7 days) and per hour (next day)"

    listing = "\n".join(f"- `{name}`: {what}" for name, what in files.items())
    w = window.to_dict()
    (folder / "PROMPT.md").write_text(PROMPT.format(rates=RATE_WORDS, window_from=w["from"], window_to=w["to"],
                                                    timezone=tz_name, k=k, files=listing), encoding="utf-8")
    files["PROMPT.md"] = "prompt template: paste it first, then the files"
    manifest = {"window": w, "k_anonymity": k, "files": files,
                "generated_at": datetime.now(window.tz).isoformat(timespec="seconds")}
    _write_json(folder / "manifest.json", manifest)
    return manifest
