"""The closed value sets of a lead event (CONTRACT §1), shared by validation, filters and metrics."""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = ("primary", "follow_up", "test", "blocked", "bot")
ENGAGEMENT_LABELS: tuple[str, ...] = ("Cold", "Warm", "Hot", "Very Hot")
HOT_LABELS: tuple[str, ...] = ("Hot", "Very Hot")
#: How a yes/no value may be spelled, in events and in filters (lower case).
TRUE_WORDS: tuple[str, ...] = ("true", "1", "yes", "t", "y", "1.0")
FALSE_WORDS: tuple[str, ...] = ("false", "0", "no", "f", "n", "0.0")
DEFAULT_SUSPICIOUS_MIN = 40.0
DEFAULT_TIMEZONE = "Asia/Kolkata"  # LEADSTATS_TZ overrides it (Settings.timezone)
