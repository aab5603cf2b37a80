"""Shared fixtures: real DuckDB files in tmp_path, and small event builders."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import leadstats
from leadstats.service import LeadStats


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
