"""What every command shares: the Typer apps, the console, opening the store, error mapping."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from ..errors import LeadStatsError, NotFound
from ..service import LeadStats, connect
from ..settings import Settings
from ..store.url import parse_url

app = typer.Typer(
    name="leadstats",
    help="Lead statistics: when leads arrive, what kind they are, where they come from.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
sync_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

console = Console()
err_console = Console(stderr=True)

DbOption = typer.Option(None, "--db", help="Store path or URL (default: $LEADSTATS_DB or ./leadstats.duckdb).")
TzOption = typer.Option(None, "--tz", help="IANA timezone for buckets and dates (default Asia/Kolkata).")

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn a LeadStatsError into a one-line message and its exit code (2 for bad input), never a
    traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LeadStatsError as exc:
            err_console.print(f"[red]error[/red]: {exc.message}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def open_service(db: str | None, *, read_only: bool = False, must_exist: bool = False) -> LeadStats:
    """Open the store; ``must_exist`` refuses a local DuckDB path that is not there (a typo in --db
    would otherwise create an empty store and report zeros)."""
    settings = Settings.from_env()
    url = db or settings.db
    if must_exist and not url.startswith(("http://", "https://")):  # a server URL: docs/deployment.md
        parsed = parse_url(url)
        if parsed.scheme == "duckdb" and parsed.path != ":memory:" and not os.path.exists(parsed.path):
            raise NotFound(f"no leadstats store at {parsed.path}: import events first, or pass --db")
    return connect(url, read_only=read_only, settings=settings)


def is_terminal() -> bool:
    return sys.stdout.isatty()
