"""Server discovery: ``leadstats serve`` advertises itself next to the store it holds.

While a server holds a local store (a DuckDB file or a chDB directory) it keeps
``<store>.server.json`` beside it::

    {"url": "http://127.0.0.1:8000", "pid": 4242, "started_at": "2026-03-07T05:00:00Z",
     "token": "<per-start local credential>", "store": "/abs/path/leadstats.duckdb", "backend": "duckdb",
     "max_events_per_request": 10000, "max_body_bytes": 5242880}

The file is created with mode 0600 (only the owner can read the credential), rewritten atomically,
and removed on a clean exit. Every other process that names the same store (the CLI, ``connect()``,
``leadstats mcp``) reads it and becomes a client of that server (:mod:`leadstats.remote`) instead of
opening the file, which the server holds. After a crash the file stays behind: it is *stale* when its
pid is not alive or its URL does not answer ``/healthz`` with the advertised pid; a client then fails with
one clear line (see :func:`find_server`), and the next ``leadstats serve`` replaces it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import StoreError

SUFFIX = ".server.json"
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Advert:
    url: str
    pid: int
    started_at: str
    token: str
    store: str
    backend: str
    max_events_per_request: int = 10_000
    max_body_bytes: int = 5 * 1024 * 1024

    def describe(self) -> str:
        return f"leadstats serve (pid {self.pid}, {self.url})"


def advert_path(store_path: str) -> str:
    """``/data/leadstats.duckdb`` -> ``/data/leadstats.duckdb.server.json`` (also for a chDB directory)."""
    return os.path.abspath(store_path).rstrip(os.sep) + SUFFIX


def new_token() -> str:
    return "lsl_" + secrets.token_urlsafe(32)


def write_advert(store_path: str, advert: Advert) -> str:
    """Write the advertisement atomically with mode 0600; returns its path."""
    path = advert_path(store_path)
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".leadstats-advert-", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(advert), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def remove_advert(store_path: str, token: str) -> None:
    """Remove the advertisement if it is still ours (a newer server may have replaced it)."""
    path = advert_path(store_path)
    current = read_advert(store_path)
    if current is not None and current.token == token:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def read_advert(store_path: str) -> Advert | None:
    path = advert_path(store_path)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read the server advertisement {path}: {exc}; remove it if no server runs") from None
    try:
        return Advert(
            url=str(doc["url"]),
            pid=int(doc["pid"]),
            started_at=str(doc["started_at"]),
            token=str(doc["token"]),
            store=str(doc["store"]),
            backend=str(doc["backend"]),
            max_events_per_request=int(doc.get("max_events_per_request", 10_000)),
            max_body_bytes=int(doc.get("max_body_bytes", 5 * 1024 * 1024)),
        )
    except (KeyError, TypeError, ValueError):
        raise StoreError(f"the server advertisement {path} is malformed; remove it if no server runs") from None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def probe(advert: Advert, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the advertised server answers ``/healthz`` as itself, else why not."""
    import httpx

    if not pid_alive(advert.pid):
        return f"its process {advert.pid} is not running"
    try:
        response = httpx.get(f"{advert.url}/healthz", timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{advert.url} does not answer ({type(exc).__name__})"
    if response.status_code != 200:
        return f"{advert.url}/healthz answered {response.status_code}"
    try:
        pid = response.json().get("server", {}).get("pid")
    except ValueError:
        pid = None
    if pid is not None and int(pid) != advert.pid:
        return f"{advert.url} is another process (pid {pid})"
    return None


def stale_message(store_path: str, advert: Advert, why: str) -> str:
    return (
        f"{store_path} is advertised by {advert.describe()} in {advert_path(store_path)}, but {why}: "
        f"the server is down (crashed?). Restart `leadstats serve`, or remove {advert_path(store_path)} "
        "if it will not come back"
    )


def find_server(store_path: str) -> Advert | None:
    """The live server holding ``store_path``, None when none is advertised; StoreError (one line)
    when the advertisement is stale."""
    advert = read_advert(store_path)
    if advert is None:
        return None
    why = probe(advert)
    if why is not None:
        raise StoreError(stale_message(store_path, advert, why))
    return advert


def live_server(store_path: str) -> Advert | None:
    """Like :func:`find_server` but a stale advertisement counts as none (used while waiting for a lock)."""
    try:
        advert = read_advert(store_path)
    except StoreError:
        return None
    if advert is None or probe(advert, timeout=1.0) is not None:
        return None
    return advert


def make_advert(store_path: str, url: str, backend: str, **limits: Any) -> Advert:
    return Advert(
        url=url.rstrip("/"),
        pid=os.getpid(),
        started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        token=new_token(),
        store=os.path.abspath(store_path),
        backend=backend,
        **limits,
    )
