"""``leadstats report`` and ``leadstats schema``."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.table import Table

from ..errors import QueryError
from ..model.report import ReportQuery, ReportResult, parse_filter_expr
from ..model.schema import METRIC_NAMES, describe
from ..settings import Settings
from .common import DbOption, TzOption, app, console, handle_errors, is_terminal, open_service


def render_table(result: ReportResult, title: str | None = None) -> Table:
    table = Table(title=title or result.query.describe(), title_justify="left", header_style="bold")
    for col in result.columns:
        table.add_column(col, justify="right" if col in METRIC_NAMES or col == "hour_of_day" else "left")
    bucket = result.query.bucket
    short = 16 if bucket and bucket.kind == "fixed" else 10  # "2026-03-07T10:00" / "2026-03-07"
    from ..insights.buckets import PARTIAL_MARK, PARTIAL_NOTE, partial_buckets

    partial = partial_buckets(result)
    for row in result.rows:
        cells = ["—" if row.get(c) is None else str(row.get(c)) for c in result.columns]
        if bucket:
            mark = f" {PARTIAL_MARK}" if row["bucket_start"] in partial else ""
            cells[0] = cells[0][:short].replace("T", " ") + mark
        table.add_row(*cells)
    if partial:
        table.caption, table.caption_justify = PARTIAL_NOTE, "left"
    keys = len(result.columns) - len(METRIC_NAMES)
    if result.rows and keys:  # with no bucket and no dimension the single row is the total
        lead = ["total"] + [""] * (keys - 1)
        table.add_section()
        table.add_row(*lead, *(str(result.totals[m]) for m in METRIC_NAMES), style="bold")
    return table


def emit(result: ReportResult, fmt: str | None) -> None:
    """Print a result as table (default on a terminal), json (default otherwise) or csv."""
    fmt = (fmt or ("table" if is_terminal() else "json")).lower()
    if fmt == "json":
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    elif fmt == "csv":
        result.write_csv(sys.stdout)
    elif fmt == "table":
        console.print(render_table(result))
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
    by: str | None = typer.Option(None, "--by", help="Dimensions, comma-separated (see `leadstats schema`)."),
    filters: list[str] = typer.Option(
        [], "--filter", help="DIM=V1,V2 (is one of), DIM!=V (is none of), DIM~=V (contains); repeatable."
    ),
    suspicious_min: float | None = typer.Option(None, "--suspicious-min", help="Suspicion threshold (default 40)."),
    fmt: str | None = typer.Option(None, "--format", help="table (default on a terminal), json or csv."),
    db: str | None = DbOption,
) -> None:
    """Counts by time bucket and dimensions, exactly as CONTRACT §3-§4."""
    if fmt and fmt.lower() not in ("table", "json", "csv"):
        raise QueryError(f"unknown format {fmt!r}: use table, json or csv", field="format")
    smin: Any = suspicious_min
    if smin is not None and float(smin).is_integer():
        smin = int(smin)
    query = ReportQuery.create(
        start,
        end,
        timezone=tz or Settings.from_env().timezone,
        bucket=bucket,
        dimensions=by,
        filters=[parse_filter_expr(f) for f in filters],
        suspicious_min=smin,
    )
    with open_service(db, must_exist=True) as ls:
        emit(ls.run(query), fmt)


@app.command()
@handle_errors
def schema(fmt: str = typer.Option("table", "--format", help="table or json")) -> None:
    """List dimensions, metrics and buckets."""
    doc = describe()
    if fmt == "json":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    for key in ("dimensions", "metrics"):
        table = Table(title=key, title_justify="left")
        table.add_column("name")
        table.add_column("description")
        for item in doc[key]:  # type: ignore[attr-defined]
            table.add_row(item["name"], item["description"])
        console.print(table)
    console.print("buckets: " + ", ".join(doc["buckets"]) + "  (1h = 60m; omit --bucket for none)")  # type: ignore[arg-type]
    console.print("filters: DIM=V1,V2 (is one of) · DIM!=V (is none of) · DIM~=V (contains)")
