"""Analytics Engine SQL API exports: weights, event types, stable ids, overlapping re-imports."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import leadstats
from leadstats.cli import app
from leadstats.sources.analytics_engine import import_ae, row_digest
from leadstats.sources.mapping import load_mapping

DAY = ("2026-03-06", "2026-03-09")
runner = CliRunner()


def ae_row(ts: str, interval: int, *, project: str = "Skyline", primary: str = "1", event_type: str = "",
           country: str = "India", score: float = 0, vpn: int = 0, label: str = "", cta: str = "hero",
           as_strings: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = {"timestamp": ts, "index1": project, "_sample_interval": str(interval) if as_strings
                           else interval, "dataset": "lead_submissions"}
    blobs = {1: project, 2: "google", 3: "https://skyline.example/", 4: cta, 5: primary, 6: "+91",
             10: "google", 11: "cpc", 12: "spring", 15: label, 16: country, 17: "Pune", 18: "MH", 20: event_type}
    for i in range(1, 21):
        row[f"blob{i}"] = blobs.get(i, "")
    for i in range(1, 21):
        value = score if i == 2 else vpn if i == 8 else 0
        row[f"double{i}"] = value
    return row


ROWS = [
    ae_row("2026-03-07 04:30:00", 1, score=55, vpn=1, label="Hot"),
    ae_row("2026-03-07 04:30:00", 1, score=55, vpn=1, label="Hot"),  # identical: a second data point
    ae_row("2026-03-07 05:00:00", 10, primary="0"),
    ae_row("2026-03-07 05:15:00", 4, event_type="bot", primary=""),
    ae_row("2026-03-07 06:00:00", 20, event_type="test", country="IN"),
    ae_row("2026-03-07 07:00:00", 3, event_type="blocked", country="in", as_strings=False),
    ae_row("2026-03-07 08:00:00", 7, project="Harbor", label="very hot", score=80),
]


def expected(rows: list[dict[str, Any]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for r in rows:
        kind = r["blob20"] or ("primary" if r["blob5"] == "1" else "follow_up")
        out[kind] += int(r["_sample_interval"])
        out["received"] += int(r["_sample_interval"])
    return out


def write_json(path: Path, rows: list[dict[str, Any]]) -> Path:
    meta = [{"name": k, "type": "String" if k.startswith(("blob", "time", "index", "data")) else "Float64"}
            for k in rows[0]]
    path.write_text(json.dumps({"meta": meta, "data": rows, "rows": len(rows), "rows_before_limit_at_least": len(rows)},
                               indent=1))
    return path


def write_each_row(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_format_json_counts_equal_sum_of_sample_interval(tmp_path: Path, db_path: str) -> None:
    export = write_json(tmp_path / "ae.json", ROWS)
    with leadstats.connect(db_path) as ls:
        report = import_ae(ls, str(export))
        totals = ls.report(*DAY).totals
        by_project = {r["project"]: r["primary"] for r in ls.report(*DAY, dimensions=["project"]).rows}
        by_country = {r["country"]: r["received"] for r in ls.report(*DAY, dimensions=["country"]).rows}
    want = expected(ROWS)
    assert report.rows == 7 and report.accepted == 7 and report.events == want["received"]
    for name in ("received", "primary", "follow_up", "test", "blocked", "bot"):
        assert totals[name] == want[name], name
    assert totals["vpn"] == 2 and totals["hot"] == 2 + 7 and totals["suspicious"] == 2 + 7
    assert by_project == {"Skyline": 2, "Harbor": 7}
    assert by_country == {"IN": want["received"]}


def test_each_row_format_gives_the_same_report_and_reimport_adds_nothing(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    with leadstats.connect(a) as ls:
        import_ae(ls, str(write_json(tmp_path / "ae.json", ROWS)))
        ra = ls.report(*DAY, bucket="15m", dimensions=["event_type", "project", "cta"]).to_dict()["rows"]
    with leadstats.connect(b) as ls:
        first = import_ae(ls, str(write_each_row(tmp_path / "ae.ndjson", ROWS)))
        again = import_ae(ls, str(tmp_path / "ae.ndjson"))
        # the FORMAT JSON export of the same rows has the same ids too
        other = import_ae(ls, str(tmp_path / "ae.json"))
        rb = ls.report(*DAY, bucket="15m", dimensions=["event_type", "project", "cta"]).to_dict()["rows"]
    assert first.accepted == 7 and again.accepted == 0 and again.duplicates == 7 and other.accepted == 0
    assert ra == rb


def test_overlapping_exports_add_only_new_points(tmp_path: Path, db_path: str) -> None:
    extra = [ae_row("2026-03-07 09:00:00", 2), ae_row("2026-03-07 09:00:00", 2)]
    early = write_each_row(tmp_path / "early.ndjson", ROWS[:5])
    late = write_each_row(tmp_path / "late.ndjson", ROWS[2:] + extra)
    with leadstats.connect(db_path) as ls:
        import_ae(ls, str(early))
        second = import_ae(ls, str(late))
        totals = ls.report(*DAY).totals
    assert second.accepted == 4 and second.duplicates == 3
    assert totals["received"] == expected(ROWS + extra)["received"]


def test_identical_points_get_distinct_stable_ids() -> None:
    assert row_digest(ROWS[0]) == row_digest(ROWS[1])
    assert row_digest(ROWS[0]) != row_digest(ROWS[2])
    # numbers as strings or numbers, and columns left out of the SELECT when empty, give the same id
    as_numbers = {k: (float(v) if k.startswith("double") else v) for k, v in ROWS[0].items()}
    trimmed = {k: v for k, v in ROWS[0].items() if v not in ("", 0)}
    assert row_digest(as_numbers) == row_digest(ROWS[0]) == row_digest(trimmed)


def test_mapping_and_bad_rows_via_cli(tmp_path: Path, db_path: str) -> None:
    rows = [dict(r) for r in ROWS[:3]]
    rows[0]["blob7"] = "Override"
    rows.append({"timestamp": "", "blob5": "1", "_sample_interval": "1"})
    rows.append({"timestamp": "2026-03-07 10:00:00", "blob5": "maybe", "_sample_interval": "1"})
    rows.append({"timestamp": "2026-03-07 10:00:00", "blob5": "1", "_sample_interval": "0"})
    export = write_each_row(tmp_path / "ae.ndjson", rows)
    with export.open("a") as fh:
        fh.write("not json\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[ae.columns]\nproject = "blob7"\nsource = ""\n')
    assert load_mapping(mapping).ae.columns["project"] == "blob7"
    res = runner.invoke(app, ["import", "ae", str(export), "--db", db_path, "--mapping", str(mapping)])
    assert res.exit_code == 1, res.output
    assert "row 4: occurred_at: cannot read timestamp ''" in res.output
    assert "row 5: event_type: blob20 is empty and blob5 is not 1 or 0 ('maybe')" in res.output
    assert "row 6: weight: must be a whole number >= 1" in res.output
    assert "row 7: record: is not a JSON object" in res.output
    with leadstats.connect(db_path, read_only=True) as ls:
        rows_by = {r["project"]: r["received"] for r in ls.report(*DAY, dimensions=["project"]).rows}
        sources = {r["source"] for r in ls.report(*DAY, dimensions=["source"]).rows}
    assert rows_by == {"Override": 1, None: 11}
    assert sources == {None}


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ("", 0, "read 0 rows"),
        ("[1, 2]", 1, "row 2: record: is not a JSON object"),
        ('{"meta": []}', 2, 'no "data" list'),
        ("{oops", 2, "not AE SQL API output"),
    ],
)
def test_empty_and_unreadable_files(tmp_path: Path, db_path: str, body: str, code: int, message: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(body)
    res = runner.invoke(app, ["import", "ae", str(path), "--db", db_path])
    assert res.exit_code == code and message in res.output, res.output


def test_cut_export_is_refused(tmp_path: Path, db_path: str) -> None:
    """Issue 11.8: an export cut by LIMIT would store a silently partial window."""
    path = tmp_path / "cut.json"
    write_json(path, ROWS)
    doc = json.loads(path.read_text())
    doc["rows_before_limit_at_least"] = 50
    path.write_text(json.dumps(doc))
    res = runner.invoke(app, ["import", "ae", str(path), "--db", db_path])
    assert res.exit_code != 0
    assert "holds 7 of at least 50 rows (cut by a LIMIT)" in res.output
    with leadstats.connect(db_path) as ls:
        assert ls.count() == 0


def test_non_lead_data_points_are_skipped_with_a_count(tmp_path: Path, db_path: str) -> None:
    page_views = [dict(ae_row("2026-03-07 09:00:00", 5, primary=""), blob4="/pricing") for _ in range(3)]
    page_views.append(dict(ae_row("2026-03-07 09:30:00", 1, primary="", event_type="page_view")))
    export = write_json(tmp_path / "mixed.json", ROWS + page_views)
    res = runner.invoke(app, ["import", "ae", str(export), "--db", db_path])
    assert res.exit_code == 0, res.output
    assert "skipped 4 non-lead data points" in res.output
    with leadstats.connect(db_path, read_only=True) as ls:
        assert ls.report(*DAY).totals["received"] == expected(ROWS)["received"]
