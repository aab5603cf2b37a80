"""Real ``leadstats serve`` processes for the tests that are about the process boundary (imported by
test_api_server.py, test_security_server.py, test_crash.py, test_durability.py, test_multiproc.py and
conftest.py; not a test module)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

LEADSTATS = str(Path(sys.executable).with_name("leadstats"))
INGEST, READ, BURST = "srv-ingest-token", "srv-read-token", "srv-burst-token"
#: The rate limit of conftest's ``limited_server``: small, so a few dozen requests prove the limiter.
LIMIT_PER_MINUTE = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``leadstats serve`` in a subprocess; ``start`` waits for /healthz, ``kill`` is SIGKILL."""

    def __init__(self, db: Path, log: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.db, self.log = db, log
        self._port_chosen = port is not None  # else a free port, picked again if another process takes it first
        self.port = port or free_port()
        self.env = {
            **os.environ,
            "LEADSTATS_INGEST_TOKENS": INGEST,
            "LEADSTATS_READ_TOKENS": f"{READ},{BURST}",
            "LEADSTATS_RATE_LIMIT_PER_MINUTE": "0",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> ServerProcess:
        """Start and wait for /healthz. ``timeout`` only bounds a server that never comes up (generous:
        a loaded machine is slow, never wrong). Until the first start succeeds, a free port that another
        process took in the meantime (parallel test workers) is replaced by a new one."""
        for _attempt in range(5):
            if self._start(timeout):
                self.started = True
                return self
            self.port = free_port()
        raise RuntimeError(f"no free port for the server after 5 tries:\n{self.log.read_text()[-3000:]}")

    def _start(self, timeout: float) -> bool:
        args = [LEADSTATS, "serve", "--db", str(self.db), "--port", str(self.port), "--shutdown-timeout", "20"]
        seen = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(args, env=self.env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                with self.log.open("rb") as fh:
                    fh.seek(seen)
                    said = fh.read().decode(errors="replace")
                if not self.started and not self._port_chosen and "already in use" in said:
                    return False
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=5.0).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not answer /healthz within {timeout}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: the exit code (0 after a graceful shutdown)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def events(prefix: str, n: int, when: str = "2026-02-01T00:00:00Z", **fields: Any) -> list[dict[str, Any]]:
    return [{"event_id": f"{prefix}-{i}", "event_type": "primary", "occurred_at": when, **fields} for i in range(n)]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
