"""``leadstats info`` and ``leadstats optimize``: look after the store."""

from __future__ import annotations

import json
import sys

import typer

from .common import DbOption, app, console, handle_errors, open_service


@app.command()
@handle_errors
def info(db: str | None = DbOption, fmt: str = typer.Option("table", "--format", help="table or json")) -> None:
    """Backend, size, row and event counts, schema version.

    \b
    Example:
      leadstats info --db readme.duckdb
    """
    with open_service(db, read_only=True) as ls:
        health = ls.health()
    if fmt == "json":
        sys.stdout.write(json.dumps(health) + "\n")
        return
    for key, value in health.items():
        console.print(f"{key:>16}: {value:,}" if isinstance(value, int) else f"{key:>16}: {value}", highlight=False)


@app.command()
@handle_errors
def optimize(db: str | None = DbOption) -> None:
    """Rewrite the events in time order (after importing out-of-order history) so reports prune better.

    \b
    Example:
      leadstats optimize --db leads.duckdb
    """
    with open_service(db, must_exist=True) as ls:
        events = ls.optimize()
    console.print(f"optimized {events:,} events")
