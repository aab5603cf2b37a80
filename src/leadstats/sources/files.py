"""Bulk files: JSON Lines (``.jsonl``/``.ndjson``, ``-`` for stdin), CSV and Parquet (CONTRACT §1).

Files are read in bounded chunks (memory does not grow with the file), validated column-at-a-time in a
second thread while the rows before are appended, in transactions of :data:`COMMIT_ROWS` rows; records
whose event_id is stored already are checked but not processed further (``LeadStats.check_new``). Each
rejected record is reported with its line number (JSON Lines, CSV) or row number and event_id
(Parquet); the good records of the same file are stored.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..ingest.pipeline import CheckedBatch
from ..service import IngestResult, LeadStats
from .prefetch import prefetch

if TYPE_CHECKING:
    import pyarrow.parquet as pq

#: Bytes of JSON Lines read at a time (about 35,000 lines of 450 bytes) and the CSV reader's block (twice
#: as many rows: CSV lines are shorter); with the chunk being checked and one queued, a few are held.
CHUNK_BYTES = 16 * 1024 * 1024
#: Rows read from a Parquet file at a time: one chunk of DuckDB's Arrow scan, so the check of a chunk runs
#: on one core (in input order) while the store's insert, mostly on one core too, runs on the other.
PARQUET_BATCH = 65_536
#: Rows per import transaction: a whole DuckDB row group (122,880 rows), which a transaction writes
#: straight to the file; a partial one goes through the write-ahead log and is written again at the
#: checkpoint (measured for 1M events: 71,000-row transactions cost 2.3x, 250,000-row ones 1.3x the CPU
#: of 122,880- or 245,760-row ones, and left a bigger file). One row group rather than two: less held
#: in memory (peak RSS for 1M Parquet events 650 MB against 840 MB), the same CPU.
COMMIT_ROWS = 122_880
REQUIRED = ("event_id", "event_type", "occurred_at")

Progress = Callable[[int], None]  # called with bytes (or rows, for Parquet) done since the last call


@dataclass
class FileReport:
    path: str
    result: IngestResult
    kind: str

    def error_lines(self) -> Iterator[str]:
        for err in self.result.rejected:
            if self.kind == "parquet":
                where = f"row {err.row}" + (f" (event_id {err.event_id})" if err.event_id else "")
                yield f"{self.path}: {where}: {err.field}: {err.message}"
            else:
                yield f"{self.path}:{err.row}: {err.field}: {err.message}"


def file_kind(path: str) -> str:
    if path == "-":
        return "jsonl"
    lower = path.lower()
    for suffix, kind in (
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".json", "jsonl"),
        (".csv", "csv"),
        (".parquet", "parquet"),
        (".pq", "parquet"),
    ):
        if lower.endswith(suffix) or (kind == "jsonl" and lower.endswith(suffix + ".gz")):
            return kind
    raise InputError(f"{path}: unknown file type: use .jsonl, .ndjson, .csv or .parquet (or - for stdin)")


def file_size(path: str) -> int:
    if path == "-":
        return 0
    if file_kind(path) == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return os.path.getsize(path)


def split_lines(data: bytes) -> tuple[pa.Array, int]:
    """Complete lines of ``data`` as a string array (newline kept), and how many bytes they span."""
    buf = np.frombuffer(data, np.uint8)
    nl = np.flatnonzero(buf == 10)
    if len(nl) == 0:
        return pa.array([], pa.string()), 0
    end = int(nl[-1]) + 1
    offsets = np.empty(len(nl) + 1, np.int64)
    offsets[0] = 0
    offsets[1:] = nl + 1
    arr = pa.LargeStringArray.from_buffers(len(nl), pa.py_buffer(offsets), pa.py_buffer(data[:end]))
    return arr.cast(pa.string()), end


def _open_binary(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    if path.lower().endswith(".gz"):
        import gzip

        return gzip.open(path, "rb")  # type: ignore[return-value]
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None


#: A chunk read from a file: the records (JSON texts or a table of columns), their line or row numbers,
#: and the progress made (bytes, or rows for Parquet).
Chunk = tuple[pa.Table | pa.Array, pa.Array, int]


def _jsonl_chunks(path: str) -> Iterator[Chunk]:
    line_no = 0
    pending = b""
    unreported = 0  # bytes read without a complete line yet
    stream = _open_binary(path)
    try:
        while True:
            block = stream.read(CHUNK_BYTES)
            data = pending + block if block else pending + b"\n" if pending.strip() else b""
            if not data:
                break
            lines, used = split_lines(data)
            pending = data[used:]
            if len(lines):
                numbers = pa.array(np.arange(line_no + 1, line_no + 1 + len(lines), dtype=np.int64))
                line_no += len(lines)
                text = pc.utf8_trim_whitespace(lines)
                keep = pc.not_equal(pc.utf8_length(text), 0)
                yield pc.filter(text, keep), pc.filter(numbers, keep), unreported + len(block)
                unreported = 0
            else:
                unreported += len(block)
            if not block:
                break
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def import_jsonl(ls: LeadStats, path: str, progress: Progress | None = None) -> IngestResult:
    return ingest_chunks(ls, _jsonl_chunks(path), progress)


def _csv_header(path: str) -> list[str]:
    import csv

    with open(path, newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh), [])


def _csv_chunks(path: str, names: list[str]) -> Iterator[Chunk]:
    import pyarrow.csv as pacsv

    fh = open(path, "rb")  # noqa: SIM115 - closed below; we read its position for the progress bar
    try:
        reader = pacsv.open_csv(
            fh,
            read_options=pacsv.ReadOptions(block_size=CHUNK_BYTES // 2),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
        row = 1  # the header is line 1; rows are numbered as lines (a quoted newline shifts them)
        last = 0
        for batch in reader:
            table = pa.Table.from_batches([batch])
            numbers = pa.array(np.arange(row + 1, row + 1 + table.num_rows, dtype=np.int64))
            row += table.num_rows
            pos = fh.tell()
            yield table, numbers, pos - last
            last = pos
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: malformed CSV: {exc}") from None
    finally:
        fh.close()


def import_csv(ls: LeadStats, path: str, progress: Progress | None = None) -> IngestResult:
    try:
        names = _csv_header(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read CSV: {exc}") from None
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} in the header line")
    return ingest_chunks(ls, _csv_chunks(path, names), progress)


def _parquet_chunks(pf: pq.ParquetFile) -> Iterator[Chunk]:
    row = 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH):
        table = pa.Table.from_batches([batch])
        numbers = pa.array(np.arange(row + 1, row + 1 + table.num_rows, dtype=np.int64))
        row += table.num_rows
        yield table, numbers, table.num_rows


def import_parquet(ls: LeadStats, path: str, progress: Progress | None = None) -> IngestResult:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: cannot read Parquet: {exc}") from None
    missing = [c for c in REQUIRED if c not in pf.schema_arrow.names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    return ingest_chunks(ls, _parquet_chunks(pf), progress)


def ingest_chunks(ls: LeadStats, chunks: Iterator[Chunk], progress: Progress | None = None) -> IngestResult:
    """Check each chunk (``LeadStats.check_new``: stored ids are only checked) in a second thread while the
    good rows of the ones before are committed, in transactions of exactly :data:`COMMIT_ROWS` rows (the
    last one shorter). In file order, so the first occurrence of an id is the one stored."""
    result = IngestResult()
    held: list[pa.Table] = []
    count = 0

    def commit(table: pa.Table) -> None:
        n = table.num_rows
        result.add_result(ls.commit(CheckedBatch(table, [n], [[]], [n]))[0])

    checked_chunks = ((ls.check_new(records, rows), done) for records, rows, done in chunks)
    for checked, done in prefetch(checked_chunks, depth=1, name="leadstats-import-check"):
        result.add_result(IngestResult(0, checked.stored_in(0), checked.errors[0], checked.redacted_in(0)))
        if checked.good.num_rows:
            held.append(checked.good)
            count += checked.good.num_rows
        while count >= COMMIT_ROWS:
            rows = pa.concat_tables(held)
            commit(rows.slice(0, COMMIT_ROWS))
            rest = rows.slice(COMMIT_ROWS)
            held, count = [rest], rest.num_rows
        if progress:
            progress(done)
    if count:
        commit(pa.concat_tables(held))
    return result


IMPORTERS = {"jsonl": import_jsonl, "csv": import_csv, "parquet": import_parquet}


def import_file(ls: LeadStats, path: str, progress: Progress | None = None) -> FileReport:
    """Import one file into ``ls`` and report what happened."""
    kind = file_kind(path)
    if path != "-" and not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    return FileReport(path, IMPORTERS[kind](ls, path, progress), kind)
