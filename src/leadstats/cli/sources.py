"""``leadstats import d1``, ``leadstats import ae`` and ``leadstats sync d1``: thin wrappers over
:mod:`leadstats.sources.d1` and :mod:`leadstats.sources.analytics_engine`."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import InputError, LeadStatsError
from .common import DbOption, console, err_console, handle_errors, import_app, is_terminal, open_service, sync_app

if TYPE_CHECKING:  # the importers are imported by the commands that run them (a faster start for the rest)
    from ..sources.d1 import D1ImportReport
    from ..sources.d1 import Progress as RowProgress

SHOW_ERRORS = 50
SourceArg = typer.Argument(
    ..., help="SQLite file (.sqlite/.sqlite3/.db), wrangler dump (.sql) or d1://ACCOUNT_ID/DATABASE_ID."
)
MappingOption = typer.Option(None, "--mapping", help="TOML file naming your tables/columns (docs/importing.md).")
PrefixOption = typer.Option("d1", "--prefix", help="Event-id prefix and watermark name: one per D1 database.")
BatchOption = typer.Option(None, "--batch-size", help="Rows per page read from the source.", min=1)


def parse_every(text: str) -> float:
    """``parse_every('5m') == 300.0``; also ``30s``, ``1h``, ``90`` (seconds)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise InputError(f"--every {text!r}: use a duration such as 30s, 5m or 1h", field="every")
    unit = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[m.group(2) or "s"]
    return float(m.group(1)) * unit


def _print_report(report: D1ImportReport, quiet: bool) -> None:
    if not quiet:
        for note in report.notes:
            err_console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    for err in report.errors[:SHOW_ERRORS]:
        err_console.print(err.line(), highlight=False, markup=False, soft_wrap=True)
    if report.error_count > SHOW_ERRORS:
        err_console.print(f"... and {report.error_count - SHOW_ERRORS:,} more unreadable rows", highlight=False)


def _run_d1(source: str, db: str | None, mapping: Path | None, full: bool, prefix: str, batch: int | None,
            progress: RowProgress | None = None) -> D1ImportReport:
    from ..sources.d1 import import_d1
    from ..sources.mapping import load_mapping

    maps = load_mapping(mapping)
    with open_service(db) as ls:
        return import_d1(ls, source, mapping=maps.d1, full=full, prefix=prefix, page_size=batch, progress=progress)


@import_app.command("d1")
@handle_errors
def import_d1_cmd(
    source: str = SourceArg,
    db: str | None = DbOption,
    mapping: Path | None = MappingOption,
    full: bool = typer.Option(False, "--full", help="Read every row again; stored rows are not counted twice."),
    prefix: str = PrefixOption,
    batch_size: int | None = BatchOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the summary line and unreadable rows."),
) -> None:
    """Import the lead-capture D1 database; a rerun imports only new rows. Exit 1 if rows were unreadable.

    \b
    Example:
      leadstats import d1 d1-export.sqlite --db leads.duckdb
    """
    if is_terminal() and err_console.is_terminal and not quiet:
        from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

        columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"),
                   TextColumn("{task.completed:,.0f} rows"), TimeElapsedColumn()]
        with Progress(*columns, console=err_console, transient=True) as bar:
            tasks: dict[str, TaskID] = {}

            def advance(table: str, rows: int) -> None:
                if table not in tasks:
                    tasks[table] = bar.add_task(table, total=None)
                bar.advance(tasks[table], rows)

            report = _run_d1(source, db, mapping, full, prefix, batch_size, advance)
    else:
        report = _run_d1(source, db, mapping, full, prefix, batch_size)
    _print_report(report, quiet)
    console.print(report.summary(), highlight=False, soft_wrap=True)
    if report.error_count:
        raise typer.Exit(1)


@sync_app.command("d1")
@handle_errors
def sync_d1_cmd(
    source: str = SourceArg,
    every: str = typer.Option("5m", "--every", help="Time between runs: 30s, 5m, 1h ..."),
    db: str | None = DbOption,
    mapping: Path | None = MappingOption,
    prefix: str = PrefixOption,
    batch_size: int | None = BatchOption,
    once: bool = typer.Option(False, "--once", help="One run, then exit."),
    max_runs: int | None = typer.Option(None, "--max-runs", min=1, help="Stop after this many runs."),
) -> None:
    """Keep importing new D1 rows on a schedule, one log line per run (Ctrl-C to stop).

    A failed run is logged and retried at the next tick. With --once or --max-runs: exit 1 if any run
    failed or met unreadable rows.

    \b
    Example:
      leadstats sync d1 d1-export.sqlite --every 5m --db leads.duckdb
    """
    from ..sources.mapping import load_mapping

    interval = parse_every(every)
    load_mapping(mapping)  # refuse a bad mapping file before the first tick
    limit = 1 if once else max_runs
    run, failed = 0, False
    next_at = time.monotonic()
    while limit is None or run < limit:
        run += 1
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            report = _run_d1(source, db, mapping, False, prefix, batch_size)
        except Exception as exc:  # noqa: BLE001 - a failed run is reported and retried at the next tick
            failed = True
            message = exc.message if isinstance(exc, LeadStatsError) else f"{type(exc).__name__}: {exc}"
            err_console.print(f"{stamp} sync d1 run {run} failed: {message}", highlight=False, markup=False,
                              soft_wrap=True)
        else:
            _print_report(report, quiet=True)
            failed = failed or report.error_count > 0
            per_table = ", ".join(f"{t} {s.accepted:,}" for t, s in report.tables.items())
            console.print(f"{stamp} sync d1 run {run}: imported {report.accepted:,} events ({per_table}),"
                          f" {report.duplicates:,} already stored, {report.error_count:,} unreadable,"
                          f" {report.seconds:.1f}s", highlight=False, markup=False, soft_wrap=True)
        if limit is not None and run >= limit:
            break
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at = max(next_at, time.monotonic())
    if failed:
        raise typer.Exit(1)


@import_app.command("ae")
@handle_errors
def import_ae_cmd(
    files: list[str] = typer.Argument(..., help="AE SQL API output files (FORMAT JSON or JSONEachRow)."),
    db: str | None = DbOption,
    mapping: Path | None = MappingOption,
) -> None:
    """Import Analytics Engine exports; each row counts _sample_interval times. Re-imports add nothing.

    \b
    Example:
      leadstats import ae ae-export.json --db leads.duckdb
    """
    from ..sources.analytics_engine import import_ae
    from ..sources.mapping import load_mapping

    maps = load_mapping(mapping)
    rejected = 0
    with open_service(db) as ls:
        for path in files:
            report = import_ae(ls, path, maps.ae)
            for line in list(report.error_lines())[:SHOW_ERRORS]:
                err_console.print(line, highlight=False, markup=False, soft_wrap=True)
            if len(report.errors) > SHOW_ERRORS:
                err_console.print(f"... and {len(report.errors) - SHOW_ERRORS:,} more", highlight=False)
            rejected += len(report.errors)
            console.print(report.summary(), highlight=False, soft_wrap=True)
    if rejected:
        raise typer.Exit(1)
