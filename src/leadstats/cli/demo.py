"""``leadstats demo``: build the demo store, print a few reports, then serve the dashboard."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import typer

from ..errors import InputError
from ..model.timegrid import from_us, local_day, to_us, zone
from .common import app, console, err_console, handle_errors, is_terminal, open_service
from .report import render_table
from .serve import listen_socket

DEFAULT_DEMO_DB = "leadstats-demo.duckdb"


def _parse_end(text: str | None) -> datetime | None:
    """``--end``: a date is midnight in the demo's zone (IST), an ISO instant needs an offset."""
    from ..demo import DEMO_TZ

    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(DEMO_TZ))
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--end {text!r}: use a date (2026-04-01) or an ISO instant with an offset",
                         field="end") from None
    if at.tzinfo is None:
        raise InputError(f"--end {text!r}: an instant needs an offset (Z or +05:30)", field="end")
    return at


@app.command()
@handle_errors
def demo(
    events: int = typer.Option(1_000_000, "--events", min=1, help="How many events to generate."),
    days: int = typer.Option(90, "--days", min=1, max=3650, help="Days of history, ending now."),
    db: str = typer.Option(DEFAULT_DEMO_DB, "--db", help="Demo store path (rebuilt each time)."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed gives the same data."),
    end: str | None = typer.Option(
        None, "--end", help="Where the data ends (exclusive): a date = midnight IST, or an ISO instant; "
        "default now. With --end the output is the same on every run."
    ),
    serve: bool | None = typer.Option(
        None, "--serve/--no-serve", help="Start the dashboard server afterwards (default: on a terminal)."
    ),
    port: int = typer.Option(8000, "--port", help="Port for the dashboard server."),
) -> None:
    """Generate a realistic demo dataset, show today's and this week's numbers, open the dashboard.

    \b
    Example:
      leadstats demo --db readme.duckdb --events 100000 --days 31 --end 2026-04-01 --no-serve
    """
    from ..demo import DEMO_TZ, DemoSpec, build  # here: the other commands start without the generator

    for suffix in ("", ".wal", ".seq"):  # the store, its WAL and its commit log
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    end_at = _parse_end(end)
    if serve or (serve is None and is_terminal()):
        listen_socket("127.0.0.1", port).close()  # a busy port fails now, not after building the data
    spec = DemoSpec(events=events, days=days, seed=seed, end=end_at)
    with open_service(db) as ls:
        if is_terminal():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            columns = [TextColumn("[bold]building demo data"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
            with Progress(*columns, console=err_console, transient=True) as bar:
                task = bar.add_task("demo", total=events)
                result = build(ls, spec, lambda n: bar.advance(task, n))
        else:
            result = build(ls, spec)
        # the same arguments (with --end) print the same bytes: no timings (the README's example is tested)
        console.print(f"built {result.accepted:,} events over {days} days → {db}", highlight=False)

        tz = zone(DEMO_TZ)
        last_us = (to_us(end_at) - 1) if end_at else int(time.time() * 1_000_000)
        today = from_us(0).date() + timedelta(days=local_day(last_us, tz))
        today_report = ls.report(str(today), str(today + timedelta(days=1)), timezone=DEMO_TZ, bucket="60m")
        label = "Last day" if end_at else "Today"
        console.print_table(render_table(today_report, f"{label} ({today}, {DEMO_TZ}) by hour"))
        week = ls.report(str(today - timedelta(days=7)), str(today), timezone=DEMO_TZ, dimensions=["project"])
        console.print_table(render_table(week, f"Last 7 full days by project ({today - timedelta(days=7)} to {today})"))
        console.print(
            "try: leadstats report --from "
            f"{today - timedelta(days=7)} --to {today} --bucket 1d --by utm_campaign --db {db}",
            highlight=False,
        )
    if serve is None:
        serve = is_terminal()
        if not serve:  # piped or logged: say so rather than exit without a word
            console.print(
                "not starting the dashboard: the output is not a terminal (pass --serve to start it anyway).\n"
                f"serve it with: leadstats serve --db {db} --insecure-local", highlight=False)
    elif not serve:
        console.print(f"dashboard: leadstats serve --db {db} --insecure-local", highlight=False)
    if serve:
        from .serve import run_server

        def ready(url: str) -> None:
            console.print(f"\n[bold]dashboard:[/bold] {url}  (Ctrl-C stops the server)", highlight=False)

        # The demo serves its own data on loopback; with LEADSTATS_READ_TOKENS set the page asks for one.
        run_server(db, port=port, insecure_local=True, log_level="warning", on_ready=ready)
