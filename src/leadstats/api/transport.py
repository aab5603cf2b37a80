"""How uvicorn is told to treat connections: forwarded headers, header read timeout, keep-alive.

- ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed only from the proxies listed in
  ``LEADSTATS_FORWARDED_ALLOW_IPS`` (addresses or networks, ``*`` = any). By default none are: uvicorn
  alone trusts 127.0.0.1, which would let any local client pick its address and so its rate-limit bucket.
- A connection must send a complete request line and headers within ``LEADSTATS_HEADER_TIMEOUT_SECONDS``
  (default 10) of opening, or of its first byte after a previous response; otherwise it is closed.
  uvicorn has no such timeout of its own (its ``timeout_keep_alive`` only covers idle connections
  between requests), so half-open or slowly-trickling connections (slowloris) would be held forever.
  The deadline is counted from the start, not reset by each byte. Bodies are bounded by the body size
  limit and the h11 ``max_incomplete_event_size`` (headers at most 16 KiB).
- Every connection gets ``TCP_NODELAY``. asyncio sets it only on sockets whose protocol number is
  ``IPPROTO_TCP``, and a listening socket made with ``socket.socket(AF_INET, SOCK_STREAM)`` (the CLI's,
  or one handed over by a supervisor) has protocol 0, so its connections kept Nagle's algorithm: the
  body of a response, written after its headers, waited for the client's delayed ACK, 40 ms on Linux.
  Every request, a refused token or ``/healthz`` included, took at least 40 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..settings import Settings

KEEP_ALIVE_SECONDS = 5
MAX_HEADER_BYTES = 16 * 1024


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for receiving each request's headers."""

    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout, self._header_timed_out
        )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # still waiting for a complete request head
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)
        elif self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("closing a connection that sent no complete request headers in time")
            self.transport.close()


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn off Nagle's algorithm on a TCP connection (see the module text); other sockets are left alone."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that apply the settings above."""
    protocol = type(
        "HeaderTimeoutH11", (HeaderTimeoutH11Protocol,), {"header_timeout": float(settings.header_timeout_seconds)}
    )
    trusted = list(settings.forwarded_allow_ips)
    return {
        "http": protocol,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or [],
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
