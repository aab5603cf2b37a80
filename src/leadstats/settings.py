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
    # security (docs/security.md): Host names served, proxies whose X-Forwarded-For is trusted,
    # seconds a client gets to send a request's headers
    allowed_hosts: tuple[str, ...] = ()
    forwarded_allow_ips: tuple[str, ...] = ()
    header_timeout_seconds: float = 10.0

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
            allowed_hosts=_csv(get("ALLOWED_HOSTS")),
            forwarded_allow_ips=_csv(get("FORWARDED_ALLOW_IPS")),
            header_timeout_seconds=float(get("HEADER_TIMEOUT_SECONDS") or 10.0),
        )
