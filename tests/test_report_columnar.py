"""The columnar result path (query/result.py, ReportResult.rows): ordering by packed integer keys, the
dictionary-encoded dimension columns, vectorised rates and the generated row builder, each checked
against a plain-Python reading of CONTRACT §2/§4 on inputs large and awkward enough to reach every
branch (multi-chunk dictionaries, nulls, enums whose codes are not in word order, the lexsort fallback)."""

from __future__ import annotations

import gc
import random
import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import leadstats
from leadstats.model.metrics import METRIC_NAMES
from leadstats.model.rates import RATES, share_pct
from leadstats.model.report import ReportQuery, ReportResult, _row_maker
from leadstats.query.result import METRIC_COLUMNS, _row_order, assemble, rate_column
from reference import evaluate


def test_rate_column_equals_share_pct_value_for_value() -> None:
    n, d = np.meshgrid(np.arange(0, 700), np.arange(0, 700))
    tops, bottoms = n.ravel(), d.ravel()
    rng = np.random.default_rng(3)
    big_d = rng.integers(1, 10**9, 20_000)
    tops = np.concatenate([tops, rng.integers(0, big_d + 1), [1, 1, 5, 7]])
    bottoms = np.concatenate([bottoms, big_d, [8, 0, 0, 3]])
    got = rate_column(tops, bottoms)
    expected = [share_pct(a, b) for a, b in zip(tops.tolist(), bottoms.tolist(), strict=True)]
    assert got == expected
    assert got[-4:] == [12.5, None, None, 233.33]
    assert all(v is None or type(v) is float for v in got)


def test_row_order_packed_and_lexsort_fallback_agree_with_python() -> None:
    rng = random.Random(5)
    rows = list({(rng.randrange(7), rng.randrange(50), rng.randrange(4), rng.randrange(3)) for _ in range(3000)})
    cols = [np.asarray(c, dtype=np.int64) for c in zip(*rows, strict=True)]
    expected = sorted(range(len(rows)), key=lambda i: rows[i])
    assert _row_order([(c, s) for c, s in zip(cols, (7, 50, 4, 3), strict=True)], len(rows)).tolist() == expected
    # sizes whose product passes 2**62 take numpy's lexsort: the same order
    huge = [(c, s) for c, s in zip(cols, (7, 2**40, 2**20, 3), strict=True)]
    assert _row_order(huge, len(rows)).tolist() == expected


def _contract_order(rows: list[dict[str, Any]], dims: list[str]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["bucket_start_us"], -r["received"],
                                       tuple((1, "") if r[d] is None else (0, r[d]) for d in dims)))


def test_assemble_orders_and_converts_awkward_columns() -> None:
    """Dictionary chunks with different dictionaries (enum codes not in word order), nulls in every
    dimension, bools and numbers: rows come out in §4 order with the values the contract spells."""
    q = ReportQuery.create("2026-03-01", "2026-03-03", timezone="Asia/Kathmandu", bucket="6h",
                           dimensions=["event_type", "project", "vpn_suspected", "suspicion_score"], rates=True)
    keys = q.grid.bucket_keys()
    rng = random.Random(11)
    groups = {(rng.choice(keys), rng.choice(["primary", "follow_up", "bot", None]),
               rng.choice(["Skyline", "Alpha, Phase 2", "élan", "Zeta", None]), rng.choice([True, False, None]),
               rng.choice([None, 0.0, 39.5, 40.0, 100.0])) for _ in range(2000)}
    groups_list = sorted(groups, key=repr)
    rows = []
    for k, et, project, vpn, score in groups_list:
        received = rng.randrange(0, 6)  # some empty groups: they are dropped
        primary = rng.randrange(0, received + 1)
        rows.append({"bucket_start_us": k, "event_type": et, "project": project, "vpn_suspected": vpn,
                     "suspicion_score": score, "received": received, "primary": primary,
                     **{m: rng.randrange(0, primary + 1) for m in METRIC_NAMES if m not in ("received", "primary")}})
    half = len(rows) // 2

    def enum_chunk(part: list[dict[str, Any]], words: list[str]) -> pa.DictionaryArray:
        codes = pa.array([None if r["event_type"] is None else words.index(r["event_type"]) for r in part], pa.int8())
        return pa.DictionaryArray.from_arrays(codes, pa.array(words))

    table = pa.table({
        "__k": pa.array([r["bucket_start_us"] for r in rows], pa.int64()),
        "__d0": pa.chunked_array([enum_chunk(rows[:half], ["primary", "follow_up", "bot"]),
                                  enum_chunk(rows[half:], ["bot", "primary", "follow_up"])]),
        "__d1": pa.chunked_array([pa.array([r["project"] for r in rows[:half]]),
                                  pa.array([r["project"] for r in rows[half:]])]),
        "__d2": pa.array([r["vpn_suspected"] for r in rows], pa.bool_()),
        "__d3": pa.array([r["suspicion_score"] for r in rows], pa.float64()),
        **{col: pa.array([r[m] for r in rows], pa.int64())
           for m, col in zip(METRIC_NAMES, METRIC_COLUMNS, strict=True)},
    })
    doc = assemble(q, table, {}).to_dict()
    dims = list(q.dimensions)
    expected = _contract_order([r for r in rows if r["received"] > 0], dims)
    assert len(doc["rows"]) == len(expected) > 500
    for got, want in zip(doc["rows"], expected, strict=True):
        assert got["bucket_start"] == q.grid.key_iso(want["bucket_start_us"])
        assert list(got) == ["bucket_start", *dims, *METRIC_NAMES, *(r.name for r in RATES)]
        for d in dims:
            assert got[d] == want[d] and type(got[d]) is type(want[d] if d != "suspicion_score" else got[d])
        if want["suspicion_score"] is not None:  # numbers as the contract writes them: 40, not 40.0
            assert type(got["suspicion_score"]) is (int if float(want["suspicion_score"]).is_integer() else float)
        for m in METRIC_NAMES:
            assert got[m] == want[m]
        for rate in RATES:
            assert got[rate.name] == share_pct(sum(want[n] for n in rate.numerator), want[rate.denominator])
    assert doc["totals"]["received"] == sum(r["received"] for r in rows)


def test_rows_builder_keys_values_and_fallback() -> None:
    names = ("bucket_start", "project", *METRIC_NAMES)
    columns = [[f"b{i}" for i in range(5)], ["p", None, "p", "q", "r"], *[list(range(i, i + 5)) for i in range(10)]]
    rows = _row_maker(names)(columns)
    assert rows == [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    assert [list(r) for r in rows] == [list(names)] * 5
    assert all(type(r) is dict for r in rows)
    # split dicts: one shared key table, so each row is smaller than the same dict built on its own
    assert sys.getsizeof(rows[0]) < sys.getsizeof(dict(rows[0]))
    rows[0]["extra"] = 1  # a caller may change one row: the others keep their keys
    del rows[1]["project"]
    assert "extra" not in rows[2] and list(rows[2]) == list(names) and rows[0]["extra"] == 1
    assert list(_row_maker(("class", "x"))([[1], [2]])[0]) == ["class", "x"]  # a keyword: the generic path
    odd = ("a b", "c")  # not identifiers: the generic path, same rows
    assert _row_maker(odd)([[1, 2], [3, 4]]) == [{"a b": 1, "c": 3}, {"a b": 2, "c": 4}]
    q = ReportQuery.create("2026-03-01", "2026-03-02", dimensions=["project"])
    result = ReportResult.from_columns(q, {"project": ["x"], "received": [1, 2]}, {}, {})
    with pytest.raises(ValueError, match="different lengths"):
        _ = result.rows


def test_rows_are_built_without_cyclic_collections_and_the_collector_resumes() -> None:
    """Building a big report's row dicts runs no garbage collection (they cannot form cycles; without
    the pause, about 28 young and 2 older passes), and the collector is back on afterwards, even when
    building fails; a caller's own gc.disable() is kept."""
    q = ReportQuery.create("2026-03-01", "2026-03-02", dimensions=["project"])
    n = 20_000
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    columns = {"project": [f"p{i}" for i in range(n)], **{m: list(range(n)) for m in METRIC_NAMES}}
    gc.collect()  # the youngest generation's counter starts from zero
    gc.callbacks.append(count)
    try:
        assert gc.isenabled()
        rows = ReportResult.from_columns(q, columns, {}, {}).rows
        assert len(rows) == n and rows[7] == {"project": "p7", **{m: 7 for m in METRIC_NAMES}}
        assert collections in ([], [0])  # at most the one young pass the resumed collector owes
        assert gc.isenabled()
        with pytest.raises(ValueError):
            _ = ReportResult.from_columns(q, {"project": ["x"], "received": [1, 2]}, {}, {}).rows
        assert gc.isenabled()
        gc.disable()
        try:
            _ = ReportResult.from_columns(q, columns, {}, {}).rows
            assert not gc.isenabled()
        finally:
            gc.enable()
        many = [{} for _ in range(5_000)]  # control: the same burst outside the builder is collected
        assert collections and many
    finally:
        gc.callbacks.remove(count)


@pytest.mark.parametrize("bucket", ["1d", "60m", None])
def test_many_groups_on_duckdb_equal_the_reference(bucket: str | None) -> None:
    """Thousands of groups through DuckDB (its ENUM columns, its null groups) equal the plain-Python reading."""
    rng = random.Random(7)
    events = []
    for i in range(6000):
        events.append({
            "event_id": f"e{i}", "occurred_at": f"2026-03-0{rng.randrange(1, 4)}T{rng.randrange(24):02d}:"
                                                  f"{rng.randrange(60):02d}:00Z",
            "event_type": rng.choice(["primary", "follow_up", "test", "blocked", "bot"]),
            "project": rng.choice([f"P{j}" for j in range(30)] + [None]),
            "country": rng.choice(["IN", "US", "NP", "ÅL", None]),
            "engagement_label": rng.choice(["Cold", "Warm", "Hot", "Very Hot", None]),
            "vpn": rng.choice([True, False, None]), "suspicion_score": rng.choice([None, 10, 45.5]),
        })
    q = {"from": "2026-03-01T00:00:00+05:30", "to": "2026-03-04T00:00:00+05:30", "timezone": "Asia/Kolkata",
         "bucket": bucket,
         "dimensions": ["project", "country", "engagement_label"], "filters": [], "suspicious_min": 40}
    with leadstats.connect(":memory:") as ls:
        assert ls.ingest(events).accepted == len(events)
        doc = ls.query(q).to_dict()
    expected = evaluate(events, q)
    assert len(doc["rows"]) > 500
    assert doc["rows"] == expected["rows"]
    assert doc["totals"] == expected["totals"]


@pytest.mark.parametrize("bucket", ["60m", None])
def test_json_and_csv_written_from_columns_equal_the_generic_encoders(bucket: str | None) -> None:
    """ReportResult.to_json (from the columns) is byte for byte json.dumps of to_dict() for both the
    API's compact and the CLI's default separators; csv_chunks from the columns equals the row path's CSV.
    Awkward values: quotes, backslashes, %, newlines, non-ASCII, formula prefixes, nulls, bools, numbers
    mixing 40 and 45.5, rates with nulls."""
    import json

    rng = random.Random(13)
    projects = ['He said "hi" %s', "back\\slash", "line\nbreak", "Zürich ✓", "=HYPERLINK(1)", "-12", None]
    events = [{
        "event_id": f"j{i}", "occurred_at": f"2026-03-0{rng.randrange(1, 3)}T{rng.randrange(24):02d}:00:00Z",
        "event_type": rng.choice(["primary", "follow_up", "test", "bot"]),
        "project": rng.choice(projects), "vpn": rng.choice([True, False, None]),
        "suspicion_score": rng.choice([None, 40, 45.5]),
    } for i in range(1500)]
    q = {"from": "2026-03-01", "to": "2026-03-03", "timezone": "Asia/Kathmandu", "bucket": bucket, "rates": True,
         "dimensions": ["project", "vpn_suspected", "suspicion_score"], "filters": [], "suspicious_min": 40}
    with leadstats.connect(":memory:") as ls:
        assert ls.ingest(events).accepted == len(events)
        results = [ls.query(q) for _ in range(4)]
        empty = ls.query({**q, "from": "2027-01-01", "to": "2027-01-02"})
    fresh, compact, chunked, by_rows = results
    assert fresh._rows is None  # nothing built the row dicts yet: the columnar writers are what runs
    text = fresh.to_json()
    doc = fresh.to_dict()
    assert len(doc["rows"]) > 50
    assert text == json.dumps(doc, ensure_ascii=False, allow_nan=False)
    compact_doc = {**doc, "meta": compact.meta}  # another run: its own elapsed_ms
    assert compact.to_json((",", ":")) == json.dumps(compact_doc, ensure_ascii=False, separators=(",", ":"))
    assert json.loads(text) == doc
    assert empty.to_json() == json.dumps(empty.to_dict(), ensure_ascii=False)
    assert by_rows.rows == doc["rows"]  # row dicts built: the writers take the generic path
    by_rows.rows[0]["received"] = -1  # and see what a caller changed in them
    assert '"received": -1' in by_rows.to_json()
    pieces = list(chunked.csv_chunks(rows_per_chunk=7))
    assert len(pieces) == -(-len(doc["rows"]) // 7)
    assert "".join(pieces) == ReportResult(chunked.query, doc["rows"], doc["totals"], {}).to_csv()
    cells = "".join(pieces).replace("\n", ",").split(",")
    assert "'=HYPERLINK(1)" in cells and "'-12" in cells and "-12" not in cells  # text cells made formula-safe
    assert pieces[0].startswith(",".join(chunked.columns) + "\n")


def test_json_texts_keep_equal_values_of_different_types_apart() -> None:
    from leadstats.model.report import _dumps, _json_texts

    dumps = _dumps((",", ":"))
    values = [True, 1, 1.0, None, "1", False, 0, 2.5, 1]
    assert _json_texts(values, dumps) == ["true", "1", "1.0", "null", '"1"', "false", "0", "2.5", "1"]
    assert _json_texts([40, 45.5, None, 40], dumps) == ["40", "45.5", "null", "40"]


def test_row_writer_generated_and_template_paths_agree() -> None:
    from leadstats.model.report import _row_writer

    cells = [['"a"', '"b%s"'], ["1", "22"]]
    fast = _row_writer(("project", "received"), (", ", ": "))(cells)
    assert fast == ['{"project": "a", "received": 1}', '{"project": "b%s", "received": 22}']
    odd = _row_writer(("a {b}", "c'%"), (",", ":"))(cells)  # not identifiers: the % template
    assert odd == ['{"a {b}":"a","c\'%":1}', '{"a {b}":"b%s","c\'%":22}']
