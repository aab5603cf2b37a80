"""Every command's ``--help`` is plain text a newcomer can follow (issue 15.5): no ``<bool>`` type tags, no
``{files}`` usage braces, no reStructuredText double backticks, no references to internal spec sections, and
an example per command."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from leadstats.cli import app


def _commands() -> list[tuple[str, ...]]:
    root = typer.main.get_command(app)
    found: list[tuple[str, ...]] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))
        else:
            found.append(path)

    walk(root, ())
    return sorted(found)


COMMANDS = _commands()


def test_every_command_is_listed() -> None:
    assert {("report",), ("demo",), ("serve",), ("import", "events"), ("insights", "focus"), ("export",)} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_help_is_plain_with_an_example(path: tuple[str, ...]) -> None:
    out = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
    assert out.exit_code == 0, out.output
    text = out.output
    assert "<bool>" not in text and "<str>" not in text and "<int" not in text
    assert "{" not in text and "}" not in text
    assert "`" not in text  # plain text: no Markdown or reST quoting
    assert "CONTRACT" not in text and "§" not in text
    assert "Example" in text
    example = text[text.index("Example"):]
    assert f"leadstats {' '.join(path)}" in example  # the example runs this very command


def test_flags_take_no_value() -> None:
    """A bool option is a flag (``--insecure-local``, ``--no-serve``), shown without a value type."""
    out = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "100"})
    line = next(ln for ln in out.output.splitlines() if "--insecure-local" in ln)
    assert "bool" not in line.lower() and "TEXT" not in line


def test_group_help_is_plain() -> None:
    for path in ((), ("import",), ("sync",), ("insights",)):
        out = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert out.exit_code == 0, out.output
        assert "<bool>" not in out.output and "{" not in out.output and "``" not in out.output


def test_the_package_loads_its_engine_on_first_use() -> None:
    """``import leadstats`` (or one of its light modules) does not load DuckDB, pyarrow or numpy; the
    public names still resolve, show in dir(), and an unknown one is an AttributeError."""
    import subprocess
    import sys

    code = ("import sys, leadstats, leadstats.errors;"
            "print(sorted(m for m in ('duckdb', 'pyarrow', 'numpy', 'leadstats.service') if m in sys.modules));"
            "ls = leadstats.connect(':memory:'); print(type(ls).__name__, 'duckdb' in sys.modules);"
            "print(set(leadstats.__all__) <= set(dir(leadstats)), leadstats.LeadStatsError.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "LeadStats True", "True leadstats.errors"]
    import leadstats

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = leadstats.nope  # type: ignore[attr-defined]
