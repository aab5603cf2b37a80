"""The five rates of CONTRACT §2, defined once: numerator metrics, denominator metric, plain words.

Reports (``rates=True``), the summary, insights, the AI export, MCP and the dashboard (through
``GET /api/v1/schema``) all take their rates from :data:`RATES`.

Two different percentages, two names:

- a *share* (:func:`share_pct`): part of a whole, ``hot / primary × 100`` (every rate here);
- a *change* (:func:`change_pct`): how much a value moved against its previous value,
  ``(value - previous) / previous × 100`` (the summary's ``change_pct``).

Both are rounded to 2 decimals and ``None`` when their denominator is 0.

>>> rate_values({"received": 8, "primary": 4, "hot": 1, "bot": 1, "blocked": 1, "vpn": 0, "suspicious": 3})
{'actual_pct': 50.0, 'hot_pct': 25.0, 'bot_rate': 25.0, 'vpn_pct': 0.0, 'suspicious_pct': 75.0}
>>> RATE_BY_NAME["hot_pct"].value({"hot": 0, "primary": 0}) is None
True
>>> change_pct(12, 10), change_pct(3, 0)
(20.0, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DIGITS = 2


def share_pct(numerator: float, denominator: float, digits: int = DIGITS) -> float | None:
    """``numerator / denominator`` in percent, rounded; ``None`` when the denominator is 0."""
    return round(100.0 * numerator / denominator, digits) if denominator else None


def change_pct(value: float | None, previous: float | None, digits: int = DIGITS) -> float | None:
    """Relative change of ``value`` against ``previous`` in percent; ``None`` when previous is 0 or None."""
    if value is None or previous is None or not previous:
        return None
    return round(100.0 * (value - previous) / previous, digits)


@dataclass(frozen=True)
class Rate:
    """A share of one metric (or a sum of metrics) in another, in percent."""

    name: str
    numerator: tuple[str, ...]
    denominator: str
    description: str

    def parts(self, metrics: Mapping[str, Any]) -> tuple[int, int]:
        """Numerator and denominator counts from a row of metrics (missing metrics count 0)."""
        return sum(int(metrics.get(n) or 0) for n in self.numerator), int(metrics.get(self.denominator) or 0)

    def value(self, metrics: Mapping[str, Any]) -> float | None:
        """The rate in percent, 2 decimals; ``None`` when the denominator is 0."""
        return share_pct(*self.parts(metrics))

    @property
    def formula(self) -> str:
        top = " + ".join(self.numerator)
        return f"({top}) / {self.denominator} × 100" if len(self.numerator) > 1 else f"{top} / {self.denominator} × 100"


RATES: tuple[Rate, ...] = (
    Rate("actual_pct", ("primary",), "received", "Actual leads among every event received"),
    Rate("hot_pct", ("hot",), "primary", "Hot and Very Hot leads among actual leads"),
    Rate("bot_rate", ("bot", "blocked"), "received", "Honeypot bots and blocked IPs among every event received"),
    Rate("vpn_pct", ("vpn",), "primary", "Actual leads behind a VPN among actual leads"),
    Rate("suspicious_pct", ("suspicious",), "primary", "Suspicious actual leads among actual leads"),
)
RATE_NAMES: tuple[str, ...] = tuple(r.name for r in RATES)
RATE_BY_NAME: dict[str, Rate] = {r.name: r for r in RATES}


def rate_values(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Every rate of one row of metrics, in :data:`RATES` order."""
    return {r.name: r.value(metrics) for r in RATES}


def describe_rates() -> list[dict[str, Any]]:
    """The rates as the schema document lists them (the dashboard computes its rates from this)."""
    return [
        {
            "name": r.name,
            "numerator": list(r.numerator),
            "denominator": r.denominator,
            "formula": r.formula,
            "description": r.description,
            "unit": "percent",
            "digits": DIGITS,
        }
        for r in RATES
    ]
