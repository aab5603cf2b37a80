"""The issue-2 CLI and import tests (tests/test_cli_report.py, tests/test_ingest.py), unchanged, with
``--db chdb://...``: the ``db_path`` fixture is overridden here. Known gaps are strict expected failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import test_cli_report as _cli
import test_ingest as _ingest
from conftest_backends import CHDB_DIR
from leadstats.store.chdb import ChDBStore

KNOWN_GAPS = {
    "test_import_twice_adds_nothing_and_reports_counts":
        "the test reads DuckDB's table `events` with raw SQL; ClickHouse's is `leadstats_events`",
}
for _module in (_cli, _ingest):
    for _name in dir(_module):
        if _name.startswith("test_"):
            globals()[_name] = getattr(_module, _name)
filled = _cli.filled  # the CLI tests' fixture, now on top of the db_path below


@pytest.fixture
def db_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """chDB's default database in the shared test directory, emptied first."""
    name = getattr(request.node, "originalname", request.node.name)
    if name in KNOWN_GAPS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[name]))
    store = ChDBStore(CHDB_DIR)
    store.execute("TRUNCATE TABLE leadstats_events")
    store.execute("TRUNCATE TABLE leadstats_state")
    store.close()
    yield f"chdb://{CHDB_DIR}"
