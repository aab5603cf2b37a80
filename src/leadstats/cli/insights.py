"""``leadstats insights focus|windows|anomalies|forecast``, ``leadstats digest`` and ``leadstats export``.

Thin wrappers over :mod:`leadstats.insights`: parse options, call one function, print a table (default on
a terminal) or the JSON document (default otherwise; the same document as the HTTP API and MCP).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.table import Table

from ..errors import InputError
from .common import DbOption, TzOption, app, console, err_console, handle_errors, is_terminal, open_service
from .report import HUMAN_NAMES

insights_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)
app.add_typer(insights_app, name="insights", help="Focus list, best time windows, anomalies and forecast.")

FromOption = typer.Option(None, "--from", help="Start (inclusive): a date = local midnight, or an ISO instant.")
ToOption = typer.Option(None, "--to", help="End (exclusive): a date = local midnight, or an ISO instant.")
FormatOption = typer.Option(None, "--format", help="table (default on a terminal) or json.")


def _fmt(fmt: str | None) -> str:
    chosen = (fmt or ("table" if is_terminal() else "json")).lower()
    if chosen not in ("table", "json"):
        raise InputError(f"unknown format {fmt!r}: use table or json", field="format")
    return chosen


def _json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")


def _window_line(doc: dict[str, Any]) -> str:
    from ..insights.words import window_words

    w = doc.get("window") or {}
    return f"[dim]{window_words(w)} ({w.get('timezone')})[/dim]" if w else ""


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


@insights_app.command("focus")
@handle_errors
def focus_cmd(
    start: str | None = FromOption,
    end: str | None = ToOption,
    tz: str | None = TzOption,
    limit: int = typer.Option(10, "--limit", min=1, help="How many segments to list."),
    fmt: str | None = FormatOption,
    db: str | None = DbOption,
) -> None:
    """Segments to scale, fix or pause, ranked by impact (default: the last 28 full days).

    \b
    Example:
      leadstats insights focus --from 2026-03-01 --to 2026-03-29 --db readme.duckdb
    """
    from ..insights import focus

    fmt = _fmt(fmt)
    with open_service(db, read_only=True) as ls:
        doc = focus(ls, start, end, tz=tz, limit=limit)
    if fmt == "json":
        return _json(doc)
    table = Table(title="Focus list", title_justify="left", header_style="bold")
    for col in ("#", "action", "segment", "actual", "hot %", "bot %", "susp %", "impact"):
        table.add_column(col, justify="right" if col not in ("action", "segment") else "left",
                         overflow="fold", min_width=24 if col == "segment" else None)
    for item in doc["items"]:
        r = item["rates"]
        table.add_row(str(item["rank"]), item["action"], item["name"], _num(item["counts"]["primary"]),
                      _num(r["hot_pct"]["value"]), _num(r["bot_rate"]["value"]),
                      _num(r["suspicious_pct"]["value"]), _num(item["impact"]))
    console.print_table(table)
    for item in doc["items"]:
        console.print(f"{item['rank']}. {item['reason']}", highlight=False, soft_wrap=True)
    console.print(_window_line(doc) + f" [dim]· {doc['segments_evaluated']} segments tested[/dim]")


@insights_app.command("windows")
@handle_errors
def windows_cmd(
    start: str | None = FromOption,
    end: str | None = ToOption,
    tz: str | None = TzOption,
    weeks: int = typer.Option(8, "--weeks", min=1, max=52, help="History in weeks when --from is not given."),
    top: int = typer.Option(10, "--top", min=1, max=168, help="How many ad slots to list."),
    fmt: str | None = FormatOption,
    db: str | None = DbOption,
) -> None:
    """Best hours for ads per weekday × hour, and the hours bots dominate (default: the last 8 weeks).

    \b
    Example:
      leadstats insights windows --from 2026-03-02 --to 2026-03-30 --db readme.duckdb
    """
    from ..insights import best_windows

    fmt = _fmt(fmt)
    with open_service(db, read_only=True) as ls:
        doc = best_windows(ls, start, end, tz=tz, weeks=weeks, top=top)
    if fmt == "json":
        return _json(doc)
    table = Table(title="Top ad slots (expected per hour)", title_justify="left", header_style="bold")
    for col in ("slot", "actual", "hot", "hot %", "bot %"):
        table.add_column(col, justify="left" if col == "slot" else "right")
    for s in doc["top_ad_slots"]:
        table.add_row(s["label"], _num(s["expected_primary"]), _num(s["expected_hot"]), _num(s["hot_pct"]),
                      _num(s["bot_rate"]))
    console.print_table(table)
    for p in doc["peak_hours"]:
        console.print(f"peak {p['label']}: {p['expected_hot_per_hour']:.1f} hot and "
                      f"{p['expected_primary_per_hour']:.0f} actual leads an hour, {p['share_of_hot']:.0f}% of hot "
                      "leads", highlight=False)
    if doc["junk_slots"]:
        console.print(f"mostly bots or suspicious in a usual week ({len(doc['junk_slots'])} slots): " + ", ".join(
            f"{s['label']} ({s['typical_bot_rate']:.0f}%)" for s in doc["junk_slots"][:12]), highlight=False)
    console.print(_window_line(doc))


@insights_app.command("anomalies")
@handle_errors
def anomalies_cmd(
    start: str | None = FromOption,
    end: str | None = ToOption,
    tz: str | None = TzOption,
    limit: int = typer.Option(50, "--limit", min=1, help="How many anomalies to list."),
    fmt: str | None = FormatOption,
    db: str | None = DbOption,
) -> None:
    """Hours and days far from the same slot in previous weeks (default: the last 7 days).

    \b
    Example:
      leadstats insights anomalies --from 2026-03-23 --to 2026-03-30 --db readme.duckdb
    """
    from ..insights import anomalies

    fmt = _fmt(fmt)
    with open_service(db, read_only=True) as ls:
        doc = anomalies(ls, start, end, tz=tz, limit=limit)
    if fmt == "json":
        return _json(doc)
    for inc in doc["incidents"]:
        console.print(f"[bold]{inc['severity']}[/bold] {inc['headline']}", highlight=False, soft_wrap=True)
    table = Table(title=f"Anomalies ({doc['anomaly_count']})", title_justify="left", header_style="bold")
    for col in ("severity", "when", "segment", "metric", "kind", "value", "usual", "score"):
        table.add_column(col, justify="right" if col in ("value", "usual", "z") else "left")
    from ..insights.words import span_words

    for a in doc["anomalies"]:
        table.add_row(a["severity"], span_words(a["start"], a["end"]), a["name"],
                      HUMAN_NAMES.get(a["metric"], a["metric"]), a["kind"],
                      _num(a["value"]), _num(a["baseline"]["median"]), f"{a['z']:+.1f}")
    console.print_table(table)
    console.print(_window_line(doc) + f" [dim]· baseline {doc['baseline_weeks']} weeks[/dim]")


@insights_app.command("forecast")
@handle_errors
def forecast_cmd(
    start: str | None = FromOption,
    end: str | None = ToOption,
    tz: str | None = TzOption,
    metric: str = typer.Option("primary", "--metric", help="received, submissions, primary, hot, follow_up, bot."),
    fmt: str | None = FormatOption,
    db: str | None = DbOption,
) -> None:
    """Next 7 days by day and the next day by hour, with 80% intervals (history before --to).

    \b
    Example:
      leadstats insights forecast --to 2026-03-30 --db readme.duckdb
    """
    from ..insights import forecast

    fmt = _fmt(fmt)
    with open_service(db, read_only=True) as ls:
        doc = forecast(ls, end, start=start, tz=tz, metric=metric)
    if fmt == "json":
        return _json(doc)
    for key, title in (("daily", "Next 7 days"), ("hourly", "Next day by hour")):
        part = doc[key]
        table = Table(title=f"{title}: {HUMAN_NAMES.get(metric, metric)} ({part['interval']:.0%} band)",
                      title_justify="left",
                      header_style="bold")
        for col in ("when", "expected", "low", "high"):
            table.add_column(col, justify="left" if col == "when" else "right")
        for p in part["points"]:
            when = p["date"] if key == "daily" else p["start"][11:16]
            table.add_row(when, _num(p["expected"]), _num(p["low"]), _num(p["high"]))
        console.print_table(table)
        console.print(f"{title}: {part['accuracy']}", highlight=False, soft_wrap=True)
    console.print("[dim]typical error = mean absolute percentage error (MAPE) in the backtest[/dim]")


@app.command()
@handle_errors
def digest(
    period: str = typer.Option("week", "--period", help="week (last 7 days) or day (last day)."),
    to: str | None = typer.Option(None, "--to", help="Exclusive end date YYYY-MM-DD (default: today)."),
    tz: str | None = TzOption,
    project: str | None = typer.Option(None, "--project", help="Only this project."),
    fmt: str = typer.Option("markdown", "--format", help="markdown, json or html."),
    send_to: str | None = typer.Option(
        None, "--send", help="smtp://user:pass@host:port?to=a@b&from=c@d, slack://..., https://... or a path."
    ),
    db: str | None = DbOption,
) -> None:
    """The brief: KPIs vs the previous period, focus, windows, anomalies, forecast and 3-5 actions.

    \b
    Example:
      leadstats digest --period week --to 2026-03-30 --db readme.duckdb
    """
    from ..insights.delivery import FORMATS, make_digest, render, send

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}: use markdown, json or html", field="format")
    with open_service(db, read_only=True) as ls:
        doc = make_digest(ls, ls.settings, period=period, to=to, tz=tz, project=project)
    if send_to:
        info = send(doc, send_to, fmt=fmt)
        err_console.print(f"sent via {info['via']} to {info['target']}", highlight=False)
        return
    sys.stdout.write(render(doc, fmt))


@app.command("export")
@handle_errors
def export_cmd(
    for_ai: bool = typer.Option(False, "--for-ai", help="Write the k-anonymized pack for chat assistants."),
    start: str | None = FromOption,
    end: str | None = ToOption,
    tz: str | None = TzOption,
    out: str = typer.Option("leadstats-ai-pack", "--out", help="Directory to write (created if needed)."),
    db: str | None = DbOption,
) -> None:
    """Export aggregates: --for-ai writes CSV/JSON breakdowns, insights and a prompt template.

    \b
    Example:
      leadstats export --for-ai --out ai-pack --db readme.duckdb
    """
    from ..insights.export import export_for_ai

    if not for_ai:
        raise InputError("export needs --for-ai (the only export format so far)", field="for_ai")
    with open_service(db, read_only=True) as ls:
        manifest = export_for_ai(ls, out, start, end, tz=tz)
    err_console.print(f"wrote {len(manifest['files'])} files to {out} (groups under "
                      f"{manifest['k_anonymity']} events merged into 'other')", highlight=False)
    if not is_terminal():
        _json(manifest)
