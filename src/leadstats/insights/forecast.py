"""Forecast: expected leads per day for the next 7 days and per hour for the next day, with intervals.

Method (pure, over daily and hourly time-only reports):

- Two models: *seasonal naive* (the same day last week, the same hour last week) and *Holt-Winters*
  (statsmodels ``ExponentialSmoothing``: damped additive trend and additive weekly season for days;
  additive weekly season of 168 hours for hours).
- A rolling-origin *backtest* over the last weeks picks the model: for days, 4 origins one week apart,
  each forecasting 7 days; for hours, 7 origins one day apart, each forecasting 24 hours. The score is
  the MAPE over points whose actual value is not zero (a percentage error of a zero is undefined).
- *Intervals* (80% by default) are split-conformal: the chosen model's backtest residuals, scaled by the
  Poisson noise of the forecast (``(actual - expected) / sqrt(expected)``), give the band's quantiles at
  finite-sample ranks; the band is at least Poisson noise wide (``expected ± 1.28 sqrt(expected)``) and
  cut at zero.
- *Coverage* is measured, not assumed: each backtest fold is checked against a band calibrated on the
  other folds only; ``coverage`` is the share of held-out points inside (the target is ``interval``).
- Days before the store's first event are dropped from the history, so a young store is not read as
  a long run of zeros.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LeadStatsError
from ..model.timegrid import local_midnight_us
from .common import DAY_US, HOUR_US, Window, resolve_window

if TYPE_CHECKING:
    from ..service import LeadStats

Model = Callable[[np.ndarray, int, int], np.ndarray]
FORECAST_METRICS: tuple[str, ...] = ("received", "submissions", "primary", "hot", "follow_up", "bot")
DEFAULT_LEVEL = 0.8


class ForecastError(LeadStatsError):
    """Not enough history to forecast."""

    code = "insufficient_history"


def seasonal_naive(history: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """Repeat the last full season."""
    last = history[-period:]
    return np.array([last[i % period] for i in range(horizon)], dtype=float)


def holt_winters(history: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """Holt-Winters: damped additive trend for short periods (days), season only for long ones (hours)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    long_season = period > 24
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on flat or short series
        model = ExponentialSmoothing(
            history.astype(float),
            trend=None if long_season else "add",
            damped_trend=not long_season,
            seasonal="add",
            seasonal_periods=period,
            initialization_method="heuristic" if long_season else "estimated",
        ).fit(use_brute=False, method="SLSQP")  # same fit here, ~10x faster than L-BFGS-B + brute
        out = np.asarray(model.forecast(horizon), dtype=float)
    if not np.all(np.isfinite(out)):
        return seasonal_naive(history, period, horizon)
    return out


MODELS: dict[str, Model] = {"seasonal_naive": seasonal_naive, "holt_winters": holt_winters}


def mape(actual: np.ndarray, predicted: np.ndarray) -> float | None:
    """Mean absolute percentage error in percent over points with a non-zero actual value."""
    mask = actual > 0
    if not mask.any():
        return None
    return float(np.mean(np.abs(actual[mask] - predicted[mask]) / actual[mask]) * 100)


def _scale(pred: np.ndarray) -> np.ndarray:
    """Residual scale of a count forecast: its Poisson standard deviation (at least 1)."""
    return np.sqrt(np.maximum(pred, 1.0))


def conformal_bounds(residuals: Sequence[float], level: float) -> tuple[float, float]:
    """Split-conformal band ``[lo, hi]`` for scaled residuals: centred on their median (a model that runs
    low or high is corrected), half-width the ``ceil((n+1) level)``-th smallest distance from it, so a new
    exchangeable residual falls inside with probability of at least ``level``."""
    r = np.asarray(residuals, dtype=float)
    n = len(r)
    if n == 0:
        return 0.0, 0.0
    centre = float(np.median(r))
    dist = np.sort(np.abs(r - centre))
    rank = min(n, math.ceil((n + 1) * level))
    half = float(dist[rank - 1])
    return centre - half, centre + half


def band(pred: np.ndarray, lo_q: float, hi_q: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Interval around ``pred`` from scaled-residual quantiles, at least Poisson noise wide, cut at zero."""
    zq = NormalDist().inv_cdf(1 - (1 - level) / 2)
    scale = _scale(pred)
    low = np.maximum(0.0, pred + np.minimum(lo_q, -zq) * scale)
    high = pred + np.maximum(hi_q, zq) * scale
    return low, high


def backtest(history: np.ndarray, period: int, horizon: int, folds: int, step: int,
             level: float = DEFAULT_LEVEL) -> dict[str, Any]:
    """Rolling-origin backtest of every model: MAPE, scaled residuals per fold, and the band's coverage.

    Coverage is measured on held-out folds: each fold's points are checked against a band calibrated on
    the *other* folds' residuals only (cross-conformal), so it says how often the printed band holds.
    """
    scores: dict[str, float | None] = {}
    residuals: dict[str, list[float]] = {}
    coverage: dict[str, float | None] = {}
    for name, model in MODELS.items():
        actual_all: list[float] = []
        pred_all: list[float] = []
        per_fold: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for fold in range(folds, 0, -1):
            cut = len(history) - (fold - 1) * step - horizon
            train, test = history[:cut], history[cut:cut + horizon]
            if len(train) < 2 * period + 1 or len(test) < horizon:
                continue
            pred = np.clip(model(train, period, horizon), 0, None)
            actual_all.extend(test)
            pred_all.extend(pred)
            per_fold.append((test, pred, (test - pred) / _scale(pred)))
        scores[name] = mape(np.array(actual_all), np.array(pred_all)) if actual_all else None
        residuals[name] = [float(x) for _t, _p, r in per_fold for x in r]
        inside = total = 0
        if len(per_fold) >= 2:
            for i, (test, pred, _r) in enumerate(per_fold):
                others = [x for j, (_t, _p, r) in enumerate(per_fold) if j != i for x in r]
                low, high = band(pred, *conformal_bounds(others, level), level)
                inside += int(np.sum((test >= low) & (test <= high)))
                total += len(test)
        coverage[name] = round(100.0 * inside / total, 1) if total else None
    return {"mape": scores, "residuals": residuals, "coverage": coverage,
            "points": len(pred_all) if scores else 0}


def forecast_series(
    history: Sequence[float],
    *,
    period: int,
    horizon: int,
    folds: int,
    step: int,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Any]:
    """Choose a model by backtest, forecast ``horizon`` points, and attach calibrated intervals."""
    values = np.asarray(history, dtype=float)
    nonzero = np.flatnonzero(values > 0)
    if len(nonzero):
        values = values[nonzero[0]:]
    if not len(nonzero):
        raise ForecastError("not enough history to forecast: no events in the history window", field="from")
    if len(values) < 2 * period + horizon + 1:
        raise ForecastError(
            f"not enough history to forecast: {len(values)} points, at least {2 * period + horizon + 1} "
            f"needed (two seasons of {period} and a backtest)", field="from")
    bt = backtest(values, period, horizon, folds, step, level)
    scored = {k: v for k, v in bt["mape"].items() if v is not None}
    chosen = min(scored, key=lambda k: (scored[k], k != "seasonal_naive")) if scored else "seasonal_naive"
    pred = np.clip(MODELS[chosen](values, period, horizon), 0, None)
    lo_q, hi_q = conformal_bounds(bt["residuals"][chosen], level)
    low, high = band(pred, lo_q, hi_q, level)
    points = [{"expected": round(float(v), 1), "low": round(float(lo), 1), "high": round(float(hi), 1)}
              for v, lo, hi in zip(pred, low, high, strict=True)]
    return {
        "model": chosen,
        "mape": None if chosen not in scored else round(scored[chosen], 2),
        "backtest": {"folds": folds, "horizon": horizon, "step": step,
                     "mape": {k: None if v is None else round(v, 2) for k, v in bt["mape"].items()},
                     "coverage": bt["coverage"],
                     "held_out_points": len(bt["residuals"][chosen])},
        "interval": level,
        "coverage": bt["coverage"][chosen],
        "history_points": len(values),
        "points": points,
    }


_MODEL_WORDS = {"holt_winters": "a trend-and-season model", "seasonal_naive": "a same-{unit} guess"}


def accuracy_words(part: Mapping[str, Any], granularity: str) -> str:
    """How good a forecast was in its backtest, in words: ``typical error 1.5% on the last 4 weeks (a
    same-weekday guess: 2.4%); the 80% band held on 82% of held-out days``."""
    bt = part["backtest"]
    unit = "weekday" if granularity == "day" else "hour-last-week"
    span_days = bt["folds"] * bt.get("step", 7 if granularity == "day" else 24) / (1 if granularity == "day"
                                                                                   else 24)
    span = f"the last {span_days / 7:g} weeks" if span_days % 7 == 0 and span_days > 7 else \
        f"the last {span_days:g} days"
    if part.get("mape") is None:
        text = f"no error measured on {span}"
    else:
        text = f"typical error {part['mape']:.1f}% on {span}"
    others = [(k, v) for k, v in bt["mape"].items() if k != part["model"] and v is not None]
    if others:
        name, value = others[0]
        text += f" ({_MODEL_WORDS.get(name, name).format(unit=unit)}: {value:.1f}%)"
    if part.get("coverage") is not None:
        what = "days" if granularity == "day" else "hours"
        text += f"; the {100 * part['interval']:.0f}% band held on {part['coverage']:.0f}% of held-out {what}"
    return text


def forecast_from(daily: Sequence[float], hourly: Sequence[float], daily_window: Window, hourly_window: Window,
                  *, metric: str, days: int = 7, level: float = DEFAULT_LEVEL) -> dict[str, Any]:
    """Forecasts from the ``metric`` series of a daily and an hourly report ending at the same instant."""
    tz = daily_window.tz
    day_doc = forecast_series(daily, period=7, horizon=days, folds=4, step=7, level=level)
    day_doc["accuracy"] = accuracy_words(day_doc, "day")
    first = daily_window.end.date()
    for i, point in enumerate(day_doc["points"]):
        day = first + timedelta(days=i)
        point["date"] = day.isoformat()
        point["weekday"] = day.isoweekday()
    hour_doc = forecast_series(hourly, period=168, horizon=24, folds=7, step=24, level=level)
    hour_doc["accuracy"] = accuracy_words(hour_doc, "hour")
    for i, point in enumerate(hour_doc["points"]):
        moment = datetime.fromtimestamp((hourly_window.end_us + i * HOUR_US) / 1e6, tz)
        point["start"] = moment.isoformat()
        point["hour"] = moment.hour
    return {
        "metric": metric,
        "daily": {**day_doc, "history": daily_window.to_dict()},
        "hourly": {**hour_doc, "history": hourly_window.to_dict()},
        "next_7_days": {"expected": round(sum(p["expected"] for p in day_doc["points"]), 1),
                        "low": round(sum(p["low"] for p in day_doc["points"]), 1),
                        "high": round(sum(p["high"] for p in day_doc["points"]), 1)},
    }


def forecast(
    ls: LeadStats,
    end: str | date | datetime | None = None,
    *,
    start: str | date | datetime | None = None,
    tz: str | None = None,
    metric: str = "primary",
    history_days: int = 56,
    hourly_weeks: int = 4,
    level: float = DEFAULT_LEVEL,
    filters: Any = None,
) -> dict[str, Any]:
    """Forecast ``metric`` from the history before ``end`` (default: today's local midnight).

    Daily history is the last ``history_days`` days (or from ``start``), hourly the last ``hourly_weeks``.
    """
    if metric not in FORECAST_METRICS:
        raise LeadStatsError(f"unknown forecast metric {metric!r}: use one of {', '.join(FORECAST_METRICS)}",
                             field="metric")
    tz_name = ls.timezone(tz)
    window = resolve_window(start, end, tz_name, default_days=history_days)
    day_end = local_midnight_us(window.end.date(), window.tz)  # whole local days only
    if day_end <= window.start_us:
        raise ForecastError("the history window holds no whole day", field="from")
    window = window.shifted(end_us=day_end)
    daily_window = window
    hourly_window = window.shifted(start_us=max(window.start_us, window.end_us - hourly_weeks * 7 * DAY_US))
    daily = daily_window.report(ls, bucket="1d", filters=filters)
    hourly = hourly_window.report(ls, bucket="60m", filters=filters)
    doc = forecast_from([r[metric] for r in daily.rows], [r[metric] for r in hourly.rows],
                        daily_window, hourly_window, metric=metric, level=level)
    return {"window": window.to_dict(), **doc}
