"""The store-free steps of the one ingest pipeline (the service runs them, see ``LeadStats.commit``).

Every writer (``import events``, the HTTP writer, the D1 and Analytics Engine importers, the demo,
``LeadStats.ingest``) goes through the same steps::

    validate -> hash lead_id -> in-batch first occurrence per event_id -> stored-id check -> append

A batch may be made of several *parts* (the HTTP writer's group commit: one part per request); the
result is one count per part, exact: a row belongs to the part that sent it, and an id repeated inside
the batch is accepted for the first part that sent it.

>>> import pyarrow as pa
>>> first_mask(pa.chunked_array([["a", "b", "a"]])).tolist()
[True, True, False]
>>> first_per_id(pa.table({"event_id": ["a", "b", "a"], "n": [1, 2, 3]})).column("n").to_pylist()
[1, 2]
>>> len(hash_lead_id(b"k", "42"))
64
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .validate import RecordError, Validated

#: State key of the store's HMAC key for ``lead_id`` (32 random bytes, hex), made on first use.
LEAD_ID_SECRET_KEY = "lead_id_secret"


def first_mask(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Boolean mask: True at the first position of each distinct id (one helper for every backend)."""
    n = len(ids)
    mask = np.zeros(n, dtype=bool)
    if not n:
        return mask
    if len(pc.unique(ids)) == n:
        mask[:] = True
        return mask
    table = pa.table({"id": ids, "pos": pa.array(np.arange(n, dtype=np.int64))})
    firsts = table.group_by("id", use_threads=False).aggregate([("pos", "min")]).column("pos_min")
    mask[firsts.to_numpy()] = True
    return mask


def first_per_id(batch: pa.Table) -> pa.Table:
    """Keep the first row of each ``event_id``, in input order (the same id twice is stored once)."""
    mask = first_mask(batch.column("event_id"))
    return batch if mask.all() else batch.filter(pa.array(mask))


def hash_lead_id(secret: bytes, lead_id: str) -> str:
    """``lead_id`` as stored: hex HMAC-SHA256 of the identity text under the store's secret."""
    return hmac.new(secret, lead_id.encode(), hashlib.sha256).hexdigest()


def _hmac_pads(secret: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104): ``HMAC(k, m) = H(k ^ opad || H(k ^ ipad || m))``."""
    key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hash_column(secret: bytes, raw: pa.ChunkedArray | pa.Array) -> pa.Array:
    """:func:`hash_lead_id` over a column, once per distinct value. The two SHA-256 states after the
    padded key blocks are computed once and copied per value, so each value costs one block in and one out
    (measured: 40% less CPU than DuckDB's ``sha256`` over the padded keys, which hashed all four blocks)."""
    arr = raw.combine_chunks() if isinstance(raw, pa.ChunkedArray) else raw
    if arr.null_count == len(arr):
        return pa.nulls(len(arr), pa.string())
    encoded = pc.dictionary_encode(arr.cast(pa.string()))
    inner, outer = (hashlib.sha256(pad) for pad in _hmac_pads(secret))
    hashed: list[str | None] = []
    for value in encoded.dictionary.cast(pa.binary()).to_pylist():
        if value is None:
            hashed.append(None)
            continue
        h = inner.copy()
        h.update(value)
        o = outer.copy()
        o.update(h.digest())
        hashed.append(o.hexdigest())
    return pc.take(pa.array(hashed, pa.string()), encoded.indices)


def with_hashed_lead_id(good: pa.Table, secret: bytes) -> pa.Table:
    index = good.schema.get_field_index("lead_id")
    column = good.column(index)
    if column.null_count == len(column):
        return good
    return good.set_column(index, "lead_id", hash_column(secret, column))


@dataclass
class CheckedBatch:
    """Validated rows of one or more parts, in part order: ``counts[i]`` good rows belong to part ``i``,
    ``errors[i]`` are its rejections (rows numbered as the part numbered them), ``sizes[i]`` its records."""

    good: pa.Table
    counts: list[int]
    errors: list[list[RecordError]]
    sizes: list[int] = field(default_factory=list)
    redacted: list[int] = field(default_factory=list)  # per part: good records with a PII value replaced
    #: per part: good records left out of ``good`` because their event_id was stored already (bulk imports
    #: check the store first, ``LeadStats.check_new``); they count as duplicates
    stored: list[int] = field(default_factory=list)

    def redacted_in(self, part: int) -> int:
        return self.redacted[part] if self.redacted else 0

    def stored_in(self, part: int) -> int:
        return self.stored[part] if self.stored else 0

    @property
    def parts(self) -> int:
        return len(self.counts)

    @property
    def events(self) -> int:
        return sum(self.sizes)

    def split(self) -> list[CheckedBatch]:
        """One batch per part (to retry a group part by part)."""
        out, start = [], 0
        for i, (count, errs, size) in enumerate(zip(self.counts, self.errors, self.sizes, strict=True)):
            out.append(CheckedBatch(self.good.slice(start, count), [count], [errs], [size], [self.redacted_in(i)],
                                    [self.stored_in(i)]))
            start += count
        return out

    @staticmethod
    def merge(batches: list[CheckedBatch]) -> CheckedBatch:
        if len(batches) == 1:
            return batches[0]
        return CheckedBatch(
            pa.concat_tables([b.good for b in batches]),
            [c for b in batches for c in b.counts],
            [e for b in batches for e in b.errors],
            [s for b in batches for s in b.sizes],
            [b.redacted_in(i) for b in batches for i in range(b.parts)],
            [b.stored_in(i) for b in batches for i in range(b.parts)],
        )


def attribute(result: Validated, sizes: list[int], rows: list[pa.Array] | None) -> CheckedBatch:
    """Split one validation pass over concatenated parts (records numbered 0..N-1) back into parts;
    each rejection is renumbered with its part's own row numbers (``rows[i]``; default 0-based)."""
    offsets = [int(x) for x in np.cumsum([0, *sizes[:-1]])]
    errors: list[list[RecordError]] = [[] for _ in sizes]
    for err in result.errors:
        i = bisect.bisect_right(offsets, err.row) - 1
        pos = err.row - offsets[i]
        row = int(rows[i][pos].as_py()) if rows is not None else pos
        errors[i].append(RecordError(row, err.event_id, err.field, err.message))
    counts = [size - len(errs) for size, errs in zip(sizes, errors, strict=True)]
    if result.good.num_rows != sum(counts):  # the attribution relies on the validator keeping order
        raise RuntimeError(f"validator returned {result.good.num_rows} rows for {sum(counts)} good records")
    redacted = [0] * len(sizes)
    for row in result.redacted_rows:
        redacted[bisect.bisect_right(offsets, row) - 1] += 1
    return CheckedBatch(result.good, counts, errors, list(sizes), redacted)


def owners(counts: list[int]) -> np.ndarray:
    """The part each good row belongs to."""
    return np.repeat(np.arange(len(counts)), counts)
