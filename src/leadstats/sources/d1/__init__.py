"""Import the lead-capture D1 database (CONTRACT §6): a SQLite file, a wrangler dump, or the REST API.

>>> import leadstats
>>> from leadstats.sources.d1 import import_d1
>>> ls = leadstats.connect(":memory:")
>>> report = import_d1(ls, "d1.sqlite")          # doctest: +SKIP
>>> report.accepted, report.error_count          # doctest: +SKIP
(1234, 0)

How it stays exact:

- Event ids come from table and primary key (``d1:LeadSubmissions:123``, ``d1:Leads:7`` for a legacy
  lead), so a row imported twice is stored once, whatever the source (file, dump or REST).
- Each table is read in primary-key order in pages; after a page is stored, the table's watermark (its
  last key) is saved in the store's state. A rerun starts after the watermark; a run killed between
  storing a page and saving its watermark re-reads that page, and the ids make that harmless.
- ``full=True`` reads everything again (new rows are added, stored ones are skipped as duplicates).
- A Leads row counts as a legacy lead (a ``primary`` of its own, id ``d1:Leads:<LeadId>``) when no
  LeadSubmissions row with IsPrimaryLead = 1 points at it, in the source or already stored (a per-table
  export of LeadSubmissions imported earlier). Should a lead's primary submission arrive after the lead
  was stored as legacy (a later sync, or per-table exports in the other order), the submission replaces
  the legacy event (removed through ``LeadStats.delete_events``), so any order gives the events of one
  whole import and a lead never counts twice.
- ``lead_id`` goes to the ingest pipeline as the raw LeadId; the pipeline stores its HMAC (the store's
  secret), the same value the HTTP API and file imports store for that lead.
- A table whose rows are not all read (the source holds more rows than the pages gave) fails the import
  with :class:`IncompleteImport` (exit 1), never a silent success.
- A row whose time (or IsPrimaryLead) cannot be read is reported as (table, key, column, value) and
  skipped; the import goes on. Values reported are only those columns, never contact details.

Modules: ``importer`` (the run and its report), ``readers`` (what a source is; SQLite files and dumps),
``dump`` (``wrangler d1 export`` files), ``rest`` (the D1 REST API), ``sql`` (the SQL both sides run).
"""

from ...ingest.pipeline import hash_lead_id
from .importer import (
    SECRET_KEY,
    D1ImportReport,
    IncompleteImport,
    Progress,
    RowError,
    TableStats,
    import_d1,
    lead_id_secret,
)
from .readers import D1Source, Page, SQLiteSource, open_source

__all__ = [
    "SECRET_KEY", "D1ImportReport", "D1Source", "IncompleteImport", "Page", "Progress", "RowError", "SQLiteSource",
    "TableStats", "hash_lead_id", "import_d1", "lead_id_secret", "open_source",
]
