"""Where each lead-event field lives in a deployment's D1 tables and Analytics Engine columns.

The defaults are CONTRACT §5 (Analytics Engine) and §6 / ``d1_schema.sql`` (D1). A deployment whose names
differ gives a TOML file (``--mapping FILE``) that overrides only what differs::

    [d1.tables]                  # contract table name = your table name
    LeadSubmissions = "lead_submissions"

    [d1.columns.LeadSubmissions] # contract column name = your column name ("" = you have no such column)
    SubmittedAt = "created_at"
    PayloadJson = ""

    [d1.payload]                 # event field = key inside PayloadJson
    utm_source = "utmSource"

    [d1]
    bot_reasons = ["honeypot", "captcha"]   # BlockedIPLeads.Reason values that mean bot
    enquiry_utc_offset = "+05:30"          # zone of Leads.EnquiryDateTime

    [ae.columns]                 # event field = AE column
    project = "blob1"
    lead_id = "index1"

Names are only ever used as quoted identifiers, never pasted into SQL as text.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..model.schema import AE_FIELD_COLUMNS

#: The contract's D1 tables: primary key first, then every column leadstats may read. PII columns
#: (ContactName/Email/Phone, IP) are deliberately absent: they cannot be mapped, so they are never read.
D1_TABLES: dict[str, tuple[str, ...]] = {
    "LeadSubmissions": (
        "SubmissionId", "LeadId", "ProjectName", "Source", "Referer", "IsPrimaryLead", "PayloadJson", "SubmittedAt",
    ),
    "Leads": (
        "LeadId", "ProjectName", "ProjectSource", "ContactCountryCode", "ContactCountryName", "ContactRegion",
        "ContactCity", "Referer", "EnquiryDateTime", "CreatedAt", "EngagementLabel", "VpnSuspected",
        "SuspicionScore",
    ),
    "TestingLeads": ("Id", "ProjectName", "Source", "Referer", "PayloadJson", "ReceivedAt"),
    "BlockedIPLeads": ("Id", "Reason", "ProjectName", "Source", "Referer", "PayloadJson", "ReceivedAt"),
}
#: Columns without which a table cannot be imported at all.
D1_REQUIRED: dict[str, tuple[str, ...]] = {
    "LeadSubmissions": ("SubmissionId", "IsPrimaryLead", "SubmittedAt"),
    "Leads": ("LeadId",),
    "TestingLeads": ("Id", "ReceivedAt"),
    "BlockedIPLeads": ("Id", "ReceivedAt"),
}
#: Every column of the contract schema in table order (a dump without CREATE TABLE nor column lists).
D1_FULL_COLUMNS: dict[str, tuple[str, ...]] = {
    "Leads": (
        "LeadId", "ProjectName", "ProjectSource", "ContactName", "ContactEmail", "ContactPhone",
        "ContactCountryCode", "ContactCountryName", "ContactRegion", "ContactCity", "Referer", "EnquiryDateTime",
        "CreatedAt", "LeadScore", "EngagementLabel", "VpnSuspected", "SuspicionScore", "SuspicionReasons", "Status",
    ),
    "LeadSubmissions": D1_TABLES["LeadSubmissions"],
    "TestingLeads": ("Id", "IP", "ProjectName", "Source", "Referer", "PayloadJson", "ReceivedAt"),
    "BlockedIPLeads": ("Id", "IP", "Reason", "ProjectName", "Source", "Referer", "PayloadJson", "ReceivedAt"),
}
PAYLOAD_FIELDS: tuple[str, ...] = (
    "cta", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    "user_country", "user_region", "user_city",
)

AE_COLUMNS: tuple[str, ...] = (
    "timestamp", "index1", "_sample_interval", *(f"blob{i}" for i in range(1, 21)),
    *(f"double{i}" for i in range(1, 21)),
)
AE_DEFAULTS: dict[str, str] = {"occurred_at": "timestamp", "weight": "_sample_interval", **AE_FIELD_COLUMNS}
AE_FIELDS: tuple[str, ...] = (
    *AE_DEFAULTS, "lead_id",
)

_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def quote_ident(name: str) -> str:
    """``quote_ident('a"b') == '"a""b"'``: a safe SQL identifier whatever the TOML said."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class D1Mapping:
    """Actual table and column names of one deployment (contract names by default)."""

    tables: dict[str, str] = field(default_factory=lambda: {t: t for t in D1_TABLES})
    columns: dict[str, dict[str, str | None]] = field(
        default_factory=lambda: {t: {c: c for c in cols} for t, cols in D1_TABLES.items()}
    )
    payload: dict[str, str] = field(default_factory=lambda: {k: k for k in PAYLOAD_FIELDS})
    bot_reasons: tuple[str, ...] = ("honeypot",)
    enquiry_offset_minutes: int = 330  # Asia/Kolkata, which has no DST

    def table(self, name: str) -> str:
        return self.tables[name]

    def column(self, table: str, name: str) -> str | None:
        """The deployment's name for a contract column, or None when it has none."""
        return self.columns[table].get(name)


@dataclass(frozen=True)
class AEMapping:
    """Event field -> Analytics Engine column (``blobN``, ``doubleN``, ``index1``, ``timestamp``)."""

    columns: dict[str, str | None] = field(default_factory=lambda: dict(AE_DEFAULTS))


@dataclass(frozen=True)
class SourceMapping:
    d1: D1Mapping = field(default_factory=D1Mapping)
    ae: AEMapping = field(default_factory=AEMapping)


def _names(doc: Any, where: str, allowed: tuple[str, ...] | dict[str, Any]) -> dict[str, str | None]:
    if not isinstance(doc, dict):
        raise InputError(f"mapping: [{where}] must be a table of name = \"name\" pairs")
    out: dict[str, str | None] = {}
    for key, value in doc.items():
        if key not in allowed:
            raise InputError(f"mapping: [{where}] has unknown key {key!r}; known: {', '.join(allowed)}")
        if not isinstance(value, str):
            raise InputError(f"mapping: [{where}] {key} must be a string")
        out[key] = value.strip() or None
    return out


def parse_offset(text: str) -> int:
    """``parse_offset('+05:30') == 330`` (minutes east of UTC)."""
    m = _OFFSET.match(text.strip())
    if not m:
        raise InputError(f"mapping: enquiry_utc_offset must look like +05:30, got {text!r}")
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    return minutes if m.group(1) == "+" else -minutes


def parse_mapping(doc: dict[str, Any]) -> SourceMapping:
    """Build a :class:`SourceMapping` from a parsed TOML document (unknown keys are refused)."""
    unknown = set(doc) - {"d1", "ae"}
    if unknown:
        raise InputError(f"mapping: unknown section(s) {', '.join(sorted(unknown))}; use [d1...] and [ae...]")
    return SourceMapping(_parse_d1(doc.get("d1", {})), _parse_ae(doc.get("ae", {})))


def _parse_d1(d1_doc: Any) -> D1Mapping:
    d1 = D1Mapping()
    if not isinstance(d1_doc, dict):
        raise InputError("mapping: [d1] must be a table")
    extra = set(d1_doc) - {"tables", "columns", "payload", "bot_reasons", "enquiry_utc_offset"}
    if extra:
        raise InputError(f"mapping: [d1] has unknown key(s) {', '.join(sorted(extra))}")
    tables = dict(d1.tables)
    for key, value in _names(d1_doc.get("tables", {}), "d1.tables", D1_TABLES).items():
        if value is None:
            raise InputError(f"mapping: [d1.tables] {key} cannot be empty")
        tables[key] = value
    reasons = d1_doc.get("bot_reasons", list(d1.bot_reasons))
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise InputError("mapping: [d1] bot_reasons must be a list of strings")
    offset = d1.enquiry_offset_minutes
    if "enquiry_utc_offset" in d1_doc:
        offset = parse_offset(str(d1_doc["enquiry_utc_offset"]))
    return replace(
        d1,
        tables=tables,
        columns=_parse_d1_columns(d1, d1_doc.get("columns", {})),
        payload=_parse_payload(d1, d1_doc.get("payload", {})),
        bot_reasons=tuple(r.strip().lower() for r in reasons),
        enquiry_offset_minutes=offset,
    )


def _parse_d1_columns(d1: D1Mapping, col_doc: Any) -> dict[str, dict[str, str | None]]:
    columns = {t: dict(cols) for t, cols in d1.columns.items()}
    if not isinstance(col_doc, dict):
        raise InputError("mapping: [d1.columns] must hold one table per D1 table, e.g. [d1.columns.Leads]")
    for table, names in col_doc.items():
        if table not in D1_TABLES:
            raise InputError(f"mapping: [d1.columns.{table}] is not a contract table ({', '.join(D1_TABLES)})")
        parsed = _names(names, f"d1.columns.{table}", D1_TABLES[table])
        for key, value in parsed.items():
            if value is None and key in D1_REQUIRED[table]:
                raise InputError(f"mapping: [d1.columns.{table}] {key} is required and cannot be empty")
        columns[table].update(parsed)
    return columns


def _parse_payload(d1: D1Mapping, payload_doc: Any) -> dict[str, str]:
    payload = dict(d1.payload)
    for key, value in _names(payload_doc, "d1.payload", PAYLOAD_FIELDS).items():
        if value is not None and re.search(r'["\\\x00-\x1f]', value):
            raise InputError(f"mapping: [d1.payload] {key}: a key with quotes, backslashes or control characters"
                             " cannot be read")
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def _parse_ae(ae_doc: Any) -> AEMapping:
    ae = AEMapping()
    if not isinstance(ae_doc, dict) or set(ae_doc) - {"columns"}:
        raise InputError("mapping: [ae] holds only [ae.columns]")
    ae_cols = dict(ae.columns)
    for key, value in _names(ae_doc.get("columns", {}), "ae.columns", AE_FIELDS).items():
        if value is not None and value not in AE_COLUMNS:
            raise InputError(f"mapping: [ae.columns] {key} = {value!r} is not an AE column (blob1..20, double1..20,"
                             " index1, timestamp, _sample_interval)")
        if value is None and key == "occurred_at":
            raise InputError("mapping: [ae.columns] occurred_at cannot be empty")
        ae_cols[key] = value
    return AEMapping(ae_cols)


def load_mapping(path: str | Path | None) -> SourceMapping:
    """Read a TOML mapping file; ``None`` gives the contract defaults."""
    if path is None:
        return SourceMapping()
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    return parse_mapping(doc)
