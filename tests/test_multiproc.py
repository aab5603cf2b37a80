"""One store, many processes (issue 12): real ``leadstats`` processes on real files, 127.0.0.1.

- While ``leadstats serve`` holds a store under continuous HTTP ingest, a CLI ``report`` (equal to the
  server's own answer), an ``import events`` (a second run adds nothing), a ``sync d1`` from a SQLite file
  and a stdio MCP session all work on the same store; afterwards it holds exactly the union of what was
  sent.
- The server SIGKILLed with clients attached: they fail with one clear line while it is down and work
  again after a restart (even on another port); nothing acknowledged is lost.
- Without a server, two writers on one store: the second waits (saying so) and both finish exactly.
- ``leadstats serve`` runs the D1 sync on its schedule, visible in /healthz and /metrics.

No sleeps as synchronisation: every wait polls a condition with a bounded deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from mcp import Client, StdioServerParameters

import d1_fixtures
import leadstats
from leadstats.discovery import advert_path, read_advert
from leadstats.errors import StoreError
from leadstats.remote import RemoteLeadStats
from servers import INGEST, LEADSTATS, READ, ServerProcess, auth, events, free_port

REPORT = ["--from", "2026-01-10", "--to", "2026-01-12", "--bucket", "1d", "--by", "project", "--tz", "Asia/Kolkata"]
REPORT_PARAMS = {"from": "2026-01-10", "to": "2026-01-12", "bucket": "1d", "by": "project", "tz": "Asia/Kolkata"}


def poll(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LEADSTATS, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def without_elapsed(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "meta": {k: v for k, v in doc["meta"].items() if k != "elapsed_ms"}}


def write_jsonl(path: Path, rows: list[dict[str, Any]], bad_at: int | None = None) -> None:
    lines = [json.dumps(r) for r in rows]
    if bad_at is not None:
        bad = {"event_id": "bad-1", "event_type": "nope", "occurred_at": "2026-03-01T00:00:00Z"}
        lines.insert(bad_at, json.dumps(bad))
    path.write_text("\n".join(lines) + "\n")


class Ingestor(threading.Thread):
    """Continuous HTTP ingest: 50-event batches until stopped; remembers every acknowledged id."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.acked: set[str] = set()
        self.batches = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=60.0) as http:
                while not self.stop.is_set():
                    batch = events(f"http{self.batches}", 50, "2026-02-01T06:00:00Z", project="web")
                    resp = http.post("/api/v1/events", json=batch, headers=auth(INGEST))
                    assert resp.status_code == 200, resp.text
                    assert resp.json()["accepted"] == 50
                    self.acked.update(e["event_id"] for e in batch)
                    self.batches += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


def reference_d1_count(tmp: Path, sqlite: Path) -> int:
    """How many events a D1 import of ``sqlite`` stores, on a store of its own."""
    with leadstats.connect(str(tmp / "reference.duckdb")) as ls:
        from leadstats.sources.d1 import import_d1

        import_d1(ls, str(sqlite))
        return ls.store.count()


def advertised(srv: ServerProcess) -> ServerProcess:
    """``srv`` started, once its advertisement names it (written right after it starts listening)."""
    srv.start()
    path = str(srv.db).removeprefix("chdb://")
    poll(lambda: (a := read_advert(path)) is not None and a.url == srv.url, "the server's advertisement")
    return srv


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = advertised(ServerProcess(tmp_path / "store.duckdb", tmp_path / "server.log"))
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        assert srv.stop() == 0, srv.log.read_text()[-3000:]


def test_the_server_advertises_itself_to_its_owner_and_withdraws_on_exit(served: ServerProcess) -> None:
    path = advert_path(str(served.db))
    advert = poll(lambda: read_advert(str(served.db)), "the advertisement")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert served.proc is not None and advert.pid == served.proc.pid and advert.url == served.url
    health = httpx.get(f"{served.url}/healthz").json()
    assert health["server"]["pid"] == served.proc.pid
    # the local credential has both scopes; the public tokens cannot use the store routes
    assert httpx.get(f"{served.url}/api/v1/store/health", headers=auth(advert.token)).status_code == 200
    assert httpx.get(f"{served.url}/api/v1/store/health", headers=auth(READ)).status_code == 403
    assert httpx.get(f"{served.url}/api/v1/schema", headers=auth(advert.token)).status_code == 200
    with leadstats.connect(str(served.db)) as ls:
        assert isinstance(ls, RemoteLeadStats)
    assert served.stop() == 0
    assert not os.path.exists(path)
    with leadstats.connect(str(served.db)) as ls:  # the file is free again: opened here
        assert not isinstance(ls, RemoteLeadStats)


def test_a_direct_open_of_a_served_store_is_refused_at_once(served: ServerProcess, tmp_path: Path) -> None:
    """``migrate`` opens stores directly (it needs the file): one line naming the server, no endless wait."""
    res = cli("migrate", "--from", str(served.db), "--to", str(tmp_path / "copy.duckdb"), timeout=120)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert "leadstats serve (pid" in lines[0] and served.url in lines[0] and "stop the server" in lines[0]


def test_a_file_with_no_json_line_reports_the_same_lines_remotely(served: ServerProcess, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\nalso not json\n")
    remote = cli("import", "events", str(bad), "--db", str(served.db))
    local = cli("import", "events", str(bad), "--db", str(tmp_path / "local.duckdb"))
    assert remote.returncode == local.returncode == 1
    assert remote.stderr == local.stderr and f"{bad}:2: " in remote.stderr
    assert remote.stdout == local.stdout


def test_every_command_works_beside_a_server_under_continuous_ingest(served: ServerProcess, tmp_path: Path) -> None:
    db = str(served.db)
    seed = events("seed", 30, "2026-01-10T06:00:00Z", project="Skyline") + events(
        "seed-h", 12, "2026-01-11T09:00:00Z", project="Harbor"
    )
    assert httpx.post(f"{served.url}/api/v1/events", json=seed, headers=auth(INGEST)).json()["accepted"] == 42
    file_rows = events("file", 2_500, "2026-03-01T04:00:00Z", project="import")
    jsonl = tmp_path / "events.jsonl"
    write_jsonl(jsonl, file_rows, bad_at=7)  # line 8 is bad
    sqlite = tmp_path / "leads.sqlite"
    d1_fixtures.build_small(sqlite)
    d1_expected = reference_d1_count(tmp_path, sqlite)

    ingest = Ingestor(served.url)
    ingest.start()
    poll(lambda: ingest.batches >= 2 or ingest.error, "HTTP ingest to start")
    procs = {
        "import": subprocess.Popen([LEADSTATS, "import", "events", str(jsonl), "--db", db],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        "sync": subprocess.Popen([LEADSTATS, "sync", "d1", str(sqlite), "--once", "--db", db],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        "report": subprocess.Popen([LEADSTATS, "report", *REPORT, "--format", "json", "--db", db],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    }

    async def mcp_session() -> dict[str, Any]:
        params = StdioServerParameters(command=sys.executable, args=["-m", "leadstats", "mcp", "--db", db],
                                       env=dict(os.environ))  # the SDK's default drops PYTHONPATH
        async with Client(params, read_timeout_seconds=120) as client:
            result = await client.call_tool("lead_stats", {"date_range": ["2026-01-10", "2026-01-12"],
                                                           "timezone": "Asia/Kolkata", "bucket": "1d"})
            assert not result.is_error, result.content
            return dict(result.structured_content)

    mcp_doc = asyncio.run(mcp_session())
    out = {name: (p.communicate(timeout=300), p.returncode) for name, p in procs.items()}
    ingest.stop.set()
    ingest.join(timeout=120)
    assert ingest.error is None, ingest.error
    assert ingest.batches >= 2

    (imp_out, imp_err), imp_rc = out["import"]
    assert imp_rc == 1 and "imported 2,500, skipped 0 duplicates, rejected 1" in imp_out, (imp_out, imp_err)
    assert f"{jsonl}:8: event_type:" in imp_err
    (sync_out, sync_err), _ = out["sync"]
    assert f"imported {d1_expected:,} events" in sync_out, (sync_out, sync_err)
    (rep_out, rep_err), rep_rc = out["report"]
    assert rep_rc == 0, rep_err
    api = httpx.get(f"{served.url}/api/v1/report", params=REPORT_PARAMS, headers=auth(READ)).json()
    assert without_elapsed(json.loads(rep_out)) == without_elapsed(api)
    assert api["totals"]["primary"] == 42
    assert mcp_doc["totals"]["primary"] == 42

    again = cli("import", "events", str(jsonl), "--db", db)
    assert "imported 0, skipped 2,500 duplicates, rejected 1" in again.stdout, again.stdout + again.stderr
    resync = cli("sync", "d1", str(sqlite), "--once", "--db", db)
    assert "imported 0 events" in resync.stdout, resync.stdout + resync.stderr

    assert served.stop() == 0
    with leadstats.connect(db) as ls:
        assert not isinstance(ls, RemoteLeadStats)
        expected = 42 + len(ingest.acked) + 2_500 + d1_expected
        assert ls.store.count() == expected
        assert ls.store.stored_ids(sorted(ingest.acked)) == ingest.acked


def test_sigkill_with_clients_attached_then_restart(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    srv = advertised(ServerProcess(db, tmp_path / "server.log"))
    attached = leadstats.connect(str(db))
    assert isinstance(attached, RemoteLeadStats)
    assert attached.ingest(events("before", 100, "2026-02-02T00:00:00Z")).accepted == 100
    srv.kill()

    with pytest.raises(StoreError) as down:
        attached.report("2026-02-01", "2026-02-03")
    assert "stopped answering" in down.value.message and "\n" not in down.value.message
    res = cli("report", "--from", "2026-02-01", "--to", "2026-02-03", "--format", "json", "--db", str(db))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "the server is down" in lines[0] and "server.json" in lines[0], res.stderr

    srv2 = advertised(ServerProcess(db, tmp_path / "server.log", port=free_port()))  # new port and credential
    try:
        assert attached.report("2026-02-01", "2026-02-03").totals["primary"] == 100  # works again
        assert attached.ingest(events("after", 10, "2026-02-02T00:00:00Z")).accepted == 10
        res = cli("report", "--from", "2026-02-01", "--to", "2026-02-03", "--format", "json", "--db", str(db))
        assert res.returncode == 0 and json.loads(res.stdout)["totals"]["primary"] == 110, res.stderr
    finally:
        attached.close()
        assert srv2.stop() == 0


def _reader(proc: subprocess.Popen[str], into: list[str]) -> threading.Thread:
    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            into.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_a_second_writer_waits_for_the_first_and_says_so(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    jsonl = tmp_path / "second.jsonl"
    write_jsonl(jsonl, events("second", 300, "2026-03-02T00:00:00Z"))
    holder = leadstats.connect(db, create=True)  # no server: this process writes the store
    assert not isinstance(holder, RemoteLeadStats)
    try:
        proc = subprocess.Popen([LEADSTATS, "import", "events", str(jsonl), "--db", db],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        err: list[str] = []
        reader = _reader(proc, err)
        poll(lambda: any("waiting for another leadstats process writing store.duckdb" in line for line in err),
             "the waiting message")
        assert proc.poll() is None  # still waiting, not given up
        assert holder.ingest(events("first", 200, "2026-03-01T00:00:00Z")).accepted == 200
    finally:
        holder.close()
    out, _ = proc.communicate(timeout=120)
    reader.join(timeout=30)
    assert proc.returncode == 0 and "imported 300, skipped 0 duplicates, rejected 0" in out, out + "".join(err)
    assert str(os.getpid()) in "".join(err)  # the message names the holder
    with leadstats.connect(db) as ls:
        assert ls.store.count() == 500


def test_a_reader_waits_for_a_writer_without_a_server(tmp_path: Path) -> None:
    """Decided: a read beside a writer process (no server) waits while it writes, then answers."""
    db = str(tmp_path / "store.duckdb")
    holder = leadstats.connect(db, create=True)
    try:
        holder.ingest(events("r", 5, "2026-03-06T00:00:00Z"))
        report = subprocess.Popen([LEADSTATS, "report", "--from", "2026-03-06", "--to", "2026-03-07", "--format",
                                   "json", "--db", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        err: list[str] = []
        reader = _reader(report, err)
        poll(lambda: any("waiting for another leadstats process writing" in line for line in err), "the message")
        assert report.poll() is None
        holder.ingest(events("r2", 5, "2026-03-06T00:00:00Z"))
    finally:
        holder.close()
    out = report.stdout.read() if report.stdout else ""
    assert report.wait(timeout=120) == 0, "".join(err)
    reader.join(timeout=30)
    assert json.loads(out)["totals"]["primary"] == 10


def test_two_concurrent_cli_imports_both_finish_exactly(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    files = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.jsonl"
        write_jsonl(path, events(name, 5_000, "2026-03-03T00:00:00Z") + events("shared", 100, "2026-03-03T00:00:00Z"))
        files.append(path)
    procs = [subprocess.Popen([LEADSTATS, "import", "events", str(f), "--db", db], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for f in files]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    imported = [int(re.search(r"imported ([\d,]+)", o).group(1).replace(",", "")) for o, _ in outs]  # type: ignore[union-attr]
    text = " ".join(o for o, _ in outs)
    assert "skipped 100 duplicates" in text and "skipped 0 duplicates" in text  # one of them met the shared ids
    assert sorted(imported) == [5_000, 5_100]
    with leadstats.connect(db) as ls:
        assert ls.store.count() == 10_100


def test_serve_runs_the_d1_sync_and_the_digest_on_their_schedules(tmp_path: Path) -> None:
    sqlite = tmp_path / "leads.sqlite"
    d1_fixtures.build_small(sqlite)
    expected = reference_d1_count(tmp_path, sqlite)
    srv = ServerProcess(tmp_path / "store.duckdb", tmp_path / "server.log",
                        env={"LEADSTATS_SYNC_D1_SOURCE": str(sqlite), "LEADSTATS_SYNC_D1_EVERY": "1h",
                             "LEADSTATS_DIGEST_CRON": "* * * * * *", "LEADSTATS_DIGEST_SEND": str(tmp_path / "d.md")})
    advertised(srv)
    try:
        def synced() -> dict[str, Any] | None:
            job = httpx.get(f"{srv.url}/healthz").json()["schedules"]["sync_d1"]
            return job if job["runs"] >= 1 else None

        job = poll(synced, "the first scheduled sync")
        # build_small plants unreadable rows: the run is recorded as failed, with its reason, and retried
        assert job["last_run"] and job["next_run"] and job["schedule"] == "1h"
        assert job["last_error"] and "unreadable rows" in job["last_error"]
        metrics = httpx.get(f"{srv.url}/metrics", headers=auth(READ)).text
        assert 'leadstats_schedule_runs{job="sync_d1"} 1.0' in metrics
        assert 'leadstats_schedule_next_run_timestamp_seconds{job="sync_d1"}' in metrics
        assert 'leadstats_schedule_last_run_failed{job="sync_d1"} 1.0' in metrics
        with leadstats.connect(str(srv.db)) as ls:
            assert ls.health()["events"] == expected

        def digested() -> dict[str, Any] | None:
            job = httpx.get(f"{srv.url}/healthz").json()["schedules"]["digest"]
            return job if job["runs"] >= 1 else None

        digest = poll(digested, "the first scheduled digest")  # every second, in LEADSTATS_TZ
        assert digest["last_error"] is None and digest["last_ok"] and digest["schedule"] == "* * * * * *", digest
        assert (tmp_path / "d.md").read_text().strip()
        assert 'leadstats_schedule_last_success_timestamp_seconds{job="digest"}' in httpx.get(
            f"{srv.url}/metrics", headers=auth(READ)).text
    finally:
        assert srv.stop() == 0


def test_a_bad_schedule_refuses_the_start(tmp_path: Path) -> None:
    res = cli("serve", "--db", str(tmp_path / "s.duckdb"), "--port", str(free_port()),
              env={"LEADSTATS_INGEST_TOKENS": INGEST, "LEADSTATS_SYNC_D1_SOURCE": "x.sqlite",
                   "LEADSTATS_SYNC_D1_EVERY": "every tuesday"})
    assert res.returncode == 2 and "LEADSTATS_SYNC_D1_EVERY" in res.stderr and "Traceback" not in res.stderr


def test_a_served_chdb_directory_follows_the_duckdb_rules(tmp_path: Path) -> None:
    pytest.importorskip("chdb")
    url = f"chdb://{tmp_path}/chstore"
    srv = advertised(ServerProcess(url, tmp_path / "server.log"))  # type: ignore[arg-type]
    try:
        assert read_advert(str(tmp_path / "chstore")) is not None
        jsonl = tmp_path / "ch.jsonl"
        write_jsonl(jsonl, events("ch", 40, "2026-03-04T00:00:00Z"), bad_at=3)
        res = cli("import", "events", str(jsonl), "--db", url)
        assert "imported 40, skipped 0 duplicates, rejected 1" in res.stdout and f"{jsonl}:4: event_type:" in res.stderr
        res = cli("report", "--from", "2026-03-04", "--to", "2026-03-05", "--format", "json", "--db", url)
        api = httpx.get(f"{srv.url}/api/v1/report", params={"from": "2026-03-04", "to": "2026-03-05"},
                        headers=auth(READ)).json()
        assert res.returncode == 0 and without_elapsed(json.loads(res.stdout)) == without_elapsed(api)
        assert api["totals"]["primary"] == 40
    finally:
        assert srv.stop() == 0
    assert read_advert(str(tmp_path / "chstore")) is None


def test_writers_name_the_one_ingest_process_by_url(tmp_path: Path) -> None:
    """The ClickHouse deployment: one ingest process per table, every other writer routed to it by URL
    (here on DuckDB, the routing is the same); a token with both scopes is the client's credential."""
    both = "both-scopes-token"
    srv = ServerProcess(tmp_path / "store.duckdb", tmp_path / "server.log",
                        env={"LEADSTATS_INGEST_TOKENS": f"{INGEST},{both}", "LEADSTATS_READ_TOKENS": f"{READ},{both}"})
    advertised(srv)
    try:
        jsonl = tmp_path / "url.jsonl"
        write_jsonl(jsonl, events("url", 120, "2026-03-05T00:00:00Z"), bad_at=0)
        sqlite = tmp_path / "leads.sqlite"
        d1_fixtures.build_small(sqlite)
        env = {"LEADSTATS_SERVER_TOKEN": both}
        res = cli("import", "events", str(jsonl), "--db", srv.url, env=env)
        assert "imported 120, skipped 0 duplicates, rejected 1" in res.stdout
        assert f"{jsonl}:1: event_type:" in res.stderr
        res = cli("import", "events", str(jsonl), "--db", srv.url, env=env)
        assert "imported 0, skipped 120 duplicates" in res.stdout
        res = cli("sync", "d1", str(sqlite), "--once", "--db", srv.url, env=env)
        again = cli("sync", "d1", str(sqlite), "--once", "--db", srv.url, env=env)
        assert "imported 0 events" in again.stdout, res.stdout + res.stderr + again.stderr
        res = cli("import", "events", str(jsonl), "--db", srv.url, env={"LEADSTATS_SERVER_TOKEN": READ})
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert res.returncode != 0 and len(lines) == 1 and "ingest" in lines[0], res.stderr
        res = cli("info", "--db", srv.url, "--format", "json", env=env)
        assert json.loads(res.stdout)["events"] == 120 + reference_d1_count(tmp_path, sqlite)
    finally:
        assert srv.stop() == 0


def test_a_shared_table_refuses_direct_writers_while_its_ingest_process_lives(tmp_path: Path) -> None:
    """ClickHouse: the serving process records itself (with a heartbeat) in the table's state; a direct
    writer's first append is refused with one line naming it; a stale record (crashed server) is not."""
    from leadstats.discovery import make_advert
    from leadstats.remote import INGEST_SERVER_KEY, GuardedStore, record_ingest_server

    with leadstats.connect(str(tmp_path / "shared.duckdb")) as ls:  # a real store standing in for the table
        advert = make_advert(str(tmp_path / "shared"), "http://10.0.0.5:8000", ls.store.backend)
        stop = record_ingest_server(ls.store, advert)
        try:
            guarded = GuardedStore(ls.store)
            batch = ls.validator.validate_json_lines(pa.array([json.dumps(events("g", 1)[0])]),
                                                     pa.array([1], pa.int64())).good
            with pytest.raises(StoreError, match=r"write through it with --db http://10.0.0.5:8000"):
                guarded.append(batch)
        finally:
            stop()
        assert ls.store.get_state(INGEST_SERVER_KEY) == ""  # a clean exit withdraws the record
        assert GuardedStore(ls.store).append(batch).accepted == 1
        stale = {"url": "http://10.0.0.5:8000", "host": "h", "pid": 1, "heartbeat": time.time() - 600}
        ls.store.set_state(INGEST_SERVER_KEY, json.dumps(stale))
        assert GuardedStore(ls.store).append(batch).duplicates == 1  # a crashed server's record lets writers in
