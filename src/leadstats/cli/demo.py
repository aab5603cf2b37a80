"""``leadstats demo``: build the demo store, print a few reports, then serve the dashboard."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..demo import DEMO_TZ, DemoSpec, build
from ..model.timegrid import from_us, local_day, zone
from .common import app, console, err_console, handle_errors, is_terminal, open_service
from .report import render_table

DEFAULT_DEMO_DB = "leadstats-demo.duckdb"


@app.command()
@handle_errors
def demo(
    events: int = typer.Option(1_000_000, "--events", min=1, help="How many events to generate."),
    days: int = typer.Option(90, "--days", min=1, max=3650, help="Days of history, ending now."),
    db: str = typer.Option(DEFAULT_DEMO_DB, "--db", help="Demo store path (rebuilt each time)."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed gives the same data."),
    serve: bool | None = typer.Option(
        None, "--serve/--no-serve", help="Start the dashboard server afterwards (default: on a terminal)."
    ),
    port: int = typer.Option(8000, "--port", help="Port for the dashboard server."),
) -> None:
    """Generate a realistic demo dataset, show today's and this week's numbers, open the dashboard.

    \b
    Example:
      leadstats demo --db readme.duckdb --events 200000 --days 31 --end 2026-04-01 --no-serve
    """
    for suffix in ("", ".wal"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    spec = DemoSpec(events=events, days=days, seed=seed)
    started = time.perf_counter()
    with open_service(db) as ls:
        if is_terminal():
            columns = [TextColumn("[bold]building demo data"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
            with Progress(*columns, console=err_console, transient=True) as bar:
                task = bar.add_task("demo", total=events)
                result = build(ls, spec, lambda n: bar.advance(task, n))
        else:
            result = build(ls, spec)
        took = time.perf_counter() - started
        console.print(f"built {result.accepted:,} events over {days} days in {took:.1f} s → {db}", highlight=False)

        tz = zone(DEMO_TZ)
        today = from_us(0).date() + timedelta(days=local_day(int(time.time() * 1_000_000), tz))
        today_report = ls.report(str(today), str(today + timedelta(days=1)), timezone=DEMO_TZ, bucket="60m")
        console.print_table(render_table(today_report, f"Today ({today}, {DEMO_TZ}) by hour"))
        week = ls.report(str(today - timedelta(days=7)), str(today), timezone=DEMO_TZ, dimensions=["project"])
        console.print_table(render_table(week, f"Last 7 full days by project ({today - timedelta(days=7)} to {today})"))
        console.print(
            "try: leadstats report --from "
            f"{today - timedelta(days=7)} --to {today} --bucket 1d --by utm_campaign --db {db}",
            highlight=False,
        )
    if serve is None:
        serve = is_terminal()
    if serve:
        from .serve import run_server

        def ready(url: str) -> None:
            console.print(f"\n[bold]dashboard:[/bold] {url}  (Ctrl-C stops the server)", highlight=False)

        # The demo serves its own data on loopback; with LEADSTATS_READ_TOKENS set the page asks for one.
        run_server(db, port=port, insecure_local=True, log_level="warning", on_ready=ready)
