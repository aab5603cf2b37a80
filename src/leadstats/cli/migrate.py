"""``leadstats migrate --from URL --to URL``: copy a store between backends, resumable.

A thin wrapper over :func:`leadstats.sources.migrate.migrate` (see there for how it stays exact).
Running the command again later copies what the source gained since (ids after the checkpoint);
``--restart`` rescans from the first id (safe, only slower).

    leadstats migrate --from leadstats.duckdb --to chdb:///var/lib/leadstats/ch
    leadstats migrate --from chdb:///var/lib/leadstats/ch --to clickhouse://default:@db1:8123/leads
"""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import StoreError
from ..service import connect as connect_store
from ..sources.migrate import DEFAULT_BATCH, MigrateResult, checkpoint_key, migrate
from .common import app, console, err_console, handle_errors

__all__ = ["DEFAULT_BATCH", "MigrateResult", "checkpoint_key", "migrate", "migrate_command"]


@app.command("migrate")
@handle_errors
def migrate_command(
    source_url: str = typer.Option(..., "--from", help="Source store path or URL (duckdb, chdb, clickhouse)."),
    target_url: str = typer.Option(..., "--to", help="Target store path or URL (duckdb, chdb, clickhouse)."),
    batch_size: int = typer.Option(DEFAULT_BATCH, "--batch-size", help="Rows per batch (memory stays bounded)."),
    restart: bool = typer.Option(False, "--restart", help="Ignore the checkpoint and rescan from the first id."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the summary line."),
) -> None:
    """Copy a store to another backend in bounded batches; resumable, idempotent.

    \b
    Example:
      leadstats migrate --from leads.duckdb --to chdb:///srv/leadstats/chdb
    """
    if source_url.strip() == target_url.strip():
        raise StoreError("--from and --to name the same store")
    source = connect_store(source_url, read_only=True)
    try:
        target = connect_store(target_url)
        try:
            total = int(source.health().get("rows") or 0)
            show = not quiet and err_console.is_terminal
            with Progress(
                TextColumn("[bold]migrate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=err_console, transient=True, disable=not show,
            ) as bar:
                task = bar.add_task("rows", total=total or None)
                result = migrate(
                    source, target, source_url=source_url.strip(), batch_size=batch_size, restart=restart,
                    progress=lambda n: bar.advance(task, n),
                )
            events = target.count()
        finally:
            target.close()
    finally:
        source.close()
    resumed = f" (resumed after {result.resumed_after})" if result.resumed_after else ""
    console.print(
        f"copied {result.rows:,} rows{resumed}: {result.accepted:,} new, {result.duplicates:,} already there;"
        f" the target now holds {events:,} events",
        highlight=False,
    )
