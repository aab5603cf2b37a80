"""Cloudflare Workers Analytics Engine, read-only: ``ae://ACCOUNT_ID/DATASET``.

Reports go to the AE SQL API (``POST /client/v4/accounts/{account}/analytics_engine/sql``, bearer token
from ``CLOUDFLARE_API_TOKEN``, raw SQL text in the body, ``FORMAT JSON`` answer). What the API allows
shapes the compiled statement (the ANALYTICS_ENGINE dialect): one table, no JOIN, no WITH, no
subqueries, no bound parameters (values are escaped literals, dimension names come from the registry
only), and every count is ``SUM(_sample_interval)`` because AE samples. Buckets use the same integer
arithmetic per constant-offset segment as every other backend, on ``toUInt32(timestamp)``; zero fill,
ordering and totals happen on the client (:func:`leadstats.query.result.assemble`).

Columns follow CONTRACT §5 and can be remapped in the URL, e.g. ``ae://ACCOUNT/lead_submissions?city=blob7``.
An empty blob is null; ``event_type`` is blob20 (any case), or derived from the primary flag in blob5 when
blob20 is empty, and a data point with no known type is not an event (as in ``leadstats import ae``);
numbers may arrive as strings. Time has second precision on AE, so a window bound is rounded up
to the next whole second (exact for AE's own data).

Settings: ``CLOUDFLARE_API_TOKEN`` (required), ``LEADSTATS_CLOUDFLARE_API_BASE`` (up to and including
``/client/v4``, default ``https://api.cloudflare.com/client/v4``; tests point it at a local stand-in),
``LEADSTATS_AE_TIMEOUT`` seconds. Requests follow the one Cloudflare retry policy
(:mod:`leadstats.cloudflare`): 429 and 5xx answers are retried with backoff and ``Retry-After``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pyarrow as pa

from ..cloudflare import CloudflareClient, response_error
from ..errors import QueryError, StoreError, UpstreamError
from ..model.report import ReportQuery
from ..model.schema import AE_FIELD_COLUMNS, DIMENSIONS, ENGAGEMENT_LABELS, EVENT_TYPES
from ..query.compiler import Relation, compile_report
from ..query.dialect import ANALYTICS_ENGINE, SQLText
from ..settings import Settings
from .base import AppendResult, GroupRows, ReportLimits

DEFAULT_MAPPING: dict[str, str] = dict(AE_FIELD_COLUMNS)
_AE_COLUMN = re.compile(r"^(blob([1-9]|1[0-9]|20)|double([1-9]|1[0-9]|20)|index1)$")
_DATASET = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _ceil_seconds(us: int) -> SQLText:
    # AE timestamps are whole seconds: t >= ceil(bound) <=> t * 1e6 >= bound.
    return SQLText(f"toDateTime({-(-us // 1_000_000)})")


def ae_relation(dataset: str, mapping: Mapping[str, str]) -> Relation:
    """The compiler's view of an AE dataset: column expressions, null tests, the sample weight."""
    columns: dict[str, str] = {}
    nulls: dict[str, str] = {}
    for name, dim in DIMENSIONS.items():
        col = mapping.get(name)
        if dim.derived or col is None or name in ("event_type", "engagement_label", "vpn"):
            continue
        columns[name] = col
        if col.startswith("blob"):
            nulls[name] = f"{col} = ''"
    if "vpn" in mapping:
        columns["vpn"] = f"({mapping['vpn']} != 0)"
    if "engagement_label" in mapping:
        b = mapping["engagement_label"]
        expr = b
        for label in reversed(ENGAGEMENT_LABELS):  # stored spelling, matched case-insensitively
            expr = f"if(lower({b}) = '{label.lower()}', '{label}', {expr})"
        columns["engagement_label"] = expr
        nulls["engagement_label"] = f"{b} = ''"
    et = mapping.get("event_type")
    flag = mapping.get("primary_flag")
    derived = f"if({flag} = '1', 'primary', if({flag} = '0', 'follow_up', ''))" if flag else "''"
    et_expr = f"if({et} != '', lower({et}), {derived})" if et else derived
    columns["event_type"] = et_expr
    nulls["event_type"] = f"{et_expr} = ''"
    # Like `leadstats import ae` (and the validator), a data point without a known type is no event.
    known = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    return Relation(
        dataset,
        "toUInt32(timestamp) * 1000000",
        "timestamp",
        window_value=_ceil_seconds,
        window_type="DateTime",
        columns=columns,
        weight="_sample_interval",
        null_tests=nulls,
        where=f"{et_expr} IN ({known})",
    )


def _number(value: Any, kind: str) -> Any:
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            return int(float(text))
    return float(text)


class AnalyticsEngineStore:
    """Read-only reports over an Analytics Engine dataset through the SQL API."""

    backend = "analytics_engine"
    read_only = True

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        api_base: str | None = None,
        timeout_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        settings: Settings | None = None,
    ) -> None:
        settings = settings or Settings.from_env()
        parts = urlsplit(url)
        account = parts.netloc
        dataset = parts.path.strip("/")
        if not _ACCOUNT.match(account or "") or not _DATASET.match(dataset or ""):
            raise StoreError(f"bad Analytics Engine URL {url!r}: use ae://ACCOUNT_ID/DATASET")
        mapping = dict(DEFAULT_MAPPING)
        for key, value in parse_qsl(parts.query):
            if key not in DEFAULT_MAPPING:
                raise StoreError(f"unknown Analytics Engine field {key!r}: use one of {', '.join(DEFAULT_MAPPING)}")
            if value in ("", "none"):
                mapping.pop(key, None)
                continue
            if not _AE_COLUMN.match(value):
                raise StoreError(f"bad Analytics Engine column {value!r} for {key}: use blob1..20 or double1..20")
            mapping[key] = value
        self.account, self.dataset, self.mapping = account, dataset, mapping
        self.location = f"ae://{account}/{dataset}"
        token = token or settings.cloudflare_api_token or ""
        if not token:
            raise StoreError("the Analytics Engine store needs CLOUDFLARE_API_TOKEN (an Account Analytics Read token)")
        self._http = CloudflareClient(
            settings,
            label="Analytics Engine SQL API",
            token=token,
            base=api_base,
            timeout_s=timeout_s or settings.ae_timeout_s,
            transport=transport,
        )
        self.path = f"accounts/{account}/analytics_engine/sql"
        self.endpoint = self._http.url(self.path)
        self.relation = ae_relation(dataset, mapping)

    # -- the SQL API -----------------------------------------------------------------------------
    def sql(self, statement: str) -> dict[str, Any]:
        """Run one statement (``FORMAT JSON`` is appended) and return the parsed answer; 429s, 5xx and
        dropped connections are retried (:mod:`leadstats.cloudflare`)."""
        resp = self._http.post(
            self.path, content=(statement + " FORMAT JSON").encode(), headers={"Content-Type": "text/plain"}
        )
        if resp.status_code in (401, 403):
            raise UpstreamError(
                f"Analytics Engine refused the token (HTTP {resp.status_code}): check CLOUDFLARE_API_TOKEN"
                " has Account Analytics Read for this account"
            )
        if resp.status_code != 200:
            raise UpstreamError(f"Analytics Engine SQL API error ({response_error(resp)})")
        try:
            doc = resp.json()
        except ValueError:
            raise UpstreamError(f"Analytics Engine answered something other than JSON: {resp.text[:200]}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            raise UpstreamError("Analytics Engine answered JSON without a data list")
        before_limit = doc.get("rows_before_limit_at_least")
        if before_limit is not None and int(_number(before_limit, "int") or 0) > len(doc["data"]):
            # Never assemble a report from a cut answer: counts would be silently low.
            raise UpstreamError(
                f"Analytics Engine returned {len(doc['data']):,} of {before_limit} rows: use a shorter window,"
                " a wider bucket or fewer dimensions"
            )
        return doc

    # -- reads -----------------------------------------------------------------------------------
    def compile(self, query: ReportQuery) -> str:
        used = {*query.dimensions, *(f.dimension for f in query.filters)}
        cols = self.relation.columns
        missing = sorted(d for d in used if not DIMENSIONS[d].derived and DIMENSIONS[d].column not in cols)
        if missing:
            raise QueryError(
                f"dimension {missing[0]!r} is not mapped to an Analytics Engine column in {self.location}",
                field="dimensions",
            )
        return compile_report(query, self.relation, ANALYTICS_ENGINE).sql

    def report_rows(self, query: ReportQuery, limits: ReportLimits | None = None) -> GroupRows:
        doc = self.sql(self.compile(query))
        names = [m.get("name") for m in doc.get("meta", [])]
        bucketed = query.grid.bucket is not None
        kinds: list[str] = (["int"] if bucketed else []) + [
            {"int": "int", "bool": "int", "number": "float"}.get(DIMENSIONS[d].kind, "str") for d in query.dimensions
        ]
        rows: list[tuple[Any, ...]] = []
        for item in doc["data"]:
            values = [item.get(n) for n in names] if isinstance(item, dict) else list(item)
            out: list[Any] = []
            for i, value in enumerate(values):
                kind = kinds[i] if i < len(kinds) else "int"  # metrics follow the keys
                if kind == "str":
                    out.append(None if value is None or value == "" else str(value))
                else:
                    out.append(_number(value, kind))
            rows.append(tuple(out))
        return GroupRows(rows, "analytics_engine")

    def count(self) -> int:
        doc = self.sql(f"SELECT sum(_sample_interval) AS n FROM {self.dataset} WHERE {self.relation.where}")
        return int(_number(doc["data"][0]["n"], "int") or 0) if doc["data"] else 0

    def health(self) -> dict[str, Any]:
        events = f"sum(if({self.relation.where}, _sample_interval, 0))"
        doc = self.sql(f"SELECT count() AS r, {events} AS n FROM {self.dataset}")
        first = doc["data"][0] if doc["data"] else {"r": 0, "n": 0}
        return {
            "backend": self.backend,
            "path": self.location,
            "rows": int(_number(first.get("r"), "int") or 0),  # data points, lead events or not
            "events": int(_number(first.get("n"), "int") or 0),
            "read_only": True,
            "retention": "Analytics Engine keeps 3 months",
        }

    # -- not available on a read-only, id-less source ---------------------------------------------
    def stored_ids(self, ids: list[str]) -> set[str]:
        raise StoreError("Analytics Engine rows carry no event_id: there are no stored ids to look up")

    def append(self, batch: pa.Table) -> AppendResult:
        raise StoreError(
            "Analytics Engine is read-only for leadstats: events reach it from the Worker"
            " (writeDataPoint); send events to a duckdb://, chdb:// or clickhouse:// store instead"
        )

    def get_state(self, key: str) -> str | None:
        return None

    def set_state(self, key: str, value: str) -> None:
        raise StoreError("Analytics Engine is read-only for leadstats: it keeps no state")

    def scan(self, batch_size: int = 100_000, after: str | None = None) -> Iterator[pa.Table]:
        raise StoreError(
            "Analytics Engine rows have no event_id to copy by: import them instead"
            " (leadstats import ae), which derives ids and keeps _sample_interval as weight"
        )

    def close(self) -> None:
        self._http.close()
