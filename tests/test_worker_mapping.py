"""The Worker module (worker/src/datapoint.ts) writes the columns leadstats reads (CONTRACT §5).

The end-to-end proof runs in workerd (`npm --prefix worker test`, from scripts/test.sh); this check
keeps the two column tables from drifting apart when either side changes."""

from __future__ import annotations

import re
from pathlib import Path

from leadstats.model.schema import AE_FIELD_COLUMNS, REFERER_MAX

DATAPOINT = Path(__file__).resolve().parents[1] / "worker" / "src" / "datapoint.ts"
EVENT = Path(__file__).resolve().parents[1] / "worker" / "src" / "event.ts"


def _table(source: str, name: str) -> dict[str, int]:
    match = re.search(rf"export const {name} = \{{(.*?)\}} as const;", source, re.S)
    assert match, f"{name} not found in {DATAPOINT}"
    return {k: int(v) for k, v in re.findall(r"(\w+): (\d+)", match.group(1))}


def test_worker_columns_equal_the_ae_mapping() -> None:
    source = DATAPOINT.read_text(encoding="utf-8")
    worker = {f: f"blob{n}" for f, n in _table(source, "BLOB_COLUMNS").items()}
    worker |= {f: f"double{n}" for f, n in _table(source, "DOUBLE_COLUMNS").items()}
    assert worker == AE_FIELD_COLUMNS


def test_worker_cuts_the_referer_like_the_store() -> None:
    assert f"REFERER_MAX_CHARS = {REFERER_MAX};" in EVENT.read_text(encoding="utf-8")
