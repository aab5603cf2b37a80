"""The SQL of the D1 import: what is asked of the source, and how a page becomes lead events.

Two halves, both plain SQL so the work runs in C, not in a Python loop per row:

1. ``source_select`` (SQLite dialect; runs locally or inside D1 through the REST API): one page of a table,
   joined to its ``Leads`` row, with the dimension fallbacks applied (row, then PayloadJson, then Leads)
   and packed as one ``json_array`` per row. Only the mapped columns are read: contact names, e-mails,
   phones and IPs are never selected, and of PayloadJson only the stats keys leave the database.
2. ``transform_sql`` (DuckDB): parses the packed rows, the three time formats and the event type, computes
   the keyed hash of LeadId and flags each row that cannot be read, naming the column.

Positions in the packed array (``SLOTS``) are the contract between the two halves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..mapping import PAYLOAD_FIELDS, D1Mapping, quote_ident

SLOTS = (
    "key", "flag", "time", "enquiry", "project", "source", "referer", "payload",
    "country", "region", "city", "phone_country_code", "engagement_label", "vpn", "suspicion_score", "lead",
)
_POS = {name: i + 1 for i, name in enumerate(SLOTS)}  # DuckDB lists are 1-based

#: The order tables are read in: submissions before Leads, so a lead's primary submission is always
#: known before the lead itself could be taken for a legacy lead.
TABLE_ORDER = ("LeadSubmissions", "Leads", "TestingLeads", "BlockedIPLeads")
LABELS = ("cold", "warm", "hot", "very hot")


@dataclass(frozen=True)
class TablePlan:
    """How to read one contract table from one source: the resolved names and the two SQL texts."""

    table: str  # contract name, used in event ids
    actual: str  # the deployment's table name
    key: str  # the deployment's primary key column
    select: str  # source SQL with ``{where}`` for the page condition; parameters: [after?, limit]
    time_column: str
    enquiry_column: str | None
    flag_column: str | None
    missing: tuple[str, ...]  # mapped optional columns the source does not have (read as NULL)
    null_slots: frozenset[str] = frozenset()  # slots that are NULL in every row of this plan


def _txt(expr: str) -> str:
    return f"nullif(trim({expr}), '')"


def _payload_expr(alias: str, column: str | None, mapping: D1Mapping) -> str:
    if column is None:
        return "NULL"
    keys = [mapping.payload.get(k) for k in PAYLOAD_FIELDS]
    paths = [("'$.\"" + k.replace("'", "''") + "\"'") if k else "'$.\"\u0000none\"'" for k in keys]
    col = f"{alias}.{quote_ident(column)}"
    return f"CASE WHEN json_valid({col}) THEN json_extract({col}, {', '.join(paths)}) END"


def plan_table(table: str, mapping: D1Mapping, have: dict[str, list[str] | None]) -> TablePlan | None:
    """The plan for ``table``, or None when the source has no such table. ``have`` maps each actual table
    name to its columns (None when absent)."""
    actual = mapping.table(table)
    cols = have.get(actual)
    if cols is None:
        return None
    present = set(cols)
    missing: list[str] = []

    def col(tbl: str, alias: str, name: str) -> str:
        real = mapping.column(tbl, name)
        if real is None:
            return "NULL"
        real_cols = set(have.get(mapping.table(tbl)) or ()) if tbl != table else present
        if real not in real_cols:
            if tbl == table:
                missing.append(real)
            return "NULL"
        return f"{alias}.{quote_ident(real)}"

    key_name = mapping.column(table, "LeadId" if table == "Leads" else
                              "SubmissionId" if table == "LeadSubmissions" else "Id")
    assert key_name is not None
    key = f"r.{quote_ident(key_name)}"
    join = _leads_join(table, mapping, have, col)
    lead_alias = "r" if table == "Leads" else "l"

    def lead(name: str) -> str:
        return col("Leads", lead_alias, name) if table == "Leads" or join else "NULL"

    payload_col = mapping.column(table, "PayloadJson") if table != "Leads" else None
    if payload_col is not None and payload_col not in present:
        missing.append(payload_col)
        payload_col = None
    time_name = "SubmittedAt" if table == "LeadSubmissions" else "CreatedAt" if table == "Leads" else "ReceivedAt"
    flag_name = {"LeadSubmissions": "IsPrimaryLead", "BlockedIPLeads": "Reason"}.get(table)
    values = _slot_values(table, key, col, lead, time_name, flag_name, _payload_expr("r", payload_col, mapping))
    select = (
        f"SELECT {key} AS k, json_array({', '.join(values[s] for s in SLOTS)}) AS j"
        f" FROM {quote_ident(actual)} r{join} {{where}} ORDER BY {key} LIMIT ?"
    )
    return TablePlan(
        table=table,
        actual=actual,
        key=key_name,
        select=select,
        time_column=mapping.column(table, time_name) or time_name,
        enquiry_column=mapping.column("Leads", "EnquiryDateTime") if table == "Leads" else None,
        flag_column=mapping.column(table, flag_name) if flag_name else None,
        missing=tuple(dict.fromkeys(missing)),
        null_slots=frozenset(k for k, expr in values.items() if expr == "NULL"),
    )


def _leads_join(table: str, mapping: D1Mapping, have: dict[str, list[str] | None],
                col: Callable[[str, str, str], str]) -> str:
    """The LEFT JOIN of a submission to its Leads row, or "" (other tables, or no Leads table)."""
    if table != "LeadSubmissions":
        return ""
    sub_lead = col(table, "r", "LeadId")
    leads_key = mapping.column("Leads", "LeadId")
    leads_cols = have.get(mapping.table("Leads"))
    if sub_lead == "NULL" or not leads_cols or leads_key not in leads_cols:
        return ""
    return f" LEFT JOIN {quote_ident(mapping.table('Leads'))} l ON l.{quote_ident(leads_key)} = {sub_lead}"


def _slot_values(table: str, key: str, col: Callable[[str, str, str], str], lead: Callable[[str], str],
                 time_name: str, flag_name: str | None, payload: str) -> dict[str, str]:
    """The SQLite expression of every slot: the row's own column, then PayloadJson, then its Leads row."""
    own = "ProjectSource" if table == "Leads" else "Source"
    return {
        "key": key,
        "flag": col(table, "r", flag_name) if flag_name else "NULL",
        "time": col(table, "r", time_name),
        "enquiry": col(table, "r", "EnquiryDateTime") if table == "Leads" else "NULL",
        "project": f"coalesce({_txt(col(table, 'r', 'ProjectName'))}, {_txt(lead('ProjectName'))})",
        "source": f"coalesce({_txt(col(table, 'r', own))}, {_txt(lead('ProjectSource'))})",
        "referer": f"coalesce({_txt(col(table, 'r', 'Referer'))}, {_txt(lead('Referer'))})",
        "payload": payload,
        "country": lead("ContactCountryName"),
        "region": lead("ContactRegion"),
        "city": lead("ContactCity"),
        "phone_country_code": lead("ContactCountryCode"),
        "engagement_label": lead("EngagementLabel"),
        "vpn": lead("VpnSuspected"),
        "suspicion_score": lead("SuspicionScore"),
        "lead": col(table, "r", "LeadId") if table in ("LeadSubmissions", "Leads") else "NULL",
    }


def page_sql(plan: TablePlan, after: object) -> str:
    """The plan's SELECT for the page after key ``after`` (None: from the start)."""
    return plan.select.format(where=f"WHERE r.{quote_ident(plan.key)} > ?" if after is not None else "")


def keys_sql(plan: TablePlan, after: object) -> str:
    """Only the keys of the next page (``j`` = ``[key]``): how Leads are scanned for legacy leads."""
    key = f"r.{quote_ident(plan.key)}"
    where = f"WHERE {key} > ?" if after is not None else ""
    return f"SELECT {key} AS k, json_array({key}) AS j FROM {quote_ident(plan.actual)} r {where} ORDER BY {key} LIMIT ?"


def count_sql(plan: TablePlan, after: object) -> str:
    """How many rows the table holds after key ``after`` (as ``k``; parameters: [after?, limit])."""
    key = f"r.{quote_ident(plan.key)}"
    where = f"WHERE {key} > ?" if after is not None else ""
    return f"SELECT count(*) AS k, json_array(count(*)) AS j FROM {quote_ident(plan.actual)} r {where} LIMIT ?"


def rows_by_keys_sql(plan: TablePlan) -> str:
    """The plan's SELECT for the rows whose keys are in a JSON array parameter (then a LIMIT)."""
    return plan.select.format(where=f"WHERE r.{quote_ident(plan.key)} IN (SELECT value FROM json_each(?))")


def primary_ids_sql(mapping: D1Mapping, have: dict[str, list[str] | None], after: object) -> str | None:
    """LeadIds that have a primary submission (the lead is then no legacy lead), or None if unknowable."""
    subs = have.get(mapping.table("LeadSubmissions"))
    lead_col = mapping.column("LeadSubmissions", "LeadId")
    flag = mapping.column("LeadSubmissions", "IsPrimaryLead")
    if not subs or lead_col not in subs or flag not in subs:
        return None
    lc, fc = quote_ident(lead_col), quote_ident(flag)
    cond = f" AND {lc} > ?" if after is not None else ""
    return (
        f"SELECT {lc} AS k, json_array({lc}) AS j FROM (SELECT DISTINCT {lc} FROM"
        f" {quote_ident(mapping.table('LeadSubmissions'))} WHERE CAST({fc} AS INTEGER) = 1"
        f" AND {lc} IS NOT NULL{cond}) ORDER BY {lc} LIMIT ?"
    )


# -- DuckDB side -------------------------------------------------------------------------------------
_UTC_RE = r"^\d{4}-\d{1,2}-\d{1,2}[Tt ]\d{1,2}:\d{2}(:\d{2}([.,]\d{1,9})?)? ?([Zz]|[+-]\d{2}(:?\d{2})?)?$"
_TZ_RE = r"([Zz]|[+-]\d{2}(:?\d{2})?)$"
_ENQ_RE = (r"^(\d{1,2})/(\d{1,2})/(\d{4}),? ?(\d{1,2}):(\d{2})(?::(\d{2}))? ?(?:([AaPp])\.?[Mm]\.?)?$")


def utc_time_sql(expr: str) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) or ISO 8601 with ``Z``/offset -> TIMESTAMPTZ, NULL if unreadable."""
    t = f"trim({expr})"
    return (
        f"CASE WHEN regexp_full_match({t}, '{_UTC_RE}') THEN TRY_CAST(CASE WHEN regexp_matches({t}, '{_TZ_RE}')"
        f" THEN replace({t}, ',', '.') ELSE replace({t}, ',', '.') || 'Z' END AS TIMESTAMPTZ) END"
    )


def enquiry_match_sql(expr: str) -> str:
    """The parts of ``D/M/YYYY, h:mm:ss am`` as a struct (``dd`` is '' when the text does not match)."""
    e = f"regexp_replace(trim({expr}), '[\\s\\x{{202F}}\\x{{00A0}}]+', ' ', 'g')"
    return f"regexp_extract({e}, '{_ENQ_RE}', ['dd', 'mo', 'yy', 'hh', 'mi', 'ss', 'ap'])"


def enquiry_time_sql(m: str, offset_minutes: int) -> str:
    """A struct from :func:`enquiry_match_sql`, read in a fixed zone -> TIMESTAMPTZ, NULL if unreadable.

    Any space (U+0020/U+202F/U+00A0) may stand before am/pm, AM or am, and just after midnight may read
    ``24:05:05`` or ``12:05:05 am``."""
    h = f"TRY_CAST({m}.hh AS INT)"
    hour = (f"CASE WHEN {m}.ap = '' THEN (CASE WHEN {h} = 24 THEN 0 WHEN {h} < 24 THEN {h} END)"
            f" WHEN {h} IN (0, 24) AND lower({m}.ap) = 'a' THEN 0"
            f" WHEN {h} BETWEEN 1 AND 12 THEN {h} % 12 + CASE WHEN lower({m}.ap) = 'p' THEN 12 ELSE 0 END END")
    sec = f"CASE WHEN {m}.ss = '' THEN 0 ELSE TRY_CAST({m}.ss AS INT) END"
    text = (f"printf('%04d-%02d-%02d %02d:%02d:%02d', TRY_CAST({m}.yy AS INT), TRY_CAST({m}.mo AS INT),"
            f" TRY_CAST({m}.dd AS INT), {hour}, TRY_CAST({m}.mi AS INT), {sec})")
    return (f"CASE WHEN {m}.dd <> '' THEN CAST(TRY_CAST({text} AS TIMESTAMP)"
            f" - INTERVAL ({offset_minutes}) MINUTE AS TIMESTAMPTZ) END")


def _event_type_sql(plan: TablePlan, mapping: D1Mapping, v: dict[str, str]) -> str:
    if plan.table == "LeadSubmissions":
        num = f"TRY_CAST(trim({v['flag']}) AS DOUBLE)"
        return f"CASE {num} WHEN 1 THEN 'primary' WHEN 0 THEN 'follow_up' END"
    if plan.table == "Leads":
        return "'primary'"
    if plan.table == "TestingLeads":
        return "'test'"
    reasons = ", ".join("'" + r.replace("'", "''") + "'" for r in mapping.bot_reasons) or "NULL"
    return f"CASE WHEN lower(trim({v['flag']})) IN ({reasons}) THEN 'bot' ELSE 'blocked' END"


def _time_sql(plan: TablePlan, mapping: D1Mapping, v: dict[str, str]) -> tuple[str, str, str, str]:
    """The event time, the EnquiryDateTime match struct, and the column/value reported when unreadable."""
    when = utc_time_sql(v["time"])
    time_col = plan.time_column.replace("'", "''")
    if plan.table != "Leads":
        return when, "NULL", f"'{time_col}'", v["time"]
    when = f"coalesce({when}, {enquiry_time_sql('__m', mapping.enquiry_offset_minutes)})"
    enq = (plan.enquiry_column or "EnquiryDateTime").replace("'", "''")
    err_col = (f"CASE WHEN {v['enquiry']} IS NOT NULL THEN '{enq}' WHEN {v['time']} IS NOT NULL"
               f" THEN '{time_col}' ELSE '{time_col}/{enq}' END")
    return when, enquiry_match_sql(v["enquiry"]), err_col, f"coalesce({v['enquiry']}, {v['time']})"


def transform_sql(plan: TablePlan, mapping: D1Mapping, prefix: str) -> str:
    """DuckDB SQL turning the page table ``__page(j)`` into event columns plus ``__key``, ``__err_col``,
    ``__err_val`` and ``__lead_raw``; ``lead_id`` is still the raw LeadId (the ingest pipeline hashes it)."""
    v = {name: "NULL" if name in plan.null_slots else f"__v[{i}]" for name, i in _POS.items()}
    pay = {k: f"__p[{i + 1}]" for i, k in enumerate(PAYLOAD_FIELDS)}
    table = plan.table
    event_type = _event_type_sql(plan, mapping, v)
    when, match, err_col, err_val = _time_sql(plan, mapping, v)
    flag_col = (plan.flag_column or "").replace("'", "''")
    type_err = f"WHEN __event_type IS NULL THEN '{flag_col}'" if table == "LeadSubmissions" else ""
    type_val = f"WHEN __event_type IS NULL THEN {v['flag']}" if table == "LeadSubmissions" else ""
    labels = ", ".join(f"'{lab}'" for lab in LABELS)
    event_prefix = (prefix + ":" + table + ":").replace("'", "''")
    payload = ("NULL" if "payload" in plan.null_slots else
               f"""CASE WHEN json_valid({v['payload']}) THEN json_extract_string({v['payload']},
                 [{', '.join(f"'$[{i}]'" for i in range(len(PAYLOAD_FIELDS)))}]) END""")
    return f"""
WITH r AS (
  SELECT json_extract_string(j, [{', '.join(f"'$[{i}]'" for i in range(len(SLOTS)))}]) AS __v FROM __page),
t AS (
  -- the payload slot holds a JSON array, nested or (if a driver turned it into a string) as text
  SELECT __v, {payload} AS __p, {event_type} AS __event_type, {match} AS __m,
    regexp_replace(lower(trim(replace({v['engagement_label']}, '_', ' '))), ' +', ' ', 'g') AS __label,
    TRY_CAST(trim({v['vpn']}) AS DOUBLE) AS __vpn, TRY_CAST(trim({v['suspicion_score']}) AS DOUBLE) AS __score
  FROM r),
u AS (SELECT *, {when} AS __when FROM t)
SELECT
  '{event_prefix}' || {v['key']} AS event_id,
  __event_type AS event_type,
  __when AS occurred_at,
  {v['project']} AS project, {v['source']} AS source, {v['referer']} AS referer,
  {', '.join(f"{pay[k]} AS {k}" for k in PAYLOAD_FIELDS[:6])},
  CASE WHEN __label IN ({labels}) THEN __label END AS engagement_label,
  CASE __vpn WHEN 1 THEN 'true' WHEN 0 THEN 'false' END AS vpn,
  CASE WHEN __score BETWEEN 0 AND 100 THEN __score END AS suspicion_score,
  coalesce(nullif(trim({pay['user_country']}), ''), {v['country']}) AS country,
  coalesce(nullif(trim({pay['user_region']}), ''), {v['region']}) AS region,
  coalesce(nullif(trim({pay['user_city']}), ''), {v['city']}) AS city,
  {v['phone_country_code']} AS phone_country_code,
  {v['lead']} AS lead_id,
  {v['key']} AS __key,
  CASE {type_err} WHEN __when IS NULL THEN {err_col} END AS __err_col,
  CASE {type_val} WHEN __when IS NULL THEN {err_val} END AS __err_val,
  CASE WHEN __event_type = 'primary' THEN {v['lead']} END AS __lead_raw,
  coalesce((__label IS NOT NULL AND __label NOT IN ({labels}))
    OR ({v['vpn']} IS NOT NULL AND coalesce(__vpn NOT IN (0, 1), true))
    OR ({v['suspicion_score']} IS NOT NULL AND NOT coalesce(__score BETWEEN 0 AND 100, false)), false)
    AS __dropped_attr
FROM u"""
