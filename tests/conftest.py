"""Shared fixtures: real DuckDB files in tmp_path, and small event builders."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import leadstats
from leadstats.service import LeadStats
from servers import LIMIT_PER_MINUTE, ServerProcess


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
    limiter over the wire (mark them ``xdist_group("limited_server")`` so one worker starts it)."""
    tmp = tmp_path_factory.mktemp("limited")
    srv = ServerProcess(tmp / "limited.duckdb", tmp / "limited.log",
                        env={"LEADSTATS_RATE_LIMIT_PER_MINUTE": str(LIMIT_PER_MINUTE)})
    srv.start()
    yield srv
    assert srv.stop() == 0, srv.log.read_text()[-2000:]


# -- parallel runs (scripts/test.sh: pytest-xdist, --dist loadgroup) ------------------------------------
#: Modules whose module-scoped fixtures are expensive (a served store, a browser, a demo store, the README's
#: commands): all their tests go to one worker, so each fixture is built once. Other tests spread one by one.
ONE_WORKER_MODULES = {
    "test_api_server", "test_security_server", "test_dashboard", "test_readme", "test_digest",
    "test_insights_demo", "test_insights_advice", "test_insights_cli_api", "test_ae_backend", "test_mcp",
    "test_cli_first_hour",
}
#: The longest modules start first (longest-first keeps the last worker from finishing alone); the order
#: of the tests inside a module is kept.
LONGEST_FIRST = [
    "test_report_property", "test_crash", "test_multiproc", "test_durability", "test_readme", "test_dashboard",
    "test_api_server", "test_backends_cli", "test_backends_chdb", "test_digest", "test_backends",
    "test_api_schemathesis", "test_security_server", "test_ae_backend",
]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    for item in items:
        module = item.path.stem
        if module in ONE_WORKER_MODULES and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(module))
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: module order kept
