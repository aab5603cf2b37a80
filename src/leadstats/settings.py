"""All configuration in one typed object, read from ``LEADSTATS_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DB = "leadstats.duckdb"
DEFAULT_TIMEZONE = "Asia/Kolkata"


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    timezone: str = DEFAULT_TIMEZONE
    ingest_tokens: tuple[str, ...] = ()
    read_tokens: tuple[str, ...] = ()
    rate_limit_per_minute: int = 600
    max_body_bytes: int = 5 * 1024 * 1024
    max_events_per_request: int = 10_000
    digest_cron: str | None = None
    digest_send: str | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    k_anonymity: int = 5
    sync_d1_source: str | None = None  # leadstats serve: sync this D1 source on a schedule (docs/deployment.md)
    sync_d1_every: str | None = None  # a duration (30s, 5m, 1h) or a cron expression; default 5m
    sync_d1_prefix: str = "d1"
    sync_d1_mapping: str | None = None
    server_token: str | None = field(default=None, repr=False)  # for --db http(s)://HOST:PORT (both scopes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"LEADSTATS_{name}")
            return value if value not in (None, "") else None

        return cls(
            db=get("DB") or DEFAULT_DB,
            timezone=get("TZ") or DEFAULT_TIMEZONE,
            ingest_tokens=_csv(get("INGEST_TOKENS")),
            read_tokens=_csv(get("READ_TOKENS")),
            rate_limit_per_minute=int(get("RATE_LIMIT_PER_MINUTE") or 600),
            max_body_bytes=int(get("MAX_BODY_BYTES") or 5 * 1024 * 1024),
            max_events_per_request=int(get("MAX_EVENTS_PER_REQUEST") or 10_000),
            digest_cron=get("DIGEST_CRON"),
            digest_send=get("DIGEST_SEND"),
            llm_base_url=get("LLM_BASE_URL"),
            llm_model=get("LLM_MODEL"),
            llm_api_key=get("LLM_API_KEY"),
            k_anonymity=int(get("K_ANONYMITY") or 5),
            sync_d1_source=get("SYNC_D1_SOURCE"),
            sync_d1_every=get("SYNC_D1_EVERY"),
            sync_d1_prefix=get("SYNC_D1_PREFIX") or "d1",
            sync_d1_mapping=get("SYNC_D1_MAPPING"),
            server_token=get("SERVER_TOKEN"),
        )
