"""The server's connections: TCP_NODELAY on every one, also on a listening socket of protocol 0 (the
CLI's ``listen_socket``), where asyncio leaves Nagle's algorithm on and every response's body waited for
the client's delayed ACK (40 ms per request)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn

from leadstats.api.transport import uvicorn_options
from leadstats.cli.serve import listen_socket
from leadstats.settings import Settings


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_every_connection_has_tcp_nodelay() -> None:
    sock = listen_socket("127.0.0.1", 0)
    assert sock.proto == 0  # the case asyncio does not cover
    port = sock.getsockname()[1]
    config = uvicorn.Config(_app, log_config=None, lifespan="off", **uvicorn_options(Settings()))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
            flags = [
                proto.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                for proto in list(server.server_state.connections)
            ]
            assert flags and all(flags), flags
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_set_nodelay_ignores_other_sockets() -> None:
    from leadstats.api.transport import set_nodelay

    class Transport(asyncio.BaseTransport):
        def __init__(self, sock: socket.socket | None) -> None:
            super().__init__()
            self.sock = sock

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return self.sock if name == "socket" else default

    set_nodelay(Transport(None))
    left, right = socket.socketpair()
    with left, right:
        set_nodelay(Transport(left))  # a Unix socket: nothing to set, no error
