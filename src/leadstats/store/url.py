"""Store URLs: a bare path or ``duckdb:///path`` (default), ``chdb:///path``, ``clickhouse://...``,
``ae://ACCOUNT/DATASET``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import StoreError
from .base import Store

if TYPE_CHECKING:
    from ..settings import Settings


@dataclass(frozen=True)
class StoreURL:
    scheme: str
    path: str
    raw: str


def parse_url(url: str) -> StoreURL:
    text = str(url).strip()
    if not text:
        raise StoreError("no store given: pass --db PATH or set LEADSTATS_DB")
    if "://" not in text:
        return StoreURL("duckdb", text, text)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("duckdb", "chdb"):
        # duckdb:///abs/path, duckdb://relative/path, duckdb:///:memory:
        path = (parts.netloc + parts.path) if parts.netloc else parts.path
        if text.startswith(f"{parts.scheme}:///") and path.startswith("/:memory:"):
            path = ":memory:"
        return StoreURL(scheme, path, text)
    if scheme in ("clickhouse", "clickhouses", "ae"):
        return StoreURL(scheme, text, text)
    raise StoreError(f"unknown store URL scheme {parts.scheme!r}: use duckdb://, chdb://, clickhouse:// or ae://")


def local_path(url: str) -> str | None:
    """The file or directory a local store URL names (DuckDB, chDB), or None (servers, memory, and a
    ``leadstats serve`` URL, which the service connects to as a client: docs/deployment.md)."""
    if str(url).strip().startswith(("http://", "https://")):
        return None
    parsed = parse_url(url)
    if parsed.scheme in ("duckdb", "chdb") and parsed.path not in ("", ":memory:"):
        return parsed.path
    return None


def open_store(url: str, *, read_only: bool = False, settings: Settings | None = None) -> Store:
    """Open the backend a URL names (``settings`` carries the Cloudflare token and API base for ``ae://``)."""
    parsed = parse_url(url)
    if parsed.scheme == "duckdb":
        from .duckdb import DuckDBStore

        store = DuckDBStore(parsed.path, read_only=read_only)
        if settings is not None:
            store.set_memory_limit(settings.memory_limit)
        return store
    try:
        if parsed.scheme == "chdb":
            from .chdb import ChDBStore  # type: ignore[import-not-found]

            return ChDBStore(parsed.path)  # type: ignore[no-any-return]
        if parsed.scheme in ("clickhouse", "clickhouses"):
            from .clickhouse import ClickHouseStore  # type: ignore[import-not-found]

            return ClickHouseStore(parsed.raw)  # type: ignore[no-any-return]
        if parsed.scheme == "ae":
            from .analytics_engine import AnalyticsEngineStore  # type: ignore[import-not-found]

            return AnalyticsEngineStore(parsed.raw, settings=settings)  # type: ignore[no-any-return]
    except ImportError as exc:
        raise StoreError(
            f"the {parsed.scheme} backend needs an extra: pip install 'leadstats[clickhouse]' ({exc})"
        ) from None
    raise StoreError(f"unsupported store {url!r}")
