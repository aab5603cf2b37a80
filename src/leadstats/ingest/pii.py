"""Personal data that must not be stored as a dimension value: the patterns, defined once.

A site that puts a visitor's e-mail address in ``utm_term`` or a phone number in ``cta`` would otherwise
have it stored and served by every report. At ingest, every string dimension (``project``, ``source``,
``referer``, ``cta``, ``utm_*``, ``country``, ``region``, ``city``, ``phone_country_code``) whose value
matches one of :data:`PATTERNS` is stored as :data:`REDACTED` instead; the count is in the ingest result
(``redacted``: records with a replaced value) and in ``leadstats_ingest_redacted_values_total{field}``.

The patterns are RE2 expressions run by DuckDB over the whole batch (vectorized, no Python per row):

- ``email``: an e-mail address anywhere in the value, ``@`` written plainly or URL-encoded (``%40``),
  so ``https://site/?email=a%40b.in`` is caught too;
- ``phone`` (the whole value, 8 to 15 digits, one of): ``+`` then digits with spaces, dots, dashes or
  brackets (``+91 98765 43210``, ``+1 (555) 123-4567``); digits in 2 to 5 groups of 2 to 5 split by spaces, dots
  or dashes (``98765-43210``, ``(022) 2345 6789``; an ISO date such as ``2026-03-07`` is not a phone);
  an Indian mobile number, 10 digits starting with 6 to 9, optionally after a 0 (``9876543210``);
- ``phone_param``: a URL query parameter named like a phone (``phone``, ``mobile``, ``tel``,
  ``whatsapp``, ``msisdn``) holding digits (``?mobile=98765...``).

A bare digit string that is not shaped like an Indian mobile (an ad or campaign id such as
``12345678901``) is kept: those are what ``utm_campaign`` / ``utm_content`` usually carry.
"""

from __future__ import annotations

from ..model.schema import STRING_FIELDS

REDACTED = "[redacted]"

#: name -> RE2 pattern (``phone`` is matched against the whole value, the others anywhere in it).
PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": (
        r"^\s*("
        r"\+[\s(]*\d([\s().-]*\d){7,14}"  # phone_intl
        r"|0?[6-9]\d{9}"  # phone_in
        r"|\(?\d{2,5}\)?([\s.-]+\(?\d{2,5}\)?){1,4}"  # phone_grouped
        r")\s*$"
    ),
    "phone_param": r"(?i)[?&#;][a-z_-]*(phone|mobile|tel|whatsapp|msisdn)[a-z_-]*=[^&#]*\d{3}",
}
#: A phone-shaped value also needs 8 to 15 digits and must not be an ISO date (``2026-03-07``).
_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}\s*$"

#: The dimensions checked (every string dimension; ``lead_id`` is hashed, not redacted).
DIMENSIONS: tuple[str, ...] = tuple(f for f in STRING_FIELDS if f != "lead_id")


#: One test per record over all its dimension values joined: when it fails (most records) no value of
#: the record can match, and the per-value patterns are skipped. It looks for an @ (plain or %40), a
#: value starting with a digit, + or ( (a phone's first character), or a phone-like query parameter.
_MAYBE = r"@|%40|(^|\x1f)[0-9+(]|(?i)(phone|mobile|tel|whatsapp|msisdn)[a-z_-]*="


def maybe_pii_sql(values: list[str]) -> str:
    """A DuckDB boolean expression over a record's dimension value expressions: false when none of
    them can look like personal data (the cheap screen before :func:`pii_sql`).
    ``phone_country_code`` (``+91``) starts with + by nature: it is screened on its length instead."""
    others = [v for v in values if "phone_country_code" not in v]
    code = [v for v in values if "phone_country_code" in v]
    screen = f"coalesce(regexp_matches(concat_ws(chr(31), {', '.join(others)}), {_q(_MAYBE)}), false)"
    for v in code:
        screen += f" OR coalesce(length({v}) > 5 OR contains({v}, '@'), false)"
    return screen


def _q(pattern: str) -> str:
    return "'" + pattern.replace("'", "''") + "'"


def pii_sql(v: str) -> str:
    """A DuckDB boolean expression: true when the SQL expression ``v`` (a column of trimmed values) looks
    like personal data, false for null. Cheap tests guard the patterns (CASE is evaluated lazily), so a batch of
    ordinary values costs one anchored regular expression per value."""
    digits = f"length({v}) - length(translate({v}, '0123456789', ''))"
    return (
        f"CASE WHEN {v} IS NULL THEN false ELSE "
        f"(CASE WHEN contains({v}, '@') OR contains({v}, '%40') THEN regexp_matches({v}, {_q(PATTERNS['email'])})"
        f" ELSE false END)"
        f" OR (CASE WHEN (ascii({v}) BETWEEN 48 AND 57 OR ascii({v}) IN (40, 43))"  # starts with a digit, ( or +
        f" AND regexp_matches({v}, {_q(PATTERNS['phone'])})"
        f" THEN {digits} BETWEEN 8 AND 15 AND NOT regexp_matches({v}, {_q(_ISO_DATE)}) ELSE false END)"
        f" OR (CASE WHEN contains({v}, '=') THEN regexp_matches({v}, {_q(PATTERNS['phone_param'])}) ELSE false END)"
        " END"
    )
