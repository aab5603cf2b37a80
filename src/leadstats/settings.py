"""All configuration in one typed object, read from ``LEADSTATS_*`` and ``CLOUDFLARE_*`` environment variables.

Every variable leadstats reads is a field here; nothing else in ``src/`` reads ``os.environ``. A front end
reads the environment once per process (:meth:`Settings.from_env`) and passes the object down. Values are
validated when read (a pydantic dataclass): a bad one is a :class:`SettingsError` whose message names
the variable, so ``leadstats serve`` with ``LEADSTATS_RATE_LIMIT_PER_MINUTE=abc`` exits 2 with one line.

>>> Settings.from_env({"LEADSTATS_TZ": "Europe/Berlin", "LEADSTATS_READ_TOKENS": "a, b"}).read_tokens
('a', 'b')
>>> Settings.from_env({"LEADSTATS_MAX_BODY_BYTES": "-1"})
Traceback (most recent call last):
...
leadstats.errors.SettingsError: LEADSTATS_MAX_BODY_BYTES: '-1' must be greater than 0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import field
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from .errors import SettingsError
from .model.schema import DEFAULT_TIMEZONE

DEFAULT_DB = "leadstats.duckdb"
#: The Cloudflare API base: everything up to and including ``/client/v4`` (docs/scale-out.md).
DEFAULT_CLOUDFLARE_API_BASE = "https://api.cloudflare.com/client/v4"

__all__ = ["DEFAULT_DB", "DEFAULT_TIMEZONE", "ENV_NAMES", "Settings", "SettingsError", "env_name"]

#: Fields whose variable is not ``LEADSTATS_<FIELD>``.
ENV_NAMES: dict[str, str] = {
    "timezone": "LEADSTATS_TZ",
    "cloudflare_api_token": "CLOUDFLARE_API_TOKEN",
    "cloudflare_account_id": "CLOUDFLARE_ACCOUNT_ID",
    "ae_timeout_s": "LEADSTATS_AE_TIMEOUT",
}


def env_name(field_name: str) -> str:
    """The environment variable that sets ``field_name``."""
    return ENV_NAMES.get(field_name, f"LEADSTATS_{field_name.upper()}")


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


@dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    timezone: str = DEFAULT_TIMEZONE
    ingest_tokens: tuple[str, ...] = ()
    read_tokens: tuple[str, ...] = ()
    rate_limit_per_minute: NonNegativeInt = 600  # 0 turns the limiter off
    max_body_bytes: PositiveInt = 5 * 1024 * 1024
    max_events_per_request: PositiveInt = 10_000
    digest_cron: str | None = None
    digest_send: str | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    k_anonymity: PositiveInt = 5
    # Limits on one report (docs/storage.md): 0 turns a limit off
    report_max_rows: Annotated[int, Field(ge=0)] = 250_000
    report_timeout_s: Annotated[float, Field(ge=0)] = 60.0
    report_concurrency: PositiveInt = 2
    memory_limit: Annotated[str, Field(pattern=r"^\s*\d+(\.\d+)?\s*([KMGT]i?B|[KMGT])?\s*$")] = "2GB"
    # leadstats serve runs the D1 sync on a schedule (docs/deployment.md)
    sync_d1_source: str | None = None
    sync_d1_every: str | None = None  # a duration (30s, 5m, 1h) or a cron expression; default 5m
    sync_d1_prefix: str = "d1"
    sync_d1_mapping: str | None = None
    server_token: str | None = field(default=None, repr=False)  # for --db http(s)://HOST:PORT (both scopes)
    # security (docs/security.md): Host names served, proxies whose X-Forwarded-For is trusted,
    # seconds a client gets to send a request's headers
    allowed_hosts: tuple[str, ...] = ()
    forwarded_allow_ips: tuple[str, ...] = ()
    header_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # Cloudflare clients (AE SQL API backend, D1 REST source): one base, one token, one retry policy
    cloudflare_api_token: str | None = field(default=None, repr=False)
    cloudflare_account_id: str | None = None
    cloudflare_api_base: str = DEFAULT_CLOUDFLARE_API_BASE
    ae_timeout_s: Annotated[float, Field(gt=0)] = 60.0
    http_attempts: PositiveInt = 6  # tries per Cloudflare request, the first included
    http_backoff_s: Annotated[float, Field(ge=0)] = 0.5  # first retry's base delay, doubled per retry

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            if not value or value.startswith(("/", ".")) or ".." in value:
                raise ValueError
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError("is not an IANA time zone (for example Asia/Kolkata)") from None
        return value

    @field_validator("cloudflare_api_base")
    @classmethod
    def _http_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://api.cloudflare.com/client/v4")
        return value.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable once; a bad value raises :class:`SettingsError` naming it."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"LEADSTATS_{name}")
            return value if value not in (None, "") else None

        def given(**values: Any) -> dict[str, Any]:
            return {k: v for k, v in values.items() if v is not None}

        raw = given(
            db=get("DB"),
            timezone=get("TZ"),
            ingest_tokens=_csv(get("INGEST_TOKENS")),
            read_tokens=_csv(get("READ_TOKENS")),
            rate_limit_per_minute=get("RATE_LIMIT_PER_MINUTE"),
            max_body_bytes=get("MAX_BODY_BYTES"),
            max_events_per_request=get("MAX_EVENTS_PER_REQUEST"),
            digest_cron=get("DIGEST_CRON"),
            digest_send=get("DIGEST_SEND"),
            llm_base_url=get("LLM_BASE_URL"),
            llm_model=get("LLM_MODEL"),
            llm_api_key=get("LLM_API_KEY"),
            k_anonymity=get("K_ANONYMITY"),
            report_max_rows=get("REPORT_MAX_ROWS"),
            report_timeout_s=get("REPORT_TIMEOUT_S"),
            report_concurrency=get("REPORT_CONCURRENCY"),
            memory_limit=get("MEMORY_LIMIT"),
            sync_d1_source=get("SYNC_D1_SOURCE"),
            sync_d1_every=get("SYNC_D1_EVERY"),
            sync_d1_prefix=get("SYNC_D1_PREFIX"),
            sync_d1_mapping=get("SYNC_D1_MAPPING"),
            server_token=get("SERVER_TOKEN"),
            allowed_hosts=_csv(get("ALLOWED_HOSTS")),
            forwarded_allow_ips=_csv(get("FORWARDED_ALLOW_IPS")),
            header_timeout_seconds=get("HEADER_TIMEOUT_SECONDS"),
            cloudflare_api_token=(env.get("CLOUDFLARE_API_TOKEN") or "").strip() or None,
            cloudflare_account_id=(env.get("CLOUDFLARE_ACCOUNT_ID") or "").strip() or None,
            cloudflare_api_base=get("CLOUDFLARE_API_BASE"),
            ae_timeout_s=get("AE_TIMEOUT"),
            http_attempts=get("HTTP_ATTEMPTS"),
            http_backoff_s=get("HTTP_BACKOFF_S"),
        )
        try:
            return cls(**raw)
        except ValidationError as exc:
            raise _settings_error(exc, raw) from None


def _settings_error(exc: ValidationError, raw: Mapping[str, Any]) -> SettingsError:
    first = exc.errors(include_url=False)[0]
    name = str(first["loc"][0]) if first.get("loc") else "?"
    message = str(first.get("msg", "is not valid"))
    message = message.removeprefix("Value error, ")
    if message.startswith("Input should be "):
        message = "must be " + message.removeprefix("Input should be ")
    if first.get("type") in ("int_parsing", "int_from_float"):
        message = "must be a whole number"
    elif first.get("type") == "float_parsing":
        message = "must be a number"
    else:
        message = message[:1].lower() + message[1:]
    variable = env_name(name)
    value = raw.get(name)
    shown = "" if value is None or name.endswith(("token", "key", "tokens")) else f" {value!r}"
    return SettingsError(f"{variable}:{shown} {message}", field=variable)
