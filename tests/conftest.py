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
    limiter over the wire (listed in LIMITED_SERVER_TESTS, so one worker starts it). Only
    test_forwarded_for_does_not_dodge_the_rate_limit may fail to authenticate on it (it counts the
    client's bucket from full)."""
    tmp = tmp_path_factory.mktemp("limited")
    srv = ServerProcess(tmp / "limited.duckdb", tmp / "limited.log",
                        env={"LEADSTATS_RATE_LIMIT_PER_MINUTE": str(LIMIT_PER_MINUTE)})
    srv.start()
    yield srv
    assert srv.stop() == 0, srv.log.read_text()[-2000:]


# -- parallel runs (scripts/test.sh: pytest-xdist) ------------------------------------------------------
#: Modules whose module-scoped fixtures are expensive (a served store, a browser, a demo store, the README's
#: commands): all their tests go to one worker, so each fixture is built once. Other tests spread one by one.
ONE_WORKER_MODULES = {
    "test_api_server", "test_security_server", "test_dashboard", "test_readme", "test_digest",
    "test_insights_demo", "test_insights_advice", "test_insights_cli_api", "test_ae_backend", "test_mcp",
    "test_cli_first_hour",
}
#: Tests sharing the session-scoped ``limited_server`` (one worker starts it).
LIMITED_SERVER_TESTS = {
    "test_a_token_past_its_burst_gets_429_and_the_other_tokens_do_not",
    "test_forwarded_for_does_not_dodge_the_rate_limit",
}
#: The longest modules start first (longest-first keeps the last worker from finishing alone); the order
#: of the tests inside a module is kept.
LONGEST_FIRST = [
    "test_report_property", "test_crash", "test_multiproc", "test_durability", "test_readme", "test_dashboard",
    "test_api_server", "test_backends_cli", "test_backends_chdb", "test_digest", "test_backends",
    "test_api_schemathesis", "test_security_server", "test_ae_backend",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: module order kept


def work_unit(nodeid: str) -> str:
    """The unit a worker takes whole: a module of ONE_WORKER_MODULES, the limited_server tests, else
    the test alone."""
    path, _, rest = nodeid.partition("::")
    if Path(path).stem in ONE_WORKER_MODULES and rest.split("[")[0] not in LIMITED_SERVER_TESTS:
        return path
    if rest.split("[")[0] in LIMITED_SERVER_TESTS:
        return "limited_server"
    return nodeid


try:  # pytest-xdist (the test extra); without it the suite runs in one process as before
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pragma: no cover
    pass
else:

    class WorkUnitScheduling(LoadScopeScheduling):
        """xdist's load-by-scope scheduling with :func:`work_unit` as the scope (pytest 9 ignores the
        node-id suffix that ``--dist loadgroup`` relies on, so the groups are named here)."""

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling:
        return WorkUnitScheduling(config, log)
