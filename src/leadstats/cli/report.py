"""``leadstats report`` and ``leadstats schema``."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import date, timedelta
from typing import Any

import typer
from rich.table import Table

from ..errors import QueryError
from ..model.report import ReportResult
from ..model.schema import METRIC_NAMES, RATE_NAMES, describe
from ..service import LeadStats
from .common import DbOption, TzOption, app, console, err_console, handle_errors, is_terminal, open_service

# For people (tables, dashboard, insight texts) the contract's metric `primary` reads "actual" (leads);
# CSV and JSON keep the contract's names. docs/semantics.md "Words for people".
HUMAN_NAMES = {"primary": "actual"}
NO_VALUE = "(none)"  # a dimension without a value (no campaign): a group of its own
NO_NUMBER = "—"  # a number that does not exist (a rate over zero, no previous period)


def _human_cell(col: str, value: Any) -> str:
    if value is None:
        return NO_NUMBER if col in METRIC_NAMES or col in RATE_NAMES else NO_VALUE
    return str(value)


def render_table(result: ReportResult, title: str | None = None) -> Table:
    table = Table(title=title or result.query.describe(), title_justify="left", header_style="bold")
    for col in result.columns:
        numeric = col in METRIC_NAMES or col in RATE_NAMES or col == "hour_of_day"
        table.add_column(HUMAN_NAMES.get(col, col), justify="right" if numeric else "left")
    bucket = result.query.bucket
    short = 16 if bucket and bucket.kind == "fixed" else 10  # "2026-03-07T10:00" / "2026-03-07"
    from ..insights.buckets import PARTIAL_MARK, PARTIAL_NOTE, partial_buckets

    partial = partial_buckets(result)
    for row in result.rows:
        cells = [_human_cell(c, row.get(c)) for c in result.columns]
        if bucket:
            mark = f" {PARTIAL_MARK}" if row["bucket_start"] in partial else ""
            cells[0] = cells[0][:short].replace("T", " ") + mark
        table.add_row(*cells)
    if partial:
        table.caption, table.caption_justify = PARTIAL_NOTE, "left"
    measures = [c for c in result.columns if c in result.totals]  # the counts, then the rates (--rates)
    keys = len(result.columns) - len(measures)
    if result.rows and keys:  # with no bucket and no dimension the single row is the total
        lead = ["total"] + [""] * (keys - 1)
        table.add_section()
        totals = [_human_cell(m, result.totals[m]) for m in measures]
        table.add_row(*lead, *totals, style="bold")
    return table


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_range_words(first: date, last: date) -> str:
    """``1–16 Mar 2026``, ``28 Feb – 16 Mar 2026``, ``30 Dec 2025 – 2 Jan 2026`` or ``16 Mar 2026``."""
    def day(d: date, month: bool = True, year: bool = True) -> str:
        return f"{d.day}" + (f" {MONTHS[d.month - 1]}" if month else "") + (f" {d.year}" if year else "")

    if first == last:
        return day(last)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{day(last)}"
    if first.year == last.year:
        return f"{day(first, year=False)} – {day(last)}"
    return f"{day(first)} – {day(last)}"


def empty_note(ls: LeadStats, result: ReportResult, db: str | None) -> str | None:
    """For a report without rows on a store with data: where the data is, and the command that shows it."""
    if result.totals.get("received"):
        return None
    tz = result.query.timezone
    span = ls.data_span_doc(tz)
    if span["first_day"] is None:
        return "No leads in this window: the store has no events yet (leadstats import events FILE...)."
    first, last = date.fromisoformat(span["first_day"]), date.fromisoformat(span["last_day"])
    where = f" --db {shlex.quote(db)}" if db else ""
    zone_arg = f" --tz {tz}" if tz != ls.timezone() else ""
    return (f"No leads in this window. Latest data: {day_range_words(first, last)} ({tz}); see it with:\n"
            f"  leadstats report --from {first} --to {last + timedelta(days=1)} --bucket 1d{zone_arg}{where}")


def emit(result: ReportResult, fmt: str | None, note: str | None = None) -> None:
    """Print a result as table (default on a terminal), json (default otherwise) or csv; ``note`` (an
    empty window's pointer to the data) goes under the table, or to stderr beside json and csv."""
    fmt = (fmt or ("table" if is_terminal() else "json")).lower()
    if note and fmt != "table":
        err_console.print(note, highlight=False, markup=False)
    if fmt == "json":
        sys.stdout.write(result.to_json() + "\n")
    elif fmt == "csv":
        result.write_csv(sys.stdout)
    elif fmt == "table":
        console.print_table(render_table(result))
        if note:
            console.print(note, highlight=False, markup=False)
        console.print(f"[dim]{result.meta.get('backend')} · {result.meta.get('elapsed_ms')} ms[/dim]")
    else:
        raise QueryError(f"unknown format {fmt!r}: use table, json or csv", field="format")


@app.command()
@handle_errors
def report(
    start: str = typer.Option(..., "--from", help="Start (inclusive): a date = local midnight, or an ISO instant."),
    end: str = typer.Option(..., "--to", help="End (exclusive): a date = local midnight, or an ISO instant."),
    tz: str | None = TzOption,
    bucket: str | None = typer.Option(
        None, "--bucket", help="15m 30m 60m|1h 2h 3h 4h 6h 12h 1d 1w 1mo; omit for none."
    ),
    by: str | None = typer.Option(None, "--by", help="Dimensions, comma-separated (leadstats schema lists them)."),
    filters: list[str] = typer.Option(
        [],
        "--filter",
        help="DIM=V1,V2 (is one of), DIM!=V (is none of), DIM~=V (contains); an empty value is null "
        "(utm_campaign= : no campaign); repeatable.",
    ),
    suspicious_min: float | None = typer.Option(None, "--suspicious-min", help="Suspicion threshold (default 40)."),
    rates: bool = typer.Option(
        False, "--rates", help="Add the five rates (actual_pct, hot_pct, bot_rate, vpn_pct, suspicious_pct)."
    ),
    fmt: str | None = typer.Option(None, "--format", help="table (default on a terminal), json or csv."),
    db: str | None = DbOption,
) -> None:
    """Counts by time bucket and dimensions (the query and result are described in docs/contract.md).

    \b
    Example:
      leadstats report --from 2026-03-01 --to 2026-03-08 --bucket 1d --by project --db readme.duckdb
    """
    check_format(fmt, ("table", "json", "csv"))
    with open_service(db, read_only=True) as ls:
        result = ls.report(start, end, timezone=tz, bucket=bucket, dimensions=by, filters=filters,
                           suspicious_min=suspicious_min, rates=rates)
        emit(result, fmt, empty_note(ls, result, db))


def check_format(fmt: str | None, choices: tuple[str, ...]) -> None:
    if fmt and fmt.lower() not in choices:
        raise QueryError(f"unknown format {fmt!r}: use {', '.join(choices[:-1])} or {choices[-1]}", field="format")


@app.command("summary")
@handle_errors
def summary_cmd(
    days: int = typer.Option(7, "--days", help="Window length in local days (1..366)."),
    tz: str | None = TzOption,
    project: str | None = typer.Option(None, "--project", help="Only this project."),
    today: str | None = typer.Option(
        None, "--today", help="First local day not counted, YYYY-MM-DD (default: today in the time zone)."
    ),
    fmt: str | None = typer.Option(None, "--format", help="table (default on a terminal) or json."),
    db: str | None = DbOption,
) -> None:
    """KPIs for the last N full local days against the N days before (as GET /api/v1/summary).

    \b
    Example:
      leadstats summary --days 7 --today 2026-03-30 --db readme.duckdb
    """
    from ..insights.summary import summary  # here: the other commands start without the insights

    check_format(fmt, ("table", "json"))
    with open_service(db, read_only=True) as ls:
        doc = summary(ls, days=days, tz=tz, project=project, today=today)
    if (fmt or ("table" if is_terminal() else "json")).lower() == "json":
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        return
    console.print_table(render_summary(doc))


def render_summary(doc: dict[str, Any]) -> Table:
    cur, prev = doc["current"], doc["previous"]
    scope = f" · project {doc['project']}" if doc.get("project") is not None else ""
    title = (f"{cur['first_day']} .. {cur['last_day']} against {prev['first_day']} .. {prev['last_day']}"
             f" ({doc['timezone']}){scope}")
    table = Table(title=title, title_justify="left", header_style="bold")
    for col, justify in (("metric", "left"), ("value", "right"), ("previous", "right"), ("change", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, block in doc["metrics"].items():
        pct = name.endswith(("_pct", "_rate"))
        table.add_row(HUMAN_NAMES.get(name, name), _cell(block["value"], pct), _cell(block["previous"], pct),
                      _change(block, pct))
    return table


def _cell(value: Any, pct: bool) -> str:
    if value is None:
        return NO_NUMBER
    return f"{value:.2f}%" if pct else f"{value:,}"


def _change(block: dict[str, Any], pct: bool) -> str:
    if block["change"] is None:
        return NO_NUMBER
    if pct:
        return f"{block['change']:+.2f} pts"
    rel = "" if block["change_pct"] is None else f" ({block['change_pct']:+.2f}%)"
    return f"{block['change']:+,}{rel}"


@app.command()
@handle_errors
def schema(fmt: str = typer.Option("table", "--format", help="table or json")) -> None:
    """List dimensions, metrics and buckets.

    \b
    Example:
      leadstats schema --format json
    """
    doc = describe()
    if fmt == "json":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    for key in ("dimensions", "metrics", "rates"):
        table = Table(title=key, title_justify="left")
        table.add_column("name")
        table.add_column("description")
        for item in doc[key]:  # type: ignore[attr-defined]
            table.add_row(item["name"], item["description"])
        console.print_table(table)
    console.print("buckets: " + ", ".join(doc["buckets"]) + "  (1h = 60m; omit --bucket for none)")  # type: ignore[arg-type]
    ops = " · ".join(f"DIM{o['symbol']}V ({o['description']})" for o in doc["filter_operators"])  # type: ignore[attr-defined]
    console.print(f"filters: {ops}; an empty value is null")
