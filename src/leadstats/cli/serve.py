"""``leadstats serve``: the HTTP API (ingest, reports, summary, metrics) on uvicorn."""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import typer

from ..discovery import Advert, live_server, make_advert, remove_advert, write_advert
from ..errors import InputError, PortInUse, StoreError
from ..remote import GuardedStore, local_path, open_local, record_ingest_server
from ..service import LeadStats
from ..settings import Settings
from .common import DbOption, app, handle_errors
from .common import settings as cli_settings

log = logging.getLogger("leadstats.serve")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_serve_config(settings: Settings, host: str, insecure_local: bool) -> None:
    """Refuse to serve without tokens (unless --insecure-local) and insecure-local off loopback."""
    if insecure_local and not is_loopback(host):
        raise InputError(
            f"--insecure-local serves only on loopback (127.0.0.1, ::1, localhost), not {host}", field="host"
        )
    if not settings.ingest_tokens and not settings.read_tokens and not insecure_local:
        raise InputError(
            "no tokens configured: set LEADSTATS_INGEST_TOKENS and/or LEADSTATS_READ_TOKENS "
            "(comma-separated bearer tokens), or pass --insecure-local to serve without auth on loopback",
            field="tokens",
        )


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening; a port in use is :class:`PortInUse`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is already in use: stop the program using it, "
                            "or choose another port with --port") from None
        raise PortInUse(f"cannot listen on {host}:{port} ({exc.strerror}): choose another --host or --port") from None
    sock.set_inheritable(True)
    return sock


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal: exit 0 instead of dying,
    # so the store is closed (checkpointed) on the way out.
    raise SystemExit(0)


@app.command()
@handle_errors
def serve(
    db: str | None = DbOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to bind."),
    insecure_local: bool = typer.Option(
        False, "--insecure-local", help="Serve without tokens; only allowed on a loopback address."
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    shutdown_timeout: int = typer.Option(
        30, "--shutdown-timeout", help="Seconds to let in-flight requests finish on SIGTERM/SIGINT."
    ),
) -> None:
    """Serve the HTTP API (docs/http-api.md). Tokens: LEADSTATS_INGEST_TOKENS, LEADSTATS_READ_TOKENS.

    \b
    Example:
      LEADSTATS_READ_TOKENS=s3cret leadstats serve --db leads.duckdb --port 8000
      leadstats serve --db readme.duckdb --insecure-local   (no tokens, loopback only)
    """
    run_server(
        db, host=host, port=port, insecure_local=insecure_local, log_level=log_level, shutdown_timeout=shutdown_timeout
    )


def run_server(
    db: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    insecure_local: bool = False,
    log_level: str = "info",
    shutdown_timeout: int = 30,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Open the store and serve the API (and the dashboard at ``/``) until SIGTERM/SIGINT."""
    import uvicorn

    from ..api import create_app
    from ..api.local_routes import attach_local
    from ..api.observability import configure_logging
    from ..api.schedules import build_scheduler
    from ..api.transport import uvicorn_options

    settings = cli_settings()
    check_serve_config(settings, host, insecure_local)
    configure_logging(log_level)
    url_of_store = db or settings.db
    sock = listen_socket(host, port)  # a busy port is one line (exit 1) before anything else happens
    with sock, open_held_store(url_of_store, settings) as ls:
        scheduler = build_scheduler(ls, settings)  # LEADSTATS_SYNC_D1_*, LEADSTATS_DIGEST_CRON
        # the digest runs in the scheduler (with its status), not in create_app's own digest hook
        api = create_app(ls, dataclasses.replace(settings, digest_cron=None), insecure_local=insecure_local)
        api.state.settings = settings
        configure_logging(log_level)  # again: an extension may have installed its own handlers
        path = local_path(url_of_store)
        advert = make_advert(path or url_of_store, client_url(host, port), ls.store.backend,
                             max_events_per_request=settings.max_events_per_request,
                             max_body_bytes=settings.max_body_bytes)
        attach_local(api, settings, insecure_local=insecure_local, local_token=advert.token)
        if scheduler.jobs:
            api.state.lifespan_hooks.append(scheduler.hook())
            scheduler.register_metrics(api.state.metrics.registry)

        def healthz_extra() -> dict[str, Any]:
            extra: dict[str, Any] = {"server": {
                "pid": advert.pid,
                "started_at": advert.started_at,
                "max_events_per_request": settings.max_events_per_request,
                "max_body_bytes": settings.max_body_bytes,
            }}
            if scheduler.jobs:
                extra["schedules"] = scheduler.status()
            return extra

        api.state.healthz_extra = healthz_extra
        auth = "tokens" if api.state.auth.configured else "none (insecure-local)"
        url = f"http://{host}:{port}/"
        log.info("serving", extra={"fields": {"url": url, "auth": auth, "store": ls.backend}})
        if on_ready:
            on_ready(url)  # the socket listens already: a request sent now waits for uvicorn, never fails
        config = uvicorn.Config(
            api,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=shutdown_timeout,
            lifespan="on",
            **uvicorn_options(ls.settings),  # forwarded headers, header timeout (api/transport.py)
        )
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        # a shared ClickHouse table: this server is its one ingest process; direct writers are refused
        stop_beating = None
        if ls.store.backend == "clickhouse":
            GuardedStore(ls.store).check()  # refuses a second live ingest process for the same table
            stop_beating = record_ingest_server(ls.store, advert)
        try:
            _AdvertisingServer(config, path, advert).run(sockets=[sock])
        finally:
            if stop_beating is not None:
                stop_beating()
            signal.signal(signal.SIGTERM, previous)
            if path is not None:
                remove_advert(path, advert.token)  # before the store closes: clients then wait for the file
            log.info("stopped")


def client_url(host: str, port: int) -> str:
    """The URL local clients use: a wildcard bind is reached on loopback."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def open_held_store(url: str, settings: Settings) -> LeadStats:
    """Open the store in this process; refuse when another live server already holds it, wait (saying
    so) while a CLI import writes it."""
    path = local_path(url)
    if path is None:
        return open_local(url, settings=settings)
    live = live_server(path)
    if live is not None:
        raise StoreError(f"{path} is already served by {live.describe()}: use it, or stop it first")
    told: list[str] = []

    def waiting(message: str) -> None:
        other = live_server(path)
        if other is not None:
            raise StoreError(f"{path} is already served by {other.describe()}: use it, or stop it first")
        if not told:
            told.append(message)
            log.warning(message)

    return open_local(url, settings=settings, waiting=waiting)


class _AdvertisingServer:
    """uvicorn's server, writing ``<store>.server.json`` once it accepts connections (docs/deployment.md)."""

    def __init__(self, config: Any, path: str | None, advert: Advert) -> None:
        import uvicorn

        path_, advert_ = path, advert

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                if path_ is not None and self.started and not self.should_exit:
                    write_advert(path_, advert_)

        self.server = Server(config)

    def run(self, sockets: list[Any] | None = None) -> None:
        self.server.run(sockets=sockets)
