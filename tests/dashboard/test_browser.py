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


def no_problems(
    tab: Tab, allowed: frozenset[str] = frozenset(), *, aborted_ok: bool = False
) -> None:
    """Nothing outside the server was requested, nothing threw, no policy was violated.
    ``aborted_ok``: the test cut requests off itself, so Chromium's reports of them are expected."""
    assert [url for url in tab.blocked if url not in allowed] == []
    aborted = "Failed to load resource: net::ERR_FAILED"
    unexpected = [
        e
        for e in tab.errors
        if not EXPECTED_HTTP_ERROR.match(e) and not ((allowed or aborted_ok) and e == aborted)
    ]
    assert unexpected == []


def archive(server: Server, *, runs: tuple[str, ...] = (), schedules: tuple[str, ...] = ()) -> None:
    """Archive what a test added, so that the shared server lists only what ``seed`` made."""
    with server.client() as api:
        for run in runs:
            api.delete(f"/v1/runs/{run}").raise_for_status()
        for name in schedules:
            api.delete(f"/v1/schedules/{name}").raise_for_status()


def focused(tab: Tab) -> str:
    """The focused element, as ``tag#id`` (and its text when it has no id)."""
    described: str = tab.page.evaluate(
        "(() => { const e = document.activeElement;"
        " return e.tagName + (e.id ? '#' + e.id : ':' + e.textContent.trim()); })()"
    )
    return described


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
    tab.page.locator("#metric-loss path.series").wait_for()  # the metrics load on their own
    assert points(tab, "#metric-loss") == [10]
    # Where the curves stop changing plus 5% (10,500, as on the schedule page), not 5% more.
    assert tab.page.get_by_label("To step").get_attribute("placeholder") == "10500"
    assert "Steps 0 to 10,499," in tab.page.locator("#run-plots").inner_text()
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


def test_run_page_of_an_archived_schedule_plots_the_run_up_past_its_horizon(
    tab: Tab, server: Server
) -> None:
    """The schedule's documents are gone from /v1/schedules, the run's values are not."""
    with server.client() as api:
        doc = {"curves": {"lr": {"type": "constant", "value": 0.5}}}
        api.put("/v1/schedules/gone-sched", json=doc).raise_for_status()
        api.put("/v1/runs/gone-run", json={"schedule": "gone-sched"}).raise_for_status()
        api.get("/v1/runs/gone-run/lr", params={"step": 50}).raise_for_status()
    archive(server, runs=("gone-run",), schedules=("gone-sched",))
    with server.client() as api:
        run = api.get("/v1/runs/gone-run").json()
    tab.goto("/#/runs/gone-run")
    expect(tab.page.locator("#run-timeline path.series")).to_have_count(1)
    assert tab.page.locator(".notice.bad").count() == 0
    stop = int(tab.page.get_by_label("To step").get_attribute("placeholder") or "0")
    assert stop > run["horizon"] >= 50
    assert "gone-sched is archived" in tab.page.locator("#run-plots").inner_text()
    assert tab.page.locator("#timeline tbody tr").count() == 1
    tab.screenshot("run-archived-schedule")
    no_problems(tab)


def test_editor_previews_and_publishes_percent_and_epoch_durations_with_an_assumed_run(
    tab: Tab, server: Server
) -> None:
    page = tab.page
    tab.goto("/#/editor")
    editor = page.get_by_label("Schedule document (JSON or YAML)")
    status = page.locator("#doc-status")
    editor.fill(
        '{"curves": {"lr": {"type": "warmup", "steps": "5%",'
        ' "then": {"type": "cosine", "start": 0.001, "steps": "95%"}}}}'
    )
    expect(status).to_contain_text("assuming total_steps 10,000")
    # 10,000 assumed steps, plotted to 10,500 every 14.
    expect(page.locator("#preview-lr path.series")).to_have_attribute("data-points", "750")
    assert page.locator("#doc-errors li").count() == 0
    assert editor.get_attribute("aria-invalid") == "false"

    page.get_by_label("total_steps").fill("2000")
    expect(status).not_to_contain_text("assuming")
    expect(page.locator("#preview-lr path.series")).to_have_attribute("data-points", "700")
    page.get_by_label("total_steps").fill("")

    editor.fill('{"curves": {"lr": {"type": "cosine", "start": 0.1, "steps": "12ep"}}}')
    expect(status).to_contain_text("assuming steps_per_epoch 100")
    expect(page.locator("#preview-lr path.series")).to_have_attribute("data-points", "630")
    tab.screenshot("editor-epochs")

    page.get_by_label("Schedule name").fill("epochs-scratch")
    page.evaluate(f"sessionStorage.setItem('lrcast.token', '{ADMIN_TOKEN}')")
    try:
        page.locator("#publish").click()
        result = page.locator("#publish-result .notice.good")
        result.wait_for()
        assert "epochs-scratch v1" in result.inner_text()
        with server.client() as api:
            stored = api.get("/v1/schedules/epochs-scratch").json()
        assert stored["document"]["curves"]["lr"]["steps"] == "12ep"
    finally:
        archive(server, schedules=("epochs-scratch",))
    no_problems(tab)


def test_an_unreachable_server_is_said_plainly_and_never_blamed_on_the_document(
    tab: Tab,
) -> None:
    page = tab.page
    tab.goto("/#/editor")
    page.locator("#preview-lr path.series").wait_for()
    page.route(re.compile(r".*/v1/.*"), lambda route: route.abort())
    editor = page.get_by_label("Schedule document (JSON or YAML)")
    editor.fill('{"curves": {"lr": {"type": "cosine", "start": 0.05, "steps": 3000}}}')
    expect(page.locator("#doc-status")).to_contain_text("The server cannot be reached")
    assert page.locator("#doc-errors li").count() == 0
    assert editor.get_attribute("aria-invalid") != "true"
    expect(page.locator("#preview")).to_have_class(re.compile(r"\bstale\b"))

    page.get_by_label("Schedule name").fill("unreachable")
    page.locator("#publish").click()
    result = page.locator("#publish-result .notice.bad")
    expect(result).to_contain_text("The server cannot be reached")
    assert "Fix the document" not in result.inner_text()
    assert page.locator("#doc-errors li").count() == 0
    tab.screenshot("editor-unreachable")

    tab.goto("/#/runs")
    expect(page.locator("main .notice.bad")).to_contain_text("The server cannot be reached")
    assert "Failed to fetch" not in page.locator("main").inner_text()
    no_problems(tab, aborted_ok=True)


def test_skip_link_focuses_the_main_content_and_stays_on_the_page(tab: Tab) -> None:
    page = tab.page
    tab.goto("/#/runs/resnet50-seed1?to=3000")
    page.locator("#run-timeline path.series").first.wait_for()
    page.keyboard.press("Tab")
    assert focused(tab) == "A:Skip to content"
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    assert page.evaluate("location.hash") == "#/runs/resnet50-seed1?to=3000"
    assert page.locator("h1").inner_text() == "resnet50-seed1"
    page.keyboard.press("Tab")
    assert focused(tab) == "A:← Runs"
    no_problems(tab)


def test_tab_indents_in_the_editor_and_escape_then_tab_leaves_it(tab: Tab) -> None:
    page = tab.page
    tab.goto("/#/editor")
    editor = page.get_by_label("Schedule document (JSON or YAML)")
    page.locator("#preview-lr path.series").wait_for()
    editor.fill("")
    editor.press("Tab")
    assert editor.input_value() == "  "
    editor.press("Escape")
    editor.press("a")
    editor.press("Tab")
    assert editor.input_value() == "  a  "
    expect(editor).to_be_focused()

    editor.press("Escape")
    page.keyboard.press("Tab")
    expect(editor).not_to_be_focused()
    assert editor.input_value() == "  a  "

    described = (editor.get_attribute("aria-describedby") or "").split()
    hints = [page.locator(f"#{id_}").inner_text() for id_ in described]
    assert any("Esc then Tab" in hint for hint in hints), hints
    assert page.get_by_text("Esc then Tab").is_visible()
    no_problems(tab)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_long_names_wrap_tables_scroll_in_their_own_box_and_plots_stay_readable(
    tab: Tab, server: Server, width: int, height: int
) -> None:
    page = tab.page
    page.set_viewport_size({"width": width, "height": height})
    # The longest names allowed (an archived run's id cannot be bound again: one per size).
    long_schedule = f"w{width}-{'a' * 60}-very-long-schedule-name-{'b' * 60}"[:128]
    long_run = f"w{width}-{'r' * 200}"[:200]
    with server.client() as api:
        doc = {"description": "L" * 300, "curves": {"lr": {"type": "constant", "value": 0.01}}}
        api.put(f"/v1/schedules/{long_schedule}", json=doc).raise_for_status()
        api.put(f"/v1/runs/{long_run}", json={"schedule": long_schedule}).raise_for_status()
    pages = {
        "schedules": ("/#/schedules", f'#schedules tr[data-name="{long_schedule}"] td.spark svg'),
        "schedule": (f"/#/schedules/{long_schedule}", "#schedule-runs a"),
        "runs": ("/#/runs", f'#runs tr[data-run="{long_run}"]'),
        "run": (f"/#/runs/{long_run}", "#run-timeline path.series"),  # flat: never "visible"
        "editor": (f"/#/editor/{long_schedule}", f'#followers tr[data-run="{long_run}"]'),
    }
    try:
        for name, (path, ready) in pages.items():
            tab.goto(path)
            page.locator(ready).first.wait_for(state="attached")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, name
            tables = page.eval_on_selector_all(
                "main table",
                """ts => ts.map(t => {
                    const box = t.closest('.table-wrap');
                    return box && getComputedStyle(box).overflowX === 'auto'
                        ? box.scrollWidth - box.clientWidth : null;
                })""",
            )
            assert tables, name
            assert None not in tables, name
            if width >= 1280:
                assert tables == [0] * len(tables), name  # the names wrap; nothing to scroll
            # A plot is drawn at about the size it is shown, so its 11px labels stay 11px.
            scales = page.eval_on_selector_all(
                "figure.chart:not(.spark) svg",
                "ss => ss.map(s => s.getBoundingClientRect().width / s.viewBox.baseVal.width)",
            )
            if width < 600:
                assert all(scale > 0.9 for scale in scales), (name, scales)
            tab.screenshot(f"long-names-{width}-{name}")
    finally:
        archive(server, runs=(long_run,), schedules=(long_schedule,))
    no_problems(tab)


def test_run_page_shows_each_plateau_reduction_in_the_table_and_on_the_plot(
    tab: Tab, server: Server
) -> None:
    plateau = {"metric": "val_loss", "patience": 2, "factor": 0.5, "min_lr": 0.01}
    with server.client() as api:
        bind = {"schedule": "steps", "block": 10, "plateau": plateau}
        api.put("/v1/runs/plateau-run", json=bind).raise_for_status()
        for step in range(0, 200, 10):
            api.get("/v1/runs/plateau-run/lr", params={"step": step}).raise_for_status()
            report = {"step": step, "name": "val_loss", "value": max(1.0 - step / 100, 0.5)}
            api.post("/v1/runs/plateau-run/metrics", json=report).raise_for_status()
        timeline = api.get("/v1/runs/plateau-run").json()["timeline"]
    reduced = [s for s in timeline if s["reduction"] != 1]
    assert reduced, timeline
    try:
        tab.goto("/#/runs/plateau-run")
        tab.page.locator("#run-timeline path.series").first.wait_for(state="attached")
        rows = tab.page.locator("#timeline tbody tr")
        assert rows.count() == len(timeline)
        headers = tab.page.locator("#timeline thead th").all_inner_texts()
        column = headers.index("Reduction")
        cells = [rows.nth(i).locator("td").nth(column).inner_text() for i in range(len(timeline))]
        assert cells[0] == "×1"
        first = reduced[0]
        assert cells[timeline.index(first)] == f"×{first['reduction']:g} (min_lr 0.01)"
        labels = tab.page.locator("#run-timeline g.vline.edit text").all_text_contents()
        assert f"reduction ×{first['reduction']:g} @ {first['from_step']}" in labels
        tab.screenshot("run-plateau")
    finally:
        archive(server, runs=("plateau-run",))
    no_problems(tab)


def test_navigation_focuses_the_new_page_title_and_main_is_not_read_out_whole(tab: Tab) -> None:
    page = tab.page
    tab.goto("/#/schedules")
    page.locator("#schedules tbody tr").first.wait_for()
    assert page.locator("main").get_attribute("aria-live") is None
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Runs").click()
    title = page.get_by_role("heading", level=1)
    expect(title).to_have_text("Runs")
    expect(title).to_be_focused()
    assert title.get_attribute("tabindex") == "-1"
    page.locator('#runs a[href="#/runs/wsd-run"]').click()
    expect(title).to_have_text("wsd-run")
    expect(title).to_be_focused()
    page.go_back()
    expect(title).to_have_text("Runs")
    expect(title).to_be_focused()
    no_problems(tab)
