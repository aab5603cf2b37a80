"""The dashboard in a real browser (Debian's /usr/bin/chromium via Playwright) against real
``leadstats serve`` processes on 127.0.0.1 over a demo store: one open (--insecure-local), one with a
read token. Every number the page shows is compared with /api/v1/report for the same query, built here
independently of the page's own URL code. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

import leadstats
from leadstats.demo import DemoSpec, build

CHROMIUM = "/usr/bin/chromium"
# In CI (scripts/test.sh installs Debian's chromium) a missing browser is a failure, never a silent skip.
if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is not installed (scripts/test.sh installs it)", allow_module_level=True)
from playwright import sync_api  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
READ_TOKEN = "dashboard-read-token-1"
TZ = "Asia/Kolkata"
SERIES_KEYS = ("received", "primary", "follow_up", "test", "blocked", "bot", "hot", "vpn", "suspicious")
# en-US: the page groups digits the reader's way, and the tests read "1,234"
CONTEXT: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "locale": "en-US"}
#: Playwright's waits only bound a hang (a loaded machine is slow, never wrong): no test depends on timing.
WAIT_MS = 120_000
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Server:
    url: str
    token: str | None
    process: subprocess.Popen[bytes]

    def get(self, path: str, params: list[tuple[str, str]] | None = None, token: str | None = None) -> httpx.Response:
        token = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(self.url + path, params=tuple(params or ()), headers=headers, timeout=120)

    def report(self, params: list[tuple[str, str]]) -> dict[str, Any]:
        resp = self.get("/api/v1/report", params)
        assert resp.status_code == 200, resp.text
        doc: dict[str, Any] = resp.json()
        return doc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def launch_server(db: Path, token: str | None) -> Server:
    """Start ``leadstats serve`` (with a read token, or --insecure-local without one); see wait_ready."""
    port = free_port()
    env = {**os.environ, "LEADSTATS_READ_TOKENS": token or "", "LEADSTATS_INGEST_TOKENS": ""}
    cmd = [
        sys.executable,
        "-c",
        "from leadstats.cli import main; main()",
        "serve",
        "--db",
        str(db),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    if token is None:
        cmd.append("--insecure-local")
    return Server(f"http://127.0.0.1:{port}", token, subprocess.Popen(cmd, env=env))


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 180  # only bounds a hang
    while time.monotonic() < deadline:
        assert server.process.poll() is None, "leadstats serve exited"
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("leadstats serve did not start")


def demo_end() -> datetime:
    """Now, or noon of today in TZ when that is later: the "today" preset always holds data, also in the
    first minutes after midnight in TZ (18:30 UTC for IST), when the data up to now would leave it empty."""
    local = datetime.now(ZoneInfo(TZ))
    return max(local, local.replace(hour=12, minute=0, second=0, microsecond=0)).astimezone(UTC)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    root = tmp_path_factory.mktemp("dashboard")
    open_db, secured_db = root / "open.duckdb", root / "secured.duckdb"
    with leadstats.connect(str(open_db)) as ls:
        build(ls, DemoSpec(events=60_000, days=90, end=demo_end(), seed=7))
    shutil.copy(open_db, secured_db)  # one writer per DuckDB file: each server gets its own copy
    started = {"open": launch_server(open_db, None), "secured": launch_server(secured_db, READ_TOKEN)}
    try:
        for server in started.values():
            wait_ready(server)
        yield started
    finally:
        for server in started.values():
            server.process.terminate()
        for server in started.values():
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(**CONTEXT, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # the server's Content-Security-Policy (docs/security.md) must not block anything the dashboard does
    pg.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


# -- helpers ---------------------------------------------------------------------------------------


def settle(page: Any, state: str = "ready") -> None:
    """Wait until the page is in `state`; for "ready", with the numbers of the URL now in the address bar."""
    page.wait_for_function(
        "s => document.body.dataset.state === s && (s !== 'ready' || document.body.dataset.view === location.search)",
        arg=state,
        timeout=WAIT_MS,
    )


def shot(page: Any, name: str, full_page: bool = False) -> None:
    """Save a screenshot; a full-page one brings the insights panel on screen, which then loads."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def today(tz: str = TZ) -> date:
    return datetime.now(ZoneInfo(tz)).date()


def preset(range_: str, tz: str = TZ) -> tuple[str, str]:
    """The [from, to) dates the dashboard's presets stand for (the last N days include today)."""
    days = {"today": 1, "yesterday": 1, "7d": 7, "30d": 30, "90d": 90}[range_]
    end = today(tz) + timedelta(days=0 if range_ == "yesterday" else 1)
    return str(end - timedelta(days=days)), str(end)


def query(frm: str, to: str, *, tz: str = TZ, filters: tuple[str, ...] = (), **extra: str) -> list[tuple[str, str]]:
    params = [("from", frm), ("to", to), ("tz", tz), *(("filter", f) for f in filters), ("suspicious_min", "40")]
    return params + list(extra.items())


def url_state(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def chart_series(page: Any) -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = json.loads(page.get_attribute("#timechart", "data-series"))
    return data


def assert_chart_matches(page: Any, doc: dict[str, Any]) -> None:
    series = chart_series(page)
    assert doc["rows"], "the API returned no buckets"
    assert series["bucket_start"] == [r["bucket_start"] for r in doc["rows"]]
    for key in SERIES_KEYS:
        assert series[key] == [r[key] for r in doc["rows"]], key
    # what the chart draws: stacked bar tops (cumulative, in stacking order) and the lines
    drawn = json.loads(page.get_attribute("#timechart .chart-box", "data-drawn"))
    below = [0] * len(doc["rows"])
    for key in ("primary", "follow_up", "test", "blocked", "bot"):
        assert [top - base for top, base in zip(drawn[key], below, strict=True)] == series[key], key
        below = drawn[key]
    assert below == series["received"]
    for key in ("hot", "vpn", "suspicious"):
        assert drawn[key] == series[key], key
    # the visible table under the chart holds the same received counts
    cells = page.eval_on_selector_all(
        "#timechart-table tbody tr td:nth-of-type(1)", "tds => tds.map(t => t.textContent)"
    )
    assert [int(c.replace(",", "")) for c in cells] == [r["received"] for r in doc["rows"]]


def breakdown_rows(page: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = page.eval_on_selector_all(
        "#breakdown tbody tr[data-key]",
        """trs => trs.map(tr => ({
              key: JSON.parse(tr.dataset.key),
              ...Object.fromEntries([...tr.querySelectorAll('td[data-col]')]
                .map(td => [td.dataset.col, td.dataset.value])),
            }))""",
    )
    return rows


def assert_breakdown_matches(page: Any, doc: dict[str, Any], dim: str) -> None:
    shown = breakdown_rows(page)
    total = doc["totals"]["received"]
    expected = {r[dim]: r for r in doc["rows"]}
    assert len(shown) == min(len(expected), 200)
    for row in shown:
        api = expected[row["key"]]
        assert int(row["received"]) == api["received"]
        assert int(row["primary"]) == api["primary"]
        assert float(row["share"]) == pytest.approx(api["received"] / total)
        if api["received"]:
            assert float(row["actual_pct"]) == pytest.approx(api["primary"] / api["received"])
            assert float(row["bot_rate"]) == pytest.approx((api["bot"] + api["blocked"]) / api["received"])
        if api["primary"]:
            assert float(row["hot_pct"]) == pytest.approx(api["hot"] / api["primary"])


def kpi(page: Any, key: str, attr: str = "data-value") -> float:
    return float(page.get_attribute(f'.kpi[data-kpi="{key}"]', attr))


# -- tests -----------------------------------------------------------------------------------------


def test_first_render_under_one_second(page: Any, servers: dict[str, Server]) -> None:
    # First in the file: nothing else is keeping the server busy. The first navigation also warms the
    # browser and the store up; the issue asks for < 1 s.
    timings = []
    for _ in range(2):
        page.goto(servers["open"].url + "/?range=90d")
        settle(page)
        timings.append(int(page.get_attribute("body", "data-first-render-ms")))
    print(f"first render: {timings} ms")
    assert all(t > 0 for t in timings)  # the page recorded its first render with the numbers on screen
    # The 1 s budget is a speed measurement, not a behaviour: on a loaded CI machine it would make the suite
    # depend on timing (issue 15.14). LEADSTATS_PERF_ASSERTS=1 checks it (an idle machine, by hand).
    if os.environ.get("LEADSTATS_PERF_ASSERTS") == "1":
        assert min(timings) < 1000


def test_opens_without_prompt_and_every_view_matches_the_api(page: Any, servers: dict[str, Server]) -> None:
    server = servers["open"]
    page.goto(server.url + "/")
    settle(page)
    assert not page.is_visible("#token-dialog")
    state = url_state(page)  # the default view is written into the URL
    assert (state["range"], state["tz"], state["bucket"], state["by"]) == (["7d"], [TZ], ["1d"], ["project"])
    frm, to = preset("7d")

    series = server.report(query(frm, to, bucket="1d"))
    assert len(series["rows"]) == 7
    assert_chart_matches(page, series)
    totals = series["totals"]
    assert kpi(page, "received") == totals["received"] > 0
    assert kpi(page, "primary") == totals["primary"]
    assert kpi(page, "actual_pct") == pytest.approx(totals["primary"] / totals["received"])
    assert kpi(page, "hot_pct") == pytest.approx(totals["hot"] / totals["primary"])
    assert kpi(page, "bot_rate") == pytest.approx((totals["bot"] + totals["blocked"]) / totals["received"])
    assert kpi(page, "vpn_pct") == pytest.approx(totals["vpn"] / totals["primary"])

    # previous period: the 7 days before, cut at the same moment of the day as now
    prev_url = urlsplit(page.get_attribute("#kpis", "data-previous-api-url"))
    prev = dict(parse_qs(prev_url.query))
    assert prev["from"] == [str(date.fromisoformat(frm) - timedelta(days=7))]
    cut = datetime.fromisoformat(prev["to"][0].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - timedelta(days=7) - cut).total_seconds()) < 120
    previous = server.report(query(prev["from"][0], prev["to"][0]))
    assert kpi(page, "received", "data-previous") == previous["totals"]["received"] > 0

    heat = server.report(query(frm, to, by="weekday,hour_of_day"))
    for metric in ("primary", "hot"):
        cells = page.eval_on_selector_all(
            f"#heat-{metric} td[data-value]",
            "tds => tds.map(t => [+t.dataset.weekday, +t.dataset.hour, +t.dataset.value])",
        )
        assert len(cells) == 7 * 24
        expected = {(r["weekday"], r["hour_of_day"]): r[metric] for r in heat["rows"]}
        assert {(d, h): v for d, h, v in cells if v} == {k: v for k, v in expected.items() if v}

    assert_breakdown_matches(page, server.report(query(frm, to, by="project")), "project")
    shot(page, "dashboard-top")


def test_yesterday_kpis_equal_the_summary_api(page: Any, servers: dict[str, Server]) -> None:
    """Yesterday against the day before is exactly /api/v1/summary?days=1: same numbers, same ratios."""
    server = servers["open"]
    page.goto(server.url + "/?range=yesterday")
    settle(page)
    summary = server.get("/api/v1/summary", [("days", "1"), ("tz", TZ)]).json()
    assert summary["current"]["first_day"] == preset("yesterday")[0]
    for key in ("received", "primary", "actual_pct", "hot_pct", "bot_rate", "vpn_pct"):
        metric = summary["metrics"][key]
        scale = 1 if key in ("received", "primary") else 100  # the summary's ratios are percentages
        assert kpi(page, key) * scale == pytest.approx(metric["value"], abs=0.005), key
        assert kpi(page, key, "data-previous") * scale == pytest.approx(metric["previous"], abs=0.005), key
    assert "the day before" in page.text_content('.kpi[data-kpi="received"]')


def test_range_bucket_and_group_by_controls(page: Any, servers: dict[str, Server]) -> None:
    server = servers["open"]
    page.goto(server.url + "/")
    settle(page)

    page.select_option("#range", "today")
    settle(page)
    assert url_state(page)["bucket"] == ["30m"]  # the default bucket for one day
    frm, to = preset("today")
    doc = server.report(query(frm, to, bucket="30m"))
    assert len(doc["rows"]) == 48
    assert_chart_matches(page, doc)

    page.select_option("#range", "30d")
    settle(page)
    frm, to = preset("30d")
    assert url_state(page)["bucket"] == ["1d"]
    page.select_option("#bucket", "60m")
    settle(page)
    assert url_state(page)["bucket"] == ["60m"]
    doc = server.report(query(frm, to, bucket="60m"))
    assert len(doc["rows"]) == 30 * 24
    assert_chart_matches(page, doc)
    assert kpi(page, "received") == doc["totals"]["received"]

    page.select_option("#by", "utm_campaign")
    settle(page)
    assert url_state(page)["by"] == ["utm_campaign"]
    assert page.text_content("#breakdown-title") == "Breakdown by utm_campaign"
    assert_breakdown_matches(page, server.report(query(frm, to, by="utm_campaign")), "utm_campaign")

    page.select_option("#range", "custom")
    page.fill("#from", "2020-01-01")
    page.fill("#to", "2020-01-07")
    page.dispatch_event("#to", "change")
    settle(page)
    # the URL's from/to are the API's: `to` is the day after the last day shown
    assert (url_state(page)["from"], url_state(page)["to"]) == (["2020-01-01"], ["2020-01-08"])
    assert page.get_attribute("body", "data-empty") == "true"  # the demo data has nothing in 2020
    assert page.is_visible("text=No leads in this window.")
    assert kpi(page, "received") == 0
    assert len(chart_series(page)["received"]) == 7


def test_filters_and_sorting(page: Any, servers: dict[str, Server]) -> None:
    server = servers["open"]
    page.goto(server.url + "/?range=30d&by=city")
    settle(page)
    frm, to = preset("30d")

    page.select_option("#filter-dim", "source")
    page.select_option("#filter-op", "=")
    page.fill("#filter-value", "google, meta")  # spaces after commas are dropped
    page.click("#filter-add")
    settle(page)
    page.select_option("#filter-dim", "country")
    page.select_option("#filter-op", "!=")
    page.fill("#filter-value", "IN")
    page.press("#filter-value", "Enter")
    settle(page)
    filters = ("source=google,meta", "country!=IN")
    assert tuple(url_state(page)["filter"]) == filters
    doc = server.report(query(frm, to, filters=filters, bucket="1d"))
    unfiltered = server.report(query(frm, to, bucket="1d"))
    assert 0 < doc["totals"]["received"] < unfiltered["totals"]["received"]
    assert_chart_matches(page, doc)
    by_city = server.report(query(frm, to, filters=filters, by="city"))
    assert "Mumbai" not in [r["key"] for r in breakdown_rows(page)]
    assert_breakdown_matches(page, by_city, "city")

    # sort by actual % (descending first, then ascending) with the keyboard
    page.focus('#breakdown button[data-sort="actual_pct"]')
    page.keyboard.press("Enter")
    settle(page)
    assert url_state(page)["sort"] == ["actual_pct"] and url_state(page)["dir"] == ["desc"]
    values = [float(r["actual_pct"]) for r in breakdown_rows(page) if r["actual_pct"] != ""]
    assert values == sorted(values, reverse=True) and len(set(values)) > 1
    page.click('#breakdown button[data-sort="actual_pct"]')
    settle(page)
    values = [float(r["actual_pct"]) for r in breakdown_rows(page) if r["actual_pct"] != ""]
    assert values == sorted(values)
    assert page.get_attribute('#breakdown th:has(button[data-sort="actual_pct"])', "aria-sort") == "ascending"

    # remove the source filter with its chip's button
    page.click('#filter-list li[data-filter="source=google,meta"] button')
    settle(page)
    assert url_state(page)["filter"] == ["country!=IN"]
    assert_chart_matches(page, server.report(query(frm, to, filters=("country!=IN",), bucket="1d")))

    # "only" on a breakdown row drills down to that value
    city = breakdown_rows(page)[0]["key"]
    page.click("#breakdown tbody tr[data-key] button.only")
    settle(page)
    assert url_state(page)["filter"] == ["country!=IN", f"city={city}"]
    assert [r["key"] for r in breakdown_rows(page)] == [city]


def test_csv_downloads_equal_the_api_csv(page: Any, servers: dict[str, Server]) -> None:
    server = servers["open"]
    page.goto(server.url + "/?range=7d&bucket=60m&by=country&filter=engagement_label%3DHot%2CVery%20Hot")
    settle(page)
    frm, to = preset("7d")
    filters = ("engagement_label=Hot,Very Hot",)
    for which, extra in (("series", {"bucket": "60m"}), ("breakdown", {"by": "country"})):
        with page.expect_download() as info:
            page.click(f'button[data-csv="{which}"]')
        download = info.value
        assert download.suggested_filename.endswith(".csv")
        got = Path(download.path()).read_text()
        resp = server.get("/api/v1/report", query(frm, to, filters=filters, format="csv", **extra))
        assert resp.status_code == 200
        assert got == resp.text
        assert got.splitlines()[0].startswith("bucket_start," if which == "series" else "country,")
        assert len(got.splitlines()) > 2


def test_an_empty_window_says_where_the_data_is_and_links_to_it(page: Any, servers: dict[str, Server]) -> None:
    """Issue 15.8: not only "No leads in this window", but the store's data span and a link to it."""
    server = servers["open"]
    span = server.get("/api/v1/data-span", [("tz", TZ)]).json()
    assert span["timezone"] == TZ and span["first_day"] < span["last_day"]
    page.goto(f"{server.url}/?from=2020-01-01&to=2020-01-08")
    settle(page)
    assert page.get_attribute("body", "data-empty") == "true"
    first, last = date.fromisoformat(span["first_day"]), date.fromisoformat(span["last_day"])
    words = f"{first.day} {first.strftime('%b')}" + (f" {first.year}" if first.year != last.year else "")
    status = page.text_content("#status") or ""
    assert "No leads in this window. Latest data: " in status and words in status, status
    assert f"{last.day} {last.strftime('%b')} {last.year}" in status, status
    page.click("#data-span-link")
    settle(page)
    assert (url_state(page)["from"], url_state(page)["to"]) == ([span["first_day"]], [str(last + timedelta(days=1))])
    assert page.get_attribute("body", "data-empty") == "false"


def test_link_with_the_apis_from_and_to_shows_that_report(page: Any, servers: dict[str, Server]) -> None:
    server = servers["open"]
    frm, to = str(today() - timedelta(days=10)), str(today() - timedelta(days=3))
    page.goto(f"{server.url}/?from={frm}&to={to}&bucket=60m&by=country")
    settle(page)
    assert url_state(page)["range"] == ["custom"]
    assert (page.input_value("#from"), page.input_value("#to")) == (frm, str(today() - timedelta(days=4)))
    doc = server.report(query(frm, to, bucket="60m"))
    assert len(doc["rows"]) == 7 * 24
    assert_chart_matches(page, doc)
    assert_breakdown_matches(page, server.report(query(frm, to, by="country")), "country")


def test_copied_url_reproduces_the_view_and_history_works(browser: Any, page: Any, servers: dict[str, Server]) -> None:
    server = servers["open"]
    page.goto(server.url + "/?range=7d")
    settle(page)
    first_url = page.url
    first_series = chart_series(page)

    page.select_option("#range", "custom")
    settle(page)
    page.fill("#from", str(today() - timedelta(days=3)))
    page.dispatch_event("#from", "change")
    settle(page)
    page.fill("#tz", "Asia/Kathmandu")
    page.dispatch_event("#tz", "change")
    settle(page)
    page.select_option("#bucket", "60m")
    settle(page)
    page.select_option("#by", "source")
    settle(page)
    page.click('#breakdown button[data-sort="hot_pct"]')
    settle(page)
    view_url = page.url
    view = {
        "series": chart_series(page),
        "breakdown": breakdown_rows(page),
        "kpi": kpi(page, "received"),
        "controls": page.eval_on_selector_all("#controls select, #controls input", "els => els.map(e => e.value)"),
    }
    assert view["series"]["bucket_start"][0].endswith("+05:45")  # Nepal local time
    doc = server.report(
        query(str(today() - timedelta(days=3)), str(today() + timedelta(days=1)), tz="Asia/Kathmandu", bucket="60m")
    )
    assert_chart_matches(page, doc)

    other = browser.new_context(**CONTEXT).new_page()
    other.goto(view_url)
    settle(other)
    assert other.url == view_url
    assert chart_series(other) == view["series"]
    assert breakdown_rows(other) == view["breakdown"]
    assert kpi(other, "received") == view["kpi"]
    assert (
        other.eval_on_selector_all("#controls select, #controls input", "els => els.map(e => e.value)")
        == view["controls"]
    )
    other.context.close()

    page.go_back()  # undo the sort
    settle(page)
    assert "sort" not in url_state(page)
    page.go_back()  # undo group by source
    settle(page)
    assert url_state(page)["by"] == ["project"] and page.input_value("#by") == "project"
    for _ in range(4):  # bucket, tz, from, custom
        page.go_back()
        settle(page)
    assert page.url == first_url
    assert page.input_value("#range") == "7d"
    assert chart_series(page) == first_series
    page.go_forward()
    settle(page)
    assert url_state(page)["range"] == ["custom"]


def test_token_prompt_wrong_token_and_stored_token(page: Any, servers: dict[str, Server]) -> None:
    server = servers["secured"]
    page.goto(server.url + "/")
    settle(page, "auth")
    assert page.is_visible("#token-dialog")
    assert not page.is_visible("#token-error")  # no token sent yet: a plain prompt
    assert page.is_visible("#error")  # never a blank page behind the dialog

    wrong = server.get("/api/v1/schema", token="not-the-token")
    assert wrong.status_code == 401
    page.fill("#token-input", "not-the-token")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#token-error:not([hidden])")
    assert page.text_content("#token-error") == wrong.json()["error"]["message"]
    assert page.is_visible("#token-dialog")
    shot(page, "dashboard-token")

    page.fill("#token-input", READ_TOKEN)
    page.click("#token-form button[type=submit]")
    settle(page)
    assert not page.is_visible("#token-dialog")
    frm, to = preset("7d")
    assert_chart_matches(page, server.report(query(frm, to, bucket="1d")))
    assert page.evaluate("localStorage.getItem('leadstats.token')") == READ_TOKEN

    page.reload()  # the token is kept: no prompt
    settle(page)
    assert not page.is_visible("#token-dialog")

    page.evaluate("localStorage.setItem('leadstats.token', 'revoked-token')")
    page.reload()  # a stored token the server refuses: the API's message, and a new prompt
    settle(page, "auth")
    assert page.is_visible("#token-dialog")
    assert page.text_content("#token-error") == wrong.json()["error"]["message"]


def test_api_errors_are_shown(page: Any, servers: dict[str, Server]) -> None:
    server = servers["open"]
    page.goto(server.url + "/?range=7d&tz=Mars%2FOlympus_Mons")
    settle(page, "error")
    frm, to = preset("7d", "UTC")
    resp = server.get("/api/v1/report", query(frm, to, tz="Mars/Olympus_Mons"))
    assert resp.status_code == 400
    message = resp.json()["error"]["message"]
    assert "Mars/Olympus_Mons" in message
    assert page.text_content("#error") == message
    assert page.is_visible("#controls")
    page.fill("#tz", TZ)  # fixing the input recovers
    page.dispatch_event("#tz", "change")
    settle(page)
    assert page.is_hidden("#error")


def test_dark_mode_and_labels(browser: Any, servers: dict[str, Server]) -> None:
    context = browser.new_context(**CONTEXT, color_scheme="dark")
    page = context.new_page()
    page.goto(servers["open"].url + "/?range=30d&by=utm_campaign")
    settle(page)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 20, 23)"
    unlabeled = page.eval_on_selector_all(
        "input, select", "els => els.filter(e => !e.labels || e.labels.length === 0).map(e => e.id)"
    )
    assert unlabeled == []
    assert page.get_attribute("#main", "aria-busy") == "false"
    shot(page, "dashboard-dark")
    context.close()


def test_insights_panel_loads_when_scrolled_to(page: Any, servers: dict[str, Server]) -> None:
    server = servers["open"]
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    page.goto(server.url + "/?range=7d")
    settle(page)
    assert not [u for u in requested if "/api/v1/insights/" in u]  # never in the way of the first render
    page.locator("#insights").scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelectorAll('#insights .insight[data-state=ready]').length === 4", timeout=WAIT_MS
    )
    focus = server.get("/api/v1/insights/focus", [("tz", TZ), ("limit", "5")]).json()
    shown = page.eval_on_selector_all('[data-insight="focus"] li', "lis => lis.map(li => li.textContent.trim())")
    assert shown == [f"{item['action']} {item['reason']}" for item in focus["items"]] and shown
    forecast = server.get("/api/v1/insights/forecast", [("tz", TZ), ("metric", "primary")]).json()
    expected = f"{round(forecast['next_7_days']['expected']):,}"
    assert expected in page.text_content('[data-insight="forecast"] strong')
    windows = server.get("/api/v1/insights/windows", [("tz", TZ), ("top", "5"), ("slots", "false")]).json()
    slots = page.eval_on_selector_all('[data-insight="windows"] li strong', "els => els.map(e => e.textContent)")
    assert slots == [s["label"] for s in windows["top_ad_slots"]]
    shot(page, "dashboard", full_page=True)  # the README picture (docs/img/dashboard.png)


def test_rate_definitions_come_from_the_schema(page: Any, servers: dict[str, Server]) -> None:
    """Issue 10.3: the page computes its rates from /api/v1/schema's definitions, not its own copy: a
    changed definition there changes the KPI."""
    server = servers["open"]

    def patched(route: Any) -> None:
        response = route.fetch()
        doc = response.json()
        for rate in doc["rates"]:
            if rate["name"] == "hot_pct":
                rate["denominator"] = "received"
        route.fulfill(response=response, json=doc)

    page.route("**/api/v1/schema", patched)
    page.goto(server.url + "/?range=7d")
    settle(page)
    totals = httpx.get(server.url + page.get_attribute("#kpis", "data-api-url"), timeout=120).json()["totals"]
    assert totals["hot"] and kpi(page, "hot_pct") == pytest.approx(totals["hot"] / totals["received"])
    assert kpi(page, "bot_rate") == pytest.approx((totals["bot"] + totals["blocked"]) / totals["received"])


def test_none_row_gets_its_only_button_and_vpn_suspected_breaks_down(page: Any, servers: dict[str, Server]) -> None:
    """Issues 11.13 and 11.1: the "(none)" row filters to DIM= (null); VPN splits as vpn_suspected."""
    server = servers["open"]
    frm, to = preset("30d")
    page.goto(server.url + "/?range=30d&by=utm_campaign")
    settle(page)
    assert None in [r["key"] for r in breakdown_rows(page)]
    page.click("#breakdown tbody tr[data-key='null'] button.only")
    settle(page)
    assert url_state(page)["filter"] == ["utm_campaign="]
    assert "(none)" in page.inner_text('#filter-list li[data-filter="utm_campaign="]')
    doc = server.report(query(frm, to, filters=("utm_campaign=",), by="utm_campaign"))
    assert [r["utm_campaign"] for r in doc["rows"]] == [None] and doc["totals"]["received"] > 0
    assert [r["key"] for r in breakdown_rows(page)] == [None]
    assert kpi(page, "received") == doc["totals"]["received"]

    page.goto(server.url + "/?range=30d&by=vpn_suspected")
    settle(page)
    doc = server.report(query(frm, to, by="vpn_suspected"))
    assert {r["vpn_suspected"] for r in doc["rows"]} == {True, False, None}
    assert_breakdown_matches(page, doc, "vpn_suspected")
    page.click("#breakdown tbody tr[data-key='true'] button.only")
    settle(page)
    assert url_state(page)["filter"] == ["vpn_suspected=true"]
    assert [r["key"] for r in breakdown_rows(page)] == [True]


def test_partial_buckets_are_marked_and_a_near_empty_previous_period_reads_new(
    page: Any, servers: dict[str, Server]
) -> None:
    server = servers["open"]
    start = today() - timedelta(days=40)
    tue = start + timedelta(days=(1 - start.weekday()) % 7)  # a Tuesday: its 1w bucket starts on the Monday
    fri = tue + timedelta(days=17)  # a Friday: its week runs past the window
    page.goto(f"{server.url}/?from={tue}&to={fri}&bucket=1w")
    settle(page)
    rows = server.report(query(str(tue), str(fri), bucket="1w"))["rows"]
    assert len(rows) == 3
    partial = json.loads(page.get_attribute("#timechart", "data-partial"))
    assert partial == [rows[0]["bucket_start"], rows[-1]["bucket_start"]]
    heads = page.eval_on_selector_all("#timechart-table tbody th", "ths => ths.map(t => t.textContent)")
    assert heads[0].endswith("(partial)") and heads[2].endswith("(partial)") and "partial" not in heads[1]
    mon = tue - timedelta(days=1)  # whole weeks: nothing is partial
    page.goto(f"{server.url}/?from={mon}&to={mon + timedelta(days=14)}&bucket=1w")
    settle(page)
    assert json.loads(page.get_attribute("#timechart", "data-partial")) == []
    # The demo starts 90 days ago: 60 days from its second day are compared with a period holding less
    # than one day of data, which reads "new", not "×60".
    frm = today() - timedelta(days=89)
    page.goto(f"{server.url}/?from={frm}&to={frm + timedelta(days=60)}&bucket=1d")
    settle(page)
    assert 0 < kpi(page, "received", "data-previous") < 0.05 * kpi(page, "received")
    change = page.text_content('.kpi[data-kpi="received"] .kpi-change') or ""
    assert "new" in change and "×" not in change


def test_api_docs_render_from_local_files_with_the_network_blocked(browser: Any, servers: dict[str, Server]) -> None:
    """Issue 15.6: /docs works air-gapped. Every request to anything but 127.0.0.1 is aborted; the page
    still lists the API's operations, with no CSP violation (no inline script: script-src 'self')."""
    server = servers["open"]
    context = browser.new_context(**CONTEXT)
    outside: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    try:
        response = page.goto(server.url + "/docs")
        assert response is not None and response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector(".opblock-summary-path", timeout=WAIT_MS)
        paths = {text.replace("\u200b", "").strip() for text in page.locator(".opblock-summary-path").all_inner_texts()}
        assert {"/api/v1/report", "/api/v1/events", "/api/v1/summary", "/healthz"} <= paths, paths
        assert page.locator(".info .title").first.inner_text().startswith("leadstats")
    finally:
        context.close()
    assert not outside, f"/docs reached outside 127.0.0.1: {outside}"
    assert not problems, f"errors on /docs: {problems}"
