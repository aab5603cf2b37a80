"""Per-table exports: what a submission takes from its Leads row when the two tables arrive apart.

A whole import joins each LeadSubmissions row to its Leads row: ``engagement_label``, ``vpn``,
``suspicion_score`` and ``phone_country_code`` come from the lead, and ``project``, ``source``,
``referer``, ``country``, ``region`` and ``city`` fall back to it. When ``wrangler d1 export --table``
files arrive one table at a time, the importer completes the submissions from what the store holds:

- LeadSubmissions before Leads: the submissions are stored with their own values (the store's state
  remembers it); the Leads import then fills their empty lead columns from each lead's row and stores
  them again (``LeadStats.replace_rows``, one transaction on DuckDB).
- Leads before LeadSubmissions: each lead was stored as a legacy-lead event, which holds exactly the
  lead's values; the submissions are filled from it before they are stored, and the legacy event is then
  replaced by the lead's primary submission.

Either way the stored events equal those of one whole import.

>>> import pyarrow as pa
>>> rows = pa.table({"lead_id": ["a", "b"], "project": [None, "own"], "vpn": pa.array([None, None], pa.bool_())})
>>> values = pa.table({"lead_id": ["a", "b"], "project": ["lead", "lead"], "vpn": [True, None]})
>>> out, changed = fill_from(rows, values, ("project", "vpn"))
>>> out.column("project").to_pylist(), out.column("vpn").to_pylist(), changed.tolist()
(['lead', 'own'], [True, None], [True, False])
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...ingest.validate import STORE_SCHEMA
from ...service import LeadStats

#: Store columns a submission takes from (or falls back to) its Leads row.
LEAD_COLUMNS = (
    "project", "source", "referer", "country", "region", "city", "phone_country_code", "engagement_label", "vpn",
    "suspicion_score",
)
#: State flag (per prefix): submissions were stored from a source without a Leads table.
SUBMISSIONS_WITHOUT_LEADS = "submissions_without_leads"


def fill_from(rows: pa.Table, values: pa.Table, columns: tuple[str, ...] = LEAD_COLUMNS) -> tuple[pa.Table, np.ndarray]:
    """``rows`` with each empty ``columns`` value taken from the ``values`` row of the same ``lead_id``
    (one per lead), and which rows changed."""
    changed = np.zeros(rows.num_rows, dtype=bool)
    if not rows.num_rows or not values.num_rows:
        return rows, changed
    idx = pc.index_in(rows.column("lead_id"), value_set=values.column("lead_id"))
    for name in columns:
        mine = rows.column(name)
        theirs = pc.take(values.column(name), idx)
        gap = pc.fill_null(pc.and_(pc.is_null(mine), pc.is_valid(theirs)), False)
        if not pc.any(gap).as_py():
            continue
        changed |= gap.to_numpy(zero_copy_only=False)
        rows = rows.set_column(rows.schema.get_field_index(name), name, pc.coalesce(mine, theirs.cast(mine.type)))
    return rows, changed


def _one_per_lead(values: pa.Table) -> pa.Table:
    """The first row of each ``lead_id`` (rows without one are dropped)."""
    values = values.filter(pc.is_valid(values.column("lead_id")))
    pos = pa.table({"id": values.column("lead_id"), "pos": pa.array(np.arange(values.num_rows, dtype=np.int64))})
    return values.take(pos.group_by("id", use_threads=False).aggregate([("pos", "min")]).column("pos_min"))


def lead_values(ls: LeadStats, transformed: pa.Table) -> pa.Table:
    """Store-form values (normalized by the one validator, ``lead_id`` hashed) of transformed Leads rows,
    whatever their time: a lead whose time cannot be read still lends its values to its submissions."""
    n = transformed.num_rows
    cols = {name: transformed.column(name) for name in (*LEAD_COLUMNS, "lead_id") if name in transformed.column_names}
    table = pa.table({
        "event_id": pa.array([f"lead:{i}" for i in range(n)], pa.string()),
        "event_type": pa.array(["primary"] * n, pa.string()),
        "occurred_at": pa.array(["2000-01-01T00:00:00Z"] * n, pa.string()),
        **cols,
    })
    good = ls.check_table(table).good
    return _one_per_lead(good.select(["lead_id", *LEAD_COLUMNS]))


class SubmissionFiller:
    """Completes submissions from stored lead values (see the module doc); one per import run."""

    def __init__(self, ls: LeadStats, prefix: str) -> None:
        self.ls, self.prefix = ls, prefix
        self._legacy: pa.Table | None = None  # legacy-lead events read so far (kept: they get replaced)

    def from_legacy_events(self, good: pa.Table, raw_leads: pa.ChunkedArray) -> tuple[pa.Table, int]:
        """Fill submissions (store form) from the stored legacy-lead events of their leads."""
        wanted = [str(x) for x in pc.unique(raw_leads).drop_null().to_pylist()]
        found = self.ls.lead_events(wanted, f"{self.prefix}:Leads:")
        if found.num_rows:
            found = found.select(STORE_SCHEMA.names).cast(STORE_SCHEMA)
            self._legacy = found if self._legacy is None else pa.concat_tables([self._legacy, found])
        if self._legacy is None:
            return good, 0
        filled, changed = fill_from(good, _one_per_lead(self._legacy))
        return filled, int(changed.sum())

    def stored_submissions(self, transformed: pa.Table) -> int:
        """Fill the stored submissions of these Leads rows (transformed, raw); how many were completed."""
        raw = [str(x) for x in pc.unique(transformed.column("lead_id")).drop_null().to_pylist()]
        stored = self.ls.lead_events(raw, f"{self.prefix}:LeadSubmissions:")
        if not stored.num_rows:
            return 0
        stored = stored.select(STORE_SCHEMA.names).cast(STORE_SCHEMA)
        filled, changed = fill_from(stored, lead_values(self.ls, transformed))
        if changed.any():
            self.ls.replace_rows(filled.filter(pa.array(changed)))
        return int(changed.sum())
