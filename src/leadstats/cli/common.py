"""What every command shares: the Typer apps, the console, opening the store, error mapping."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
import typer
from rich.cells import cell_len
from rich.console import Console, ConsoleDimensions
from rich.measure import Measurement
from rich.table import Table
from typer.core import TyperArgument, TyperCommand, TyperOption

from ..errors import LeadStatsError
from ..service import LeadStats, connect
from ..settings import Settings

app = typer.Typer(
    name="leadstats",
    help="Lead statistics: when leads arrive, what kind they are, where they come from.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help text (issue 15.5)
)
import_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)
sync_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)


class _Console(Console):
    """Rich's console, but nothing is ever cut to fit: off a terminal (piped, logged, captured) lines are
    never wrapped, and a table wider than the terminal is printed at its natural width (rich would squeeze
    its columns and cut numbers to ``973…``). The terminal may wrap a too-wide line; no digit is lost."""

    UNBOUNDED = 100_000  # "no limit" for text off a terminal

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(self.UNBOUNDED, size.height)
        return size  # type: ignore[no-any-return]

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size

    def print_table(self, table: Table) -> None:
        """Print ``table`` at least as wide as its widest row, whatever the terminal's width."""
        need = Measurement.get(self, self.options.update(max_width=self.UNBOUNDED), table).maximum
        if isinstance(table.title, str) and cell_len(table.title) > need:  # a title wider than the table
            self.print(table.title, highlight=False, markup=False, soft_wrap=True)  # one line, not wrapped
            table.title = None
        if need <= self.width:
            self.print(table)
            return
        wide = Console(width=need, file=self.file, force_terminal=self.is_terminal, no_color=self.no_color,
                       color_system=self.color_system or None)  # type: ignore[arg-type]
        wide.print(table)


console = _Console()
err_console = _Console(stderr=True)

DbOption = typer.Option(None, "--db", help="Store path or URL (default: $LEADSTATS_DB or ./leadstats.duckdb).")
TzOption = typer.Option(
    None, "--tz", help="IANA timezone for buckets and dates (default $LEADSTATS_TZ or Asia/Kolkata)."
)

F = TypeVar("F", bound=Callable[..., Any])

_METAVARS = {"str": "TEXT", "int": "N", "float": "NUMBER", "list[str]": "TEXT"}


class PlainCommand(TyperCommand):
    """A command whose ``--help`` is plain text (issue 15.5): option values named ``TEXT``/``N`` instead of
    Typer's ``<str>``/``<int range>`` tags, arguments as ``FILE...`` instead of ``{files}...``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            bare = getattr(param, "bare_type", None)  # Typer's type tags (<str>); older Typers name types
            if isinstance(param, TyperOption) and bare and not param.is_flag and param.metavar is None:
                param.metavar = _METAVARS.get(bare(), bare().upper())
            elif isinstance(param, TyperArgument):
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [re.sub(r"\{([^{}]*)\}", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]


def plain_help(typer_app: typer.Typer) -> None:
    """Give every command of ``typer_app`` (and its sub-apps) plain help: call once all are registered."""
    for info in typer_app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = PlainCommand
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            plain_help(group.typer_instance)


EXIT_BAD_INPUT = 2  # bad usage or input: an unknown option, a bad query, a bad setting, an unreadable file
EXIT_FAILED = 1  # the work failed: no store, the store or a remote service failed

@app.callback()
def _start(ctx: typer.Context) -> None:
    """Lead statistics: when leads arrive, what kind they are, where they come from."""
    try:
        ctx.obj = Settings.from_env()  # every setting validated before any command runs
    except LeadStatsError as exc:
        fail(exc)


def settings() -> Settings:
    """This command's settings, read from the environment once when it started (outside a command,
    e.g. ``run_server`` called from Python: read now)."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, Settings):
            return ctx.obj
        ctx = ctx.parent
    return Settings.from_env()


def fail(exc: LeadStatsError) -> NoReturn:
    err_console.print(f"[red]error[/red]: {exc.message}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def handle_errors(fn: F) -> F:
    """Turn a LeadStatsError into a one-line message and its exit code (2 for bad usage or input, 1 when
    the work failed; README "Exit codes"), never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LeadStatsError as exc:
            fail(exc)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def open_service(
    db: str | None,
    *,
    read_only: bool = False,
    must_exist: bool = False,
    create: bool | None = None,
    settings_: Settings | None = None,
) -> LeadStats:
    """Open the store named by ``--db`` (or ``LEADSTATS_DB``). Readers pass ``read_only=True`` (so they
    work beside another reader, e.g. a stdio MCP session) and never create a store; writers (imports,
    serve, demo) create it unless ``must_exist`` (a typo in --db would otherwise make an empty store)."""
    conf = settings_ or settings()
    url = db or conf.db
    make = (not read_only and not must_exist) if create is None else create
    return connect(url, read_only=read_only, create=make, settings=conf)


def is_terminal() -> bool:
    return sys.stdout.isatty()
