"""The ``leadstats`` command: a thin Typer wrapper over :class:`leadstats.service.LeadStats`.

Each command group lives in its own module and registers itself on ``app`` (or ``import_app``,
``sync_app``) when imported; ``COMMAND_MODULES`` lists them.
"""

from __future__ import annotations

import importlib

from .common import app, import_app, plain_help, sync_app

COMMAND_MODULES = (
    "report",
    "store",
    "imports",
    "demo",
    "serve",
    "sources",
    "insights",
    "mcp",
    "migrate",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}")

app.add_typer(import_app, name="import", help="Import events from files, D1 or Analytics Engine exports.")
app.add_typer(sync_app, name="sync", help="Keep importing from a source on a schedule.")
plain_help(app)


def main() -> None:
    app()


__all__ = ["app", "main"]
