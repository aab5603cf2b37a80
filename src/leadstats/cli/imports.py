"""``leadstats import events FILE...``: JSON Lines, CSV and Parquet, with a progress bar."""

from __future__ import annotations

import typer

from .common import DbOption, console, err_console, handle_errors, import_app, is_terminal, open_service


@import_app.command("events")
@handle_errors
def import_events(
    files: list[str] = typer.Argument(..., help="Files (.jsonl/.ndjson, .csv, .parquet) or - for JSON Lines on stdin."),
    db: str | None = DbOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the summary line."),
) -> None:
    """Import lead events. Re-importing a file adds nothing; bad records are listed and skipped.

    \b
    Example:
      leadstats import events leads.jsonl more.csv --db leads.duckdb
    """
    from ..sources.files import file_kind, file_size, import_file  # here: a faster start for other commands

    for f in files:
        file_kind(f)  # refuse unknown types before touching the store
    imported = duplicates = rejected = 0
    show_bar = is_terminal() and not quiet and err_console.is_terminal
    with open_service(db) as ls:
        for path in files:
            if show_bar and path != "-":
                from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

                unit = "rows" if file_kind(path) == "parquet" else "bytes"
                columns = [
                    TextColumn(f"[bold]{path}"),
                    BarColumn(),
                    DownloadColumn() if unit == "bytes" else TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"),
                    TimeRemainingColumn(),
                ]
                with Progress(*columns, console=err_console, transient=True) as bar:
                    task = bar.add_task(path, total=file_size(path))

                    def advance(n: int, task: TaskID = task) -> None:
                        bar.advance(task, n)

                    report = import_file(ls, path, advance)
            else:
                report = import_file(ls, path)
            for line in report.error_lines():
                err_console.print(line, highlight=False, markup=False, soft_wrap=True)
            imported += report.result.accepted
            duplicates += report.result.duplicates
            rejected += len(report.result.rejected)
    console.print(
        f"imported {imported:,}, skipped {duplicates:,} duplicates, rejected {rejected:,}",
        highlight=False,
    )
    if rejected:
        raise typer.Exit(1)
