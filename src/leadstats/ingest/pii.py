"""Personal data that must not be stored as a dimension value: the patterns, defined once.

A site that puts a visitor's e-mail address in ``utm_term`` or a phone number in ``cta`` would otherwise
have it stored and served by every report. At ingest, every string dimension (``project``, ``source``,
``referer``, ``cta``, ``utm_*``, ``country``, ``region``, ``city``, ``phone_country_code``) whose value
matches one of :data:`PATTERNS` is stored as :data:`REDACTED` instead; the count is in the ingest result
(``redacted``: records with a replaced value) and in ``leadstats_ingest_redacted_values_total{field}``.

The patterns are RE2 expressions run by DuckDB over the whole batch (vectorized, no Python per row):

- ``email``: an e-mail address anywhere in the value, ``@`` written plainly or URL-encoded (``%40``),
  so ``https://site/?email=a%40b.in`` is caught too;
- ``phone_intl``: the whole value is ``+`` then 8 to 15 digits with spaces, dots, dashes or brackets
  (``+91 98765 43210``, ``+1 (555) 123-4567``);
- ``phone_grouped``: the whole value is 8 to 15 digits in 2 to 5 groups split by spaces, dots or
  dashes, each group 2 to 5 digits (``98765-43210``, ``(022) 2345 6789``); ISO dates (``2026-03-07``)
  are not phone numbers;
- ``phone_in``: the whole value is an Indian mobile number, 10 digits starting with 6 to 9, with an
  optional leading 0 (``9876543210``);
- ``phone_param``: a URL query parameter named like a phone (``phone``, ``mobile``, ``tel``,
  ``whatsapp``, ``msisdn``) holding digits (``?mobile=98765...``).

A bare digit string that is not shaped like an Indian mobile (an ad or campaign id such as
``12345678901``) is kept: those are what ``utm_campaign`` / ``utm_content`` usually carry.
"""

from __future__ import annotations

from ..model.schema import STRING_FIELDS

REDACTED = "[redacted]"

#: name -> RE2 pattern (matched with ``regexp_matches``: anchor with ^...$ for whole values).
PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone_intl": r"^\s*\+[\s(]*\d([\s().-]*\d){7,14}\s*$",
    "phone_grouped": r"^\s*\(?\d{2,5}\)?([\s.-]+\(?\d{2,5}\)?){1,4}\s*$",
    "phone_in": r"^\s*0?[6-9]\d{9}\s*$",
    "phone_param": r"(?i)[?&#;][a-z_-]*(phone|mobile|tel|whatsapp|msisdn)[a-z_-]*=[^&#]*\d{3}",
}
_DIGITS_8_15 = r"length(regexp_replace({v}, '[^0-9]', '', 'g')) BETWEEN 8 AND 15"
_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}\s*$"

#: The dimensions checked (every string dimension; ``lead_id`` is hashed, not redacted).
DIMENSIONS: tuple[str, ...] = tuple(f for f in STRING_FIELDS if f != "lead_id")


def _q(pattern: str) -> str:
    return "'" + pattern.replace("'", "''") + "'"


def pii_sql(value: str) -> str:
    """A DuckDB boolean expression: true when the SQL expression ``value`` looks like personal data
    (false for null)."""
    grouped = (
        f"(regexp_matches({value}, {_q(PATTERNS['phone_grouped'])}) AND {_DIGITS_8_15.format(v=value)}"
        f" AND NOT regexp_matches({value}, {_q(_ISO_DATE)}))"
    )
    parts = [
        f"regexp_matches({value}, {_q(PATTERNS['email'])})",
        f"regexp_matches({value}, {_q(PATTERNS['phone_intl'])})",
        f"regexp_matches({value}, {_q(PATTERNS['phone_in'])})",
        grouped,
        f"regexp_matches({value}, {_q(PATTERNS['phone_param'])})",
    ]
    # most values hold neither a digit nor an @: one cheap test first, the patterns only for the rest
    return f"coalesce(CASE WHEN regexp_matches({value}, '[0-9@]') THEN {' OR '.join(parts)} ELSE false END, false)"
