"""One writer process per local store file, and readers that wait for it: ``<store>.lock``.

DuckDB lets one process open a file for writing and refuses read-only opens while it is open. Each open
first takes ``<store>.lock`` with ``fcntl.flock`` (exclusive to write, shared to read); a process that
finds it held says so once on the terminal and waits for as long as the holder writes, instead of
giving up after a few seconds (docs/deployment.md). chDB directories take the same lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import StoreError

#: Called while another process holds the store: ``(message)``; it may raise to stop waiting.
LockWaiting = Callable[[str], None]
LOCK_POLL_S = 0.2


def lock_path(path: str) -> str:
    return os.path.abspath(path) + ".lock"


def _holder(fd: int) -> str:
    """Who holds the lock, from what the writer wrote into the lock file ("pid N: command")."""
    try:
        text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    pid_text, _, command = text.partition(" ")
    if pid_text.isdigit():
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return "another leadstats process"
        except PermissionError:
            pass
        return f"pid {pid_text}: {command}" if command else f"pid {pid_text}"
    return "another leadstats process (reading)"


def _print_waiting(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class StoreLock:
    """Who may open a DuckDB file: ``<store>.lock`` under ``fcntl.flock``, held while the store is open.

    Writers take it exclusively and *wait as long as another writer (or reader) holds it*, saying so
    once on stderr ("waiting for another leadstats process writing ..."): two imports into one store
    both finish, one after the other. Read-only opens take it shared (many at once, like DuckDB's
    read-only opens) and wait for a writer the same way. ``wait_s`` bounds the wait when given: then
    the open fails with one line naming the holder. ``waiting`` is called with the
    message on every poll while blocked (the service prints it once and notices a ``leadstats serve``
    that appeared meanwhile, to switch to it); it may raise to stop waiting. Opens of the same file
    within one process share one lock (DuckDB shares one database instance per file and process too).
    """

    _held: dict[str, list[Any]] = {}  # abspath -> [fd, users, exclusive]
    _guard = threading.Lock()

    def __init__(
        self, path: str, *, exclusive: bool, waiting: LockWaiting | None = None, wait_s: float | None = None
    ) -> None:
        self.path = lock_path(path)
        with StoreLock._guard:
            held = StoreLock._held.get(self.path)
            if held is not None:
                held[1] += 1
                self.fd = held[0]
                return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:  # another user's lock file: flock works on a read-only descriptor too
            fd = os.open(self.path, os.O_RDONLY)
        try:
            self._acquire(fd, path, exclusive, waiting or _default_waiting(path), wait_s)
        except BaseException:
            os.close(fd)
            raise
        if exclusive:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {_command_line()}".encode("utf-8", "replace"), 0)
        with StoreLock._guard:
            StoreLock._held[self.path] = [fd, 1, exclusive]
        self.fd = fd

    def _acquire(self, fd: int, path: str, exclusive: bool, waiting: LockWaiting, wait_s: float | None) -> None:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = None if wait_s is None else time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise StoreError(f"cannot lock {self.path}: {exc.strerror}") from None
            holder = _holder(fd)
            waiting(f"waiting for another leadstats process writing {os.path.basename(path)} ({holder}) …")
            if deadline is not None and time.monotonic() >= deadline:
                raise StoreError(
                    f"{path} is in use by another process ({holder}): try again when it finishes, or run"
                    " `leadstats serve` on it so every command shares it (docs/deployment.md)"
                )
            time.sleep(LOCK_POLL_S)

    def release(self) -> None:
        with StoreLock._guard:
            held = StoreLock._held.get(self.path)
            if held is None:
                return
            held[1] -= 1
            if held[1] > 0:
                return
            del StoreLock._held[self.path]
        with contextlib.suppress(OSError):
            if held[2]:
                os.ftruncate(held[0], 0)  # the holder note names only a current writer
        with contextlib.suppress(OSError):
            os.close(held[0])


def _default_waiting(path: str) -> LockWaiting:
    """Say once that we wait; but a store held by a live ``leadstats serve`` is refused at once (a
    direct open would wait for the server's whole life; :func:`leadstats.connect` becomes its client)."""
    from ..discovery import live_server

    tell = _once(_print_waiting)

    def waiting(message: str) -> None:
        server = live_server(path)
        if server is not None:
            raise StoreError(
                f"{path} is held by {server.describe()}: this needs the file itself, stop the server first"
                " (or use a command that goes through it, docs/deployment.md)"
            )
        tell(message)

    return waiting


def _command_line() -> str:
    """This process's command for the lock file, without anything that may hold a secret (URLs)."""
    words = [os.path.basename(sys.argv[0]) if sys.argv else "python"]
    for arg in sys.argv[1:]:
        words.append(arg.split("://", 1)[0] + "://…" if "://" in arg else arg)
    return " ".join(words)[:300]


def _once(fn: LockWaiting) -> LockWaiting:
    told: list[str] = []

    def call(message: str) -> None:
        if not told:
            told.append(message)
            fn(message)

    return call
