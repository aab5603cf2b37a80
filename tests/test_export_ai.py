"""``leadstats export --for-ai``: a compact pack of k-anonymized aggregates and a prompt template."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from leadstats.cli import app
from leadstats.model.schema import METRIC_NAMES
from test_insights_demo import HOT, LOW, demo_db, open_demo


def test_export_for_ai_pack(tmp_path: Path) -> None:
    out = tmp_path / "pack"
    result = CliRunner().invoke(app, ["export", "--for-ai", "--from", "2026-02-16", "--to", "2026-03-02",
                                      "--out", str(out), "--db", demo_db()])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["k_anonymity"] == 5 and manifest["window"]["from"] == "2026-02-16T00:00:00+05:30"
    assert {p.name for p in out.iterdir()} == {*manifest["files"], "manifest.json"}

    merged = 0
    with open_demo() as ls:
        totals = ls.report("2026-02-16", "2026-03-02").totals
        for name in manifest["files"]:
            if not name.startswith("by_"):
                continue
            rows = list(csv.DictReader((out / name).open()))
            header = list(rows[0])
            assert "lead_id" not in header and "referer" not in header and "event_id" not in header
            dims = header[: header.index("received")]
            for row in rows:  # every group is big enough to name, or is "other"
                assert int(row["received"]) >= 5 or all(row[d] == "other" for d in dims), (name, row)
            for metric in METRIC_NAMES:  # and nothing is lost by merging
                assert sum(int(r[metric]) for r in rows) == totals[metric], (name, metric)
            raw = ls.report("2026-02-16", "2026-03-02", dimensions=dims).rows
            small = [r for r in raw if r["received"] < 5]
            assert bool(small) == any(r[dims[0]] == "other" for r in rows), name
            merged += len(small)
    assert merged > 0  # the window does hold tiny groups, and they were folded

    focus = json.loads((out / "focus.json").read_text())
    assert {i["label"] for i in focus["items"]} >= {f"utm_campaign={LOW}", f"utm_campaign={HOT}"}
    assert len(list(csv.DictReader((out / "daily.csv").open()))) == 14
    assert json.loads((out / "forecast.json").read_text())["daily"]["points"][0]["date"] == "2026-03-02"
    prompt = (out / "PROMPT.md").read_text()
    assert "2026-02-16" in prompt and "`focus.json`" in prompt and "Do not invent" in prompt

    refused = CliRunner().invoke(app, ["export", "--out", str(tmp_path / "x"), "--db", demo_db()])
    assert refused.exit_code == 2 and "--for-ai" in refused.output
