"""The time grid: zone segments, bucket keys and window bounds (pure, no store)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadstats.errors import QueryError
from leadstats.model.report import ReportQuery
from leadstats.model.timegrid import offset_segments, parse_bound, to_us, zone

US = 1_000_000


def utc(text: str) -> int:
    return to_us(datetime.fromisoformat(text).replace(tzinfo=UTC))


def test_new_york_2026_transitions_found_exactly() -> None:
    tz = zone("America/New_York")
    segs = offset_segments(utc("2026-03-01T00:00:00"), utc("2026-12-01T00:00:00"), tz)
    assert [s.start_us for s in segs[1:]] == [utc("2026-03-08T07:00:00"), utc("2026-11-01T06:00:00")]
    assert [s.offset_us // (3600 * US) for s in segs] == [-5, -4, -5]


def test_constant_zone_has_one_segment() -> None:
    segs = offset_segments(utc("2026-01-01T00:00:00"), utc("2027-01-01T00:00:00"), zone("Asia/Kolkata"))
    assert len(segs) == 1 and segs[0].offset_us == 19_800 * US


def test_date_bound_is_local_midnight_and_instant_is_taken_as_is() -> None:
    tz = zone("Asia/Kolkata")
    assert parse_bound("2026-03-07", tz, "from") == utc("2026-03-06T18:30:00")
    assert parse_bound("2026-03-07T10:00:00Z", tz, "from") == utc("2026-03-07T10:00:00")
    assert parse_bound("2026-03-07T10:00:00+05:45", tz, "from") == utc("2026-03-07T04:15:00")
    # A date-time without an offset is local wall time in the report zone.
    assert parse_bound("2026-03-07T10:00", tz, "from") == utc("2026-03-07T04:30:00")


def test_spring_forward_day_is_23_hours_and_fall_back_day_25() -> None:
    q = ReportQuery.create("2026-03-07", "2026-03-10", timezone="America/New_York", bucket="1d")
    starts = [q.grid.key_start_us(k) for k in q.grid.bucket_keys()]
    lengths = [(b - a) // (3600 * US) for a, b in zip(starts, [*starts[1:], q.grid.end_us], strict=True)]
    assert lengths == [24, 23, 24]
    q = ReportQuery.create("2026-10-31", "2026-11-03", timezone="America/New_York", bucket="1d")
    starts = [q.grid.key_start_us(k) for k in q.grid.bucket_keys()]
    lengths = [(b - a) // (3600 * US) for a, b in zip(starts, [*starts[1:], q.grid.end_us], strict=True)]
    assert lengths == [24, 25, 24]


def test_fall_back_hour_gives_two_buckets_with_same_wall_time() -> None:
    q = ReportQuery.create(
        "2026-11-01T00:00:00-04:00", "2026-11-01T03:00:00-05:00", timezone="America/New_York", bucket="60m"
    )
    labels = [q.grid.key_iso(k) for k in q.grid.bucket_keys()]
    assert labels == [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]


def test_spring_forward_skipped_hour_yields_no_bucket() -> None:
    q = ReportQuery.create("2026-03-08", "2026-03-08T05:00:00-04:00", timezone="America/New_York", bucket="60m")
    labels = [q.grid.key_iso(k) for k in q.grid.bucket_keys()]
    assert labels == [
        "2026-03-08T00:00:00-05:00",
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-08T04:00:00-04:00",
    ]


def test_two_hour_bucket_across_spring_forward_starts_at_last_valid_wall_time() -> None:
    # 00:00 EST, then 02:00 never exists and 03:00 is odd: the next 2h boundary is 04:00 EDT.
    q = ReportQuery.create("2026-03-08", "2026-03-08T06:00:00-04:00", timezone="America/New_York", bucket="2h")
    labels = [q.grid.key_iso(k) for k in q.grid.bucket_keys()]
    assert labels == ["2026-03-08T00:00:00-05:00", "2026-03-08T04:00:00-04:00"]
    assert q.grid.fixed_bucket_start(utc("2026-03-08T07:30:00")) == utc("2026-03-08T05:00:00")


def test_window_starting_on_a_transition_looks_back_for_its_first_bucket() -> None:
    # 07:00Z on 2026-03-08 is 03:00 EDT, the first instant after the gap: its 2h bucket began at 00:00 EST.
    q = ReportQuery.create("2026-03-08T07:00:00Z", "2026-03-08T07:15:00Z", timezone="America/New_York", bucket="2h")
    assert [q.grid.key_iso(k) for k in q.grid.bucket_keys()] == ["2026-03-08T00:00:00-05:00"]


def test_kathmandu_hours_start_at_quarter_past_utc() -> None:
    q = ReportQuery.create("2026-03-07", "2026-03-08", timezone="Asia/Kathmandu", bucket="60m")
    first = q.grid.bucket_keys()[0]
    assert first == utc("2026-03-06T18:15:00")
    assert q.grid.key_iso(q.grid.bucket_keys()[10]) == "2026-03-07T10:00:00+05:45"


@pytest.mark.parametrize(
    ("bucket", "count"),
    [
        ("15m", 96),
        ("30m", 48),
        ("60m", 24),
        ("1h", 24),
        ("2h", 12),
        ("3h", 8),
        ("4h", 6),
        ("6h", 4),
        ("12h", 2),
        ("1d", 1),
    ],
)
def test_bucket_counts_for_one_ist_day(bucket: str, count: int) -> None:
    q = ReportQuery.create("2026-03-07", "2026-03-08", timezone="Asia/Kolkata", bucket=bucket)
    assert len(q.grid.bucket_keys()) == count


def test_week_starts_monday_and_month_on_the_first() -> None:
    q = ReportQuery.create("2026-03-04", "2026-03-20", bucket="1w")
    assert [q.grid.key_iso(k) for k in q.grid.bucket_keys()] == [
        "2026-03-02T00:00:00+05:30",
        "2026-03-09T00:00:00+05:30",
        "2026-03-16T00:00:00+05:30",
    ]
    q = ReportQuery.create("2026-01-15", "2026-03-02", bucket="1mo", timezone="UTC")
    assert [q.grid.key_iso(k) for k in q.grid.bucket_keys()] == [
        "2026-01-01T00:00:00+00:00",
        "2026-02-01T00:00:00+00:00",
        "2026-03-01T00:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bucket": "5m"}, "bucket"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"dimensions": ["email"]}, "dimensions"),
        ({"start": "2026-03-08", "end": "2026-03-08"}, "from"),
        ({"start": "2026-03-09", "end": "2026-03-08"}, "from"),
        ({"start": "2020-01-01", "end": "2026-01-01", "bucket": "15m"}, "bucket"),
        ({"filters": [["like", "country", ["IN"]]]}, "filters"),
        ({"start": "yesterday"}, "from"),
        ({"start": "0001-01-01"}, "from"),
        ({"end": "9999-12-31T23:59:59+14:00"}, "to"),
    ],
)
def test_refusals_name_the_field(kwargs: dict[str, object], field: str) -> None:
    args = {"start": "2026-03-01", "end": "2026-03-08", **kwargs}
    with pytest.raises(QueryError) as info:
        ReportQuery.create(args.pop("start"), args.pop("end"), **args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert info.value.message
