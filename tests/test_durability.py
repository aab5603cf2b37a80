"""Hostile environments (issue 16.1, 16.2): a full disk under a running server, a torn write-ahead log.

The disk-full case mounts a real 30 MiB tmpfs (mostly taken by a filler file, so a few batches fill
it), which needs root (CI and the developers' machines run as
root); elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import leadstats
from leadstats.cli import app
from servers import INGEST, READ, ServerProcess, events


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _batch(i: int) -> list[dict[str, object]]:
    # Random referers do not compress: the disk fills after a few dozen batches.
    return [
        {**e, "referer": "https://example.com/" + secrets.token_hex(60)}
        for e in events(f"b{i}-", 1000, "2026-02-01T00:00:00Z", project="Skyline")
    ]


def test_full_disk_answers_507_keeps_reads_and_recovers_without_loss(small_disk: Path, tmp_path: Path) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(os.urandom(26 << 20))  # ~4 MiB left: a few batches fill it; freed later: "space is back"
    server = ServerProcess(small_disk / "store.duckdb", tmp_path / "server.log").start()
    ingest = {"Authorization": f"Bearer {INGEST}"}
    read = {"Authorization": f"Bearer {READ}"}
    acked = 0
    failed: list[dict[str, object]] | None = None
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for i in range(300):
                batch = _batch(i)
                r = client.post("/api/v1/events", json=batch, headers=ingest)
                if r.status_code == 200:
                    acked += r.json()["accepted"]
                    continue
                assert r.status_code == 507, r.text
                body = r.json()["error"]
                assert body["code"] == "storage_full" and "no space left" in body["message"]
                assert int(r.headers["Retry-After"]) > 0
                failed = batch
                break
            assert failed is not None, "the 30 MiB disk never filled"
            assert acked > 0
            # Reads answer from what is committed; health says writes are failing.
            report = client.get("/api/v1/report", params={"from": "2026-01-31", "to": "2026-02-03"}, headers=read)
            assert report.status_code == 200, report.text
            assert report.json()["totals"]["received"] == acked
            health = client.get("/healthz")
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            assert "No space left" in health.json()["write_error"]
            # Space comes back: the same server takes the retry, and health is ok again.
            filler.unlink()
            retry = client.post("/api/v1/events", json=failed, headers=ingest)
            assert retry.status_code == 200, retry.text
            acked += retry.json()["accepted"] + retry.json()["duplicates"]
            assert client.get("/healthz").status_code == 200
            again = client.get("/api/v1/report", params={"from": "2026-01-31", "to": "2026-02-03"}, headers=read)
            assert again.json()["totals"]["received"] == acked
        assert server.stop() == 0
    finally:
        server.kill()
    with leadstats.connect(str(small_disk / "store.duckdb"), read_only=True) as ls:
        assert ls.report("2026-01-31", "2026-02-03").totals["received"] == acked  # nothing acknowledged lost


_WRITER = """
import os, signal, sys
import leadstats
ls = leadstats.connect(sys.argv[1])
for b in range(3):
    events = [{"event_id": f"w{b}-{i}", "event_type": "primary", "occurred_at": "2026-03-07T05:00:00Z"}
              for i in range(50)]
    assert ls.ingest(events).accepted == 50
    print("acked", b, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # a crash: no checkpoint, the batches live only in the WAL
"""


def test_torn_wal_tail_is_reported_loudly(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    leadstats.connect(str(db)).close()  # schema checkpointed into the file
    proc = subprocess.run([sys.executable, "-c", _WRITER, str(db)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL and proc.stdout.count("acked") == 3
    wal = Path(str(db) + ".wal")
    assert wal.stat().st_size > 200
    with wal.open("r+b") as fh:  # the last batch's commit is torn off
        fh.truncate(wal.stat().st_size - 200)
    info = CliRunner().invoke(app, ["info", "--db", str(db), "--format", "json"])
    assert info.exit_code == 0, info.output
    health = json.loads(info.output.strip().splitlines()[-1])
    assert health["events"] == 100  # DuckDB dropped the torn batch ...
    assert health["wal_loss"]["lost_commits"] == 1  # ... and leadstats says so
    assert health["wal_loss"]["last_commit_events"] == 50
    table = CliRunner().invoke(app, ["info", "--db", str(db)])
    assert "wal_loss" in table.output


def test_clean_reopen_reports_no_loss(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    with leadstats.connect(db) as ls:
        ls.ingest([{"event_id": "a", "event_type": "primary", "occurred_at": "2026-03-07T05:00:00Z"}])
    with leadstats.connect(db) as ls:
        health = ls.health()
        assert "wal_loss" not in health and health["writable"] is True
