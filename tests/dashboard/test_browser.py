"""The dashboard in a real headless Chromium against a real, seeded ``lrcast-server``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from .conftest import ADMIN_TOKEN, Server, Tab

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

# Chromium logs every 4xx answer (a 401 before the token, a 422 preview) as a console error.
EXPECTED_HTTP_ERROR = re.compile(r"^Failed to load resource: the server responded with .* of 4")
# Redoc's "API docs by Redocly" footer asks for its logo from Redocly's CDN; blocked, it is
# simply not drawn.
REDOC_LOGO = frozenset({"https://cdn.redoc.ly/redoc/logo-mini.svg"})


def points(tab: Tab, selector: str) -> list[int]:
    """The number of points of each series drawn under ``selector``."""
    counts: list[int] = tab.page.eval_on_selector_all(
        f"{selector} path.series", "ps => ps.map(p => Number(p.dataset.points))"
    )
    return counts


def no_problems(tab: Tab, allowed: frozenset[str] = frozenset()) -> None:
    """Nothing outside the server was requested, nothing threw, no policy was violated."""
    assert [url for url in tab.blocked if url not in allowed] == []
    aborted = "Failed to load resource: net::ERR_FAILED"
    unexpected = [
        e for e in tab.errors if not EXPECTED_HTTP_ERROR.match(e) and not (allowed and e == aborted)
    ]
    assert unexpected == []


def test_schedules_list_shows_each_latest_version_with_a_small_plot(tab: Tab) -> None:
    tab.goto("/")
    rows = tab.page.locator("#schedules tbody tr")
    rows.first.wait_for()
    assert rows.count() == 3
    resnet = tab.page.locator('#schedules tr[data-name="resnet50"]')
    assert "v2" in resnet.inner_text()
    expect(tab.page.locator("#schedules td.spark path.series")).to_have_count(3)
    assert all(n > 50 for n in points(tab, "#schedules td.spark"))
    tab.screenshot("schedules")
    no_problems(tab)


def test_schedule_page_plots_every_curve_history_and_a_comparison(tab: Tab) -> None:
    tab.goto("/#/schedules/resnet50")
    tab.page.locator("#curve-lr path.series").wait_for()
    for curve in ("lr", "momentum", "weight_decay"):
        assert points(tab, f"#curve-{curve}") == [750], curve  # 10500 steps, every 14
    versions = tab.page.locator("#versions tbody tr")
    assert versions.count() == 2
    assert versions.first.get_attribute("data-version") == "2"

    tab.page.locator("#compare-lr path.series").nth(1).wait_for()
    assert len(points(tab, "#compare-lr")) == 2
    assert "First differs at step" in tab.page.locator("#compare-lr").inner_text()
    tab.screenshot("schedule")

    tab.page.get_by_label("Log scale").check()
    tab.page.wait_for_selector('#curve-lr svg[data-log="1"]')
    # lr is 0 at step 0 (warmup from 0): a log scale leaves that one point out.
    assert points(tab, "#curve-lr")[0] < 750
    tab.page.get_by_label("To step", exact=True).fill("800")
    expect(tab.page.locator("#curve-lr path.series")).to_have_attribute("data-points", "799")
    assert "to=800" in tab.page.url
    tab.screenshot("schedule-log")
    no_problems(tab)


def test_runs_list_shows_schedule_version_last_step_and_current_lr(
    tab: Tab, server: Server
) -> None:
    tab.goto("/#/runs")
    row = tab.page.locator('#runs tr[data-run="resnet50-seed1"]')
    row.wait_for()
    expect(tab.page.locator("#runs td", has_text="…")).to_have_count(0)
    cells = row.locator("td").all_inner_texts()
    assert cells[1:6] == ["resnet50", "latest", "v2", "1,500", "1,535"]
    with server.client() as api:
        lr = api.get("/v1/runs/resnet50-seed1/lr", params={"start": 1500, "stop": 1501}).json()
    assert float(cells[6]) == pytest.approx(lr["values"]["lr"][0], rel=1e-3)
    pinned = tab.page.locator('#runs tr[data-run="resnet50-pinned"] td').all_inner_texts()
    assert pinned[2:4] == ["v1", "v1"]
    tab.screenshot("runs")
    no_problems(tab)


def test_run_page_plots_the_timeline_by_version_with_edit_horizon_and_last_seen_marks(
    tab: Tab, server: Server
) -> None:
    tab.goto("/#/runs/resnet50-seed1")
    timeline = tab.page.locator("#run-timeline")
    timeline.locator("path.series").first.wait_for()
    labels = timeline.locator("path.series").evaluate_all("ps => ps.map(p => p.dataset.label)")
    assert labels == ["resnet50 v1", "resnet50 v2", "resnet50 v2"]
    assert sum(points(tab, "#run-timeline")) > 700
    colours = timeline.locator("path.series").evaluate_all(
        "ps => ps.map(p => p.getAttribute('stroke'))"
    )
    assert colours[0] != colours[1] == colours[2]
    edits = timeline.locator("g.vline.edit").evaluate_all("gs => gs.map(g => Number(g.dataset.x))")
    switch = server.seeded["switch"]["resnet50-seed1"]
    assert edits == [switch, server.seeded["patch_step"]]
    horizon = timeline.locator("g.vline.horizon")
    assert horizon.get_attribute("data-x") == str(server.seeded["seed1"]["horizon"])
    assert timeline.locator("g.mark").get_attribute("data-x") == "1500"
    assert timeline.locator("rect.shade").count() == 1
    assert len(points(tab, "#run-groups")) == 2
    assert points(tab, "#run-curve-momentum") != []
    assert tab.page.locator("#timeline tbody tr").count() == 3
    assert points(tab, "#metric-loss") == [10]
    tab.screenshot("run")
    no_problems(tab)


def test_run_page_follows_the_metrics_cursor_to_the_last_report(tab: Tab, server: Server) -> None:
    """1,500 reports, served 1,000 a page: the page asks for the largest page the API allows
    (10,000), and pages are made smaller here so that this many reports take two of them."""
    with server.client() as api:
        api.put("/v1/runs/steps-long", json={"schedule": "steps"}).raise_for_status()
        for step in range(1500):
            report = {"step": step, "name": "val_loss", "value": 1.0 / (1 + step / 100)}
            api.post("/v1/runs/steps-long/metrics", json=report).raise_for_status()
        first_page = api.get("/v1/runs/steps-long/metrics", params={"limit": 1000}).json()
    asked: list[dict[str, list[str]]] = []

    def smaller_pages(route: Any) -> None:
        url = urlsplit(route.request.url)
        query = parse_qs(url.query)
        asked.append(dict(query))
        query["limit"] = ["1000"]
        route.fallback(url=urlunsplit(url._replace(query=urlencode(query, doseq=True))))

    tab.page.route(re.compile(r".*/v1/runs/steps-long/metrics(\?.*)?$"), smaller_pages)
    tab.goto("/#/runs/steps-long")
    tab.page.locator("#metric-val_loss path.series").wait_for()
    assert points(tab, "#metric-val_loss") == [1500]
    assert tab.page.locator("#metrics-count").inner_text() == "1,500 reports of 1 metric."
    assert [q["limit"] for q in asked] == [["10000"], ["10000"]]
    assert "cursor" not in asked[0]
    assert asked[1]["cursor"] == [first_page["next_cursor"]]
    tab.screenshot("run-metrics")
    no_problems(tab)


def test_run_page_stops_at_100k_metric_reports_and_says_so(tab: Tab) -> None:
    """A run with more reports than the page fetches, played here: every page is full and has
    a next one."""
    pages: list[int] = []
    created = "2026-01-01T00:00:00Z"

    def endless(route: Any) -> None:
        first = len(pages) * 10_000
        pages.append(first)
        items = [
            {
                "step": first + i,
                "name": "loss",
                "value": i / 10_000,
                "applied": False,
                "created": created,
            }
            for i in range(10_000)
        ]
        route.fulfill(json={"items": items, "next_cursor": f"more-{first}"})

    tab.page.route(re.compile(r".*/v1/runs/resnet50-pinned/metrics(\?.*)?$"), endless)
    tab.goto("/#/runs/resnet50-pinned")
    tab.page.locator("#metric-loss path.series").wait_for()
    assert len(pages) == 10
    assert points(tab, "#metric-loss") == [100_000]
    count = tab.page.locator("#metrics-count").inner_text()
    assert count == "Showing the first 100,000 reports (1 metric); the run has more."
    no_problems(tab)


def test_editor_previews_flags_the_bad_field_and_publishes_a_version_with_a_token(
    tab: Tab, server: Server
) -> None:
    page = tab.page
    tab.goto("/#/editor/wsd-small")
    editor = page.get_by_label("Schedule document (JSON or YAML)")
    page.locator("#preview-lr path.series").wait_for()
    assert '"wsd"' in editor.input_value()
    effective = page.locator('#followers tr[data-run="wsd-run"] td.effective')
    effective.wait_for()
    assert effective.inner_text() == "step 128"  # horizon 127 (one block of 128 answered)

    editor.fill("")
    editor.press_sequentially(
        '{"curves": {"lr": {"type": "cosine", "start": 0.05, "steps": 3000}}}', delay=2
    )
    # 3000 steps, plotted to 3150 every 4 steps.
    expect(page.locator("#preview-lr path.series")).to_have_attribute("data-points", "788")
    assert page.locator("#doc-errors li").count() == 0

    editor.fill('{"curves": {"lr": {"type": "cosine", "start": 0.05, "steps": -3}}}')
    error = page.locator('#doc-errors li[data-path="curves.lr.steps"]')
    error.wait_for()
    assert "curves.lr.steps" in error.inner_text()
    assert editor.get_attribute("aria-invalid") == "true"
    expect(page.locator("#preview")).to_have_class(re.compile(r"\bstale\b"))
    tab.screenshot("editor-error")

    editor.fill('{"curves": {"lr": {"type": "cosine", "start": 0.05,}}}')
    page.locator('#doc-errors li[data-path=""]').get_by_text("not valid JSON").wait_for()

    editor.fill(
        '{"description": "shorter decay",\n'
        ' "curves": {"lr": {"type": "wsd", "peak": 0.003, "warmup": 200, "stable": 800,'
        ' "decay": 400}}}'
    )
    expect(page.locator("#doc-errors li")).to_have_count(0)
    page.locator("#publish").click()
    dialog = page.locator("#token-dialog")
    dialog.wait_for()
    assert "writes need a token" in dialog.inner_text()
    tab.screenshot("editor-token")
    page.get_by_label("Token", exact=True).fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Use token").click()
    result = page.locator("#publish-result .notice.good")
    result.wait_for()
    assert "wsd-small v2" in result.inner_text()
    assert "wsd-run switches at step 128" in result.inner_text()
    tab.screenshot("editor-published")

    storage = page.evaluate(
        "[sessionStorage.getItem('lrcast.token'), localStorage.length, document.cookie]"
    )
    assert storage == [ADMIN_TOKEN, 0, ""]

    result.get_by_role("link", name="wsd-small v2").click()
    history = page.locator("#versions tbody tr")
    history.first.wait_for()
    assert history.count() == 2
    assert history.first.get_attribute("data-version") == "2"
    assert "shorter decay" in history.first.inner_text()
    with server.client() as api:
        stored = api.get("/v1/schedules/wsd-small").json()
    assert stored["version"] == 2
    assert stored["document"]["curves"]["lr"]["stable"] == 800
    no_problems(tab)


def test_editor_reads_yaml_and_locates_the_bad_field_line(tab: Tab) -> None:
    page = tab.page
    tab.goto("/#/editor")
    editor = page.get_by_label("Schedule document (JSON or YAML)")
    editor.fill(
        "description: yaml\n"
        "curves:\n"
        "  lr:\n"
        "    type: step\n"
        "    start: 0.1\n"
        "    every: 1000\n"
        "    factor: 0.5\n"
    )
    expect(page.locator("#doc-format")).to_have_text("YAML")
    # Four drops of 1000 steps, plotted to 4200 every 6 steps.
    expect(page.locator("#preview-lr path.series")).to_have_attribute("data-points", "700")
    editor.fill("curves:\n  lr:\n    type: step\n    start: 0.1\n    every: 0\n")
    error = page.locator('#doc-errors li[data-path="curves.lr.every"]')
    error.wait_for()
    assert error.get_by_role("button").inner_text() == "line 5"
    no_problems(tab)


def test_a_server_that_needs_a_token_for_reads_gets_one_asked_and_kept_in_the_tab(
    tab: Tab,
) -> None:
    """Reads are open on loopback, so the 401 of a server bound beyond it is played here."""
    page = tab.page
    asked: list[str | None] = []

    def needs_token(route: Any) -> None:
        auth = route.request.headers.get("authorization")
        asked.append(auth)
        if auth != f"Bearer {ADMIN_TOKEN}":
            route.fulfill(
                status=401,
                content_type="application/problem+json",
                body='{"type": "urn:lrcast:problem:token-required", "title": "Token required",'
                ' "status": 401, "detail": "reads need a token", "errors": []}',
            )
        else:
            route.fallback()

    page.route(re.compile(r".*/v1/.*"), needs_token)
    tab.goto("/#/runs")
    page.locator("#token-dialog").wait_for()
    assert "reads need a token" in page.locator("#token-reason").inner_text()
    page.get_by_label("Token", exact=True).fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Use token").click()
    page.locator('#runs tr[data-run="wsd-run"]').wait_for()
    assert asked[0] is None
    assert asked[-1] == f"Bearer {ADMIN_TOKEN}"
    assert page.locator("#token-state").inner_text() == "Token set (this tab only)"
    page.get_by_role("button", name="Forget token").click()
    assert page.evaluate("sessionStorage.length") == 0
    no_problems(tab)


@pytest.mark.parametrize(
    ("path", "operation"),
    [("/docs", ".opblock-summary-path"), ("/redoc", "[data-section-id^='operation/']")],
)
def test_api_docs_render_their_operations_with_only_the_server_reachable(
    tab: Tab, path: str, operation: str
) -> None:
    tab.goto(path)
    tab.page.locator(operation).first.wait_for(timeout=30_000)
    assert tab.page.locator(operation).count() >= 15
    assert tab.page.get_by_text("/v1/runs/{run}/lr").first.is_visible()
    tab.screenshot(path.strip("/"), full_page=False)
    no_problems(tab, allowed=REDOC_LOGO)
