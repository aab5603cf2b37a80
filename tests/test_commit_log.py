"""``<store>.seq`` (store/durability.py): a fixed-size record overwritten in place, flushed once per commit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leadstats.store import durability
from leadstats.store.durability import CommitLog


def test_round_trip_in_place_one_flush_per_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flushes: list[int] = []
    real = durability._datasync
    monkeypatch.setattr(durability, "_datasync", lambda fd: (flushes.append(fd), real(fd)))
    log = CommitLog(str(tmp_path / "s.duckdb"))
    assert log.read() == (0, 0)
    log.write(7, 1000)
    size = os.path.getsize(log.path)
    log.write(123456, 4000)
    assert log.read() == (123456, 4000)
    assert os.path.getsize(log.path) == size == 42  # overwritten in place: no size change to flush
    assert len(flushes) == 2


def test_unreadable_record_reads_as_nothing(tmp_path: Path) -> None:
    log = CommitLog(str(tmp_path / "s.duckdb"))
    Path(log.path).write_bytes(b"garbage")
    assert log.read() == (0, 0)
