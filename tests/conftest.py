"""Shared fixtures: real DuckDB files in tmp_path, and small event builders."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import leadstats
from leadstats.service import LeadStats
from servers import LIMIT_PER_MINUTE, ServerProcess

if os.environ.get("PYTEST_XDIST_WORKER"):
    # xdist workers start with COLUMNS=80 and LINES=24 in their environment, which a plain pytest run (and a
    # user's pipe) does not have: rich would then wrap the CLI's output at 80 columns
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)


def ev(event_id: str, event_type: str, occurred_at: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": event_type, "occurred_at": occurred_at, **fields}


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "store.duckdb")


@pytest.fixture
def ls(db_path: str) -> Iterator[LeadStats]:
    service = leadstats.connect(db_path, create=True)
    yield service
    service.close()


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    def write(records: list[dict[str, Any] | str], name: str = "events.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
        return path

    return write


@pytest.fixture(scope="session")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real ``leadstats serve`` with a small rate limit (LIMIT_PER_MINUTE) for the tests of the
    limiter over the wire (one per worker). Only test_forwarded_for_does_not_dodge_the_rate_limit may fail
    to authenticate on it (it counts the client's bucket from full)."""
    tmp = tmp_path_factory.mktemp("limited")
    srv = ServerProcess(tmp / "limited.duckdb", tmp / "limited.log",
                        env={"LEADSTATS_RATE_LIMIT_PER_MINUTE": str(LIMIT_PER_MINUTE)})
    srv.start()
    yield srv
    assert srv.stop() == 0, srv.log.read_text()[-2000:]


# -- parallel runs (scripts/test.sh: pytest-xdist, its default "load" distribution) ----------------------
# Not --dist loadscope/loadfile/loadgroup: those key the work by node id, and schemathesis gives all the cases
# of one test the same node id, so all but one case would silently not run.
#: The longest modules start first (longest-first keeps the last worker from finishing alone); the order
#: of the tests inside a module is kept.
LONGEST_FIRST = [
    "test_report_property", "test_crash", "test_readme", "test_multiproc", "test_insights_advice", "test_digest",
    "test_durability", "test_dashboard", "test_api_server", "test_backends_cli", "test_backends_chdb",
    "test_backends", "test_api_schemathesis", "test_security_server", "test_ae_backend",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: module order kept
