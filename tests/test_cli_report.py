"""``leadstats report`` as a user runs it: formats, filters with commas, refusals with exit 2."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ev
from leadstats.cli import app

runner = CliRunner()


@pytest.fixture
def filled(db_path: str, write_jsonl: Callable[..., Path]) -> str:
    path = write_jsonl(
        [
            ev("a", "primary", "2026-03-07T04:30:00Z", project="Alpha, Phase 2", source="google", country="IN"),
            ev("b", "primary", "2026-03-07T05:30:00Z", project="Skyline", source="meta", country="US"),
            ev("c", "bot", "2026-03-07T05:31:00Z", project="Skyline", source="direct"),
        ]
    )
    assert runner.invoke(app, ["import", "events", str(path), "--db", db_path]).exit_code == 0
    return db_path


def test_json_output_is_the_contract_document(filled: str) -> None:
    result = runner.invoke(
        app,
        [
            "report",
            "--from",
            "2026-03-07",
            "--to",
            "2026-03-08",
            "--tz",
            "Asia/Kolkata",
            "--bucket",
            "60m",
            "--by",
            "project",
            "--filter",
            'project="Alpha, Phase 2",Skyline',
            "--filter",
            "source!=direct",
            "--suspicious-min",
            "40",
            "--format",
            "json",
            "--db",
            filled,
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["query"]["filters"] == [
        ["is", "project", ["Alpha, Phase 2", "Skyline"]],
        ["is_not", "source", ["direct"]],
    ]
    assert [(r["bucket_start"], r["project"], r["received"]) for r in doc["rows"]] == [
        ("2026-03-07T10:00:00+05:30", "Alpha, Phase 2", 1),
        ("2026-03-07T11:00:00+05:30", "Skyline", 1),
    ]
    assert doc["totals"]["primary"] == 2


def test_csv_output(filled: str) -> None:
    result = runner.invoke(
        app,
        ["report", "--from", "2026-03-07", "--to", "2026-03-08", "--by", "source", "--format", "csv", "--db", filled],
    )
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["source"], r["received"]) for r in rows] == [("direct", "1"), ("google", "1"), ("meta", "1")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bucket", "7m"], "unknown bucket"),
        (["--tz", "Asia/Bombay2"], "unknown timezone"),
        (["--by", "email"], "unknown dimension"),
        (["--filter", "nope=1"], "unknown filter dimension"),
        (["--from", "2026-03-09"], "from must be before to"),
        (["--from", "2000-01-01", "--bucket", "15m"], "limit is 100,000"),
        (["--format", "xml"], "unknown format"),
    ],
)
def test_refusals_exit_2_with_a_clear_message(filled: str, args: list[str], message: str) -> None:
    base = {"--from": "2026-03-07", "--to": "2026-03-08"}
    for flag in ("--from", "--to"):
        if flag in args:
            base.pop(flag)
    argv = ["report", *[x for kv in base.items() for x in kv], *args, "--db", filled]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_store_is_an_error_not_an_empty_report(tmp_path: Path) -> None:
    missing = tmp_path / "typo.duckdb"
    result = runner.invoke(app, ["report", "--from", "2026-03-07", "--to", "2026-03-08", "--db", str(missing)])
    assert result.exit_code == 1 and "no leadstats store" in result.output
    assert not missing.exists()


def test_console_script_and_schema(filled: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        ["leadstats", "report", "--from", "2026-03-07", "--to", "2026-03-08", "--db", filled, "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["totals"]["received"] == 3
    schema = runner.invoke(app, ["schema", "--format", "json"])
    doc = json.loads(schema.stdout)
    assert "hour_of_day" in [d["name"] for d in doc["dimensions"]]
    assert [m["name"] for m in doc["metrics"]][:3] == ["received", "submissions", "primary"]
    assert "1mo" in doc["buckets"]
