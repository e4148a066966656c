"""The built fixture book in a real browser: Debian's chromium, headless, via Playwright.

Every page is served from 127.0.0.1; every request and console message is
recorded, and each test ends by checking that nothing left localhost and
nothing went wrong in the page.
"""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from urllib.parse import urlparse

# Playwright and chromium are installed by `make setup` (envs/tool.txt,
# scripts/system-deps.sh): a missing one is a failure, never a silent skip
# (the `browser` fixture is in conftest.py).
import pytest

from tabbook.render import CHROMIUM, build_html, page_urls, serve_directory, take_screenshots

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "html"


@pytest.fixture(scope="module", autouse=True)
def _chromium_installed():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run 'make setup' (it installs Debian's chromium)"


def load_make_book():
    spec = importlib.util.spec_from_file_location("html_fixture_make_book", FIXTURE / "make_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_book


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(config, html dir, base URL) of the fixture book, served locally."""
    config = load_make_book()(tmp_path_factory.mktemp("browser") / "book")
    html_dir = build_html(config, run=False)
    with serve_directory(html_dir) as base:
        yield config, html_dir, base


class Watched:
    """A browser page whose requests, console errors and page errors are all recorded."""

    def __init__(self, context):
        self.context = context
        self.page = context.new_page()
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda msg: msg.type in ("error", "warning") and self.problems.append(f"{msg.type}: {msg.text}"))
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", lambda request: self.problems.append(f"failed: {request.url}"))
        self.page.on("response", lambda response: response.status >= 400 and self.problems.append(f"{response.status}: {response.url}"))

    def check(self):
        foreign = [url for url in self.requests if urlparse(url).hostname != "127.0.0.1" and not url.startswith("data:")]
        assert foreign == [], "requests left localhost"
        assert self.problems == []


@pytest.fixture
def watched(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context)
    yield watched
    watched.check()
    context.close()


def visible_tabs(page) -> list[str]:
    """The tab of each tab group's visible pane, in page order."""
    return page.eval_on_selector_all(
        ".tabgroup", "groups => groups.map(g => [...g.querySelectorAll('.tabpane')].filter(p => p.offsetParent !== null).map(p => p.dataset.tab).join('+'))"
    )


def test_one_click_switches_every_group_and_the_choice_persists(site, watched):
    _, _, base = site
    page = watched.page
    page.goto(base + "chapter_demo/first.html")
    assert visible_tabs(page) == ["pytorch"] * 3
    page.locator(".tabgroup").nth(1).get_by_role("tab", name="JAX").click()
    assert visible_tabs(page) == ["jax"] * 3
    assert page.locator(".tab.selected").all_inner_texts() == ["JAX"] * 3
    assert page.locator("pre.output.error").is_visible()
    assert not page.locator("pre.output", has_text="hello from pytorch").is_visible()
    # the next page opens on the same tab; it has no JAX code and says so
    page.get_by_role("link", name="Next 1.2 Second Steps").click()
    page.wait_for_url("**/second.html")
    assert visible_tabs(page) == ["jax"]
    assert page.get_by_text("This section has no code for JAX.").is_visible()
    page.reload()
    assert visible_tabs(page) == ["jax"]
    page.go_back()
    page.wait_for_url("**/first.html")
    assert visible_tabs(page) == ["jax"] * 3
    # the keyboard works too: right arrow from the last tab wraps to the first
    page.locator(".tabgroup").first.get_by_role("tab", name="JAX").focus()
    page.keyboard.press("ArrowRight")
    assert visible_tabs(page) == ["pytorch"] * 3


def test_the_url_chooses_the_tab(site, watched):
    _, _, base = site
    page = watched.page
    page.goto(base + "chapter_demo/first.html?tab=mxnet")
    assert visible_tabs(page) == ["mxnet"] * 3
    page.goto(base + "chapter_demo/index.html")
    assert page.evaluate("document.body.dataset.tab") == "mxnet"
    page.goto(base + "chapter_demo/first.html?tab=nonsense")
    assert visible_tabs(page) == ["mxnet"] * 3


def test_without_javascript_the_default_tab_shows(site, browser):
    _, _, base = site
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(base + "chapter_demo/first.html")
        assert visible_tabs(page) == ["pytorch"] * 3
        assert page.locator("pre.output", has_text="hello from pytorch").is_visible()
    finally:
        context.close()


def test_math_is_typeset(site, watched):
    _, html_dir, base = site
    page = watched.page
    for url in page_urls(html_dir):
        page.goto(base + url)
        assert "$" not in page.evaluate("document.querySelector('article').innerText.replace(/```[\\s\\S]*?```/g, '')"), url
    page.goto(base + "chapter_demo/first.html")
    sizes = page.eval_on_selector_all("math", "ms => ms.map(m => [m.getBoundingClientRect().width, m.getBoundingClientRect().height])")
    assert len(sizes) == 5
    assert all(width > 5 and height > 5 for width, height in sizes)
    # MathML is laid out as math: the fraction-free display of eq_relu is one line, the aligned one two
    relu = page.locator("#eq_relu math").bounding_box()
    hidden = page.locator("#eq_hidden math").bounding_box()
    assert hidden["height"] > 1.5 * relu["height"]
    assert page.locator("#eq_relu .eqno").inner_text() == "(1.1.1)"


def test_figures_and_images_load(site, watched):
    _, _, base = site
    page = watched.page
    page.goto(base + "chapter_demo/first.html?tab=pytorch")
    page.wait_for_load_state("load")
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 4 and all(w > 0 for w in widths)  # the figure and the PNG output of each tab
    figure = page.locator("#fig_demo img").bounding_box()
    assert round(figure["width"]) == 300
    assert page.locator("#fig_demo figcaption").inner_text() == "Figure 1.1.1: A demo network diagram."
    plot = page.locator(".tabpane[data-tab=pytorch] .output.image svg").bounding_box()
    assert plot["width"] > 100 and plot["height"] > 50


def test_search_finds_a_phrase_on_another_page(site, watched):
    _, _, base = site
    page = watched.page
    page.goto(base + "chapter_demo/second.html")
    page.fill("#search-input", "marmalade sentence")
    results = page.locator("#search-results a")
    results.first.wait_for()
    assert results.count() == 1
    assert results.first.locator(".result-title").inner_text() == "1.1 First Steps"
    assert page.locator("#search-results mark").first.inner_text().lower() == "marmalade"
    results.first.click()
    page.wait_for_url("**/chapter_demo/first.html")
    page.fill("#search-input", "zebra crossing")
    assert page.locator("#search-results .empty").inner_text() == "No results for \u201czebra crossing\u201d"


def test_copy_button_copies_the_code(site, browser):
    _, _, base = site
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        watched = Watched(context)
        page = watched.page
        page.goto(base + "chapter_demo/first.html")
        cell = page.locator(".tabpane[data-tab=pytorch] .cell .input").first
        cell.hover()
        cell.get_by_role("button", name="Copy").click()
        assert cell.get_by_role("button").inner_text() == "Copied"
        assert page.evaluate("navigator.clipboard.readText()") == 'print("hello from pytorch")'
        watched.check()
    finally:
        context.close()


def test_phone_layout_hides_the_sidebar_behind_a_button(site, browser):
    _, _, base = site
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        watched = Watched(context)
        page = watched.page
        page.goto(base + "chapter_demo/first.html")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        sidebar = page.locator("#sidebar")
        assert not sidebar.get_by_role("link", name="1.2 Second Steps").is_visible() or sidebar.bounding_box()["x"] < -100
        page.get_by_role("button", name="Contents").click()
        page.wait_for_timeout(300)
        assert sidebar.bounding_box()["x"] >= 0
        watched.check()
    finally:
        context.close()


def test_print_shows_the_page_in_the_chosen_framework_only(site, watched):
    _, _, base = site
    page = watched.page
    page.goto(base + "chapter_demo/first.html?tab=mxnet")
    page.emulate_media(media="print")
    assert not page.locator("#sidebar").is_visible() and not page.locator(".topbar").is_visible()
    assert page.locator(".tabbar .tab.selected").first.is_visible()
    assert not page.locator(".tabbar .tab:not(.selected)").first.is_visible()
    assert visible_tabs(page) == ["mxnet"] * 3
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert page.locator("details.long-output[open]").count() == 1
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert page.locator("details.long-output[open]").count() == 0


def test_screenshots_of_every_page_in_every_tab(site, tabbook):
    """``python -m tabbook html --screenshots``: one full-page PNG per page and tab."""
    config, html_dir, _ = site
    result = tabbook("html", "--no-run", "--screenshots", cwd=config.root)
    assert result.returncode == 0, result.stderr
    shots_dir = config.build_dir / "screenshots"
    assert f"screenshots: 12 under {shots_dir}" in result.stdout
    expected = {f"{url[:-5].replace('/', '_')}__{tab}.png" for url in page_urls(html_dir) for tab in config.tabs}
    assert {p.name for p in shots_dir.iterdir()} == expected
    for shot in shots_dir.iterdir():
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width == 1280 and height >= 900


def test_screenshot_helper_takes_a_running_browser(site, browser, tmp_path):
    config, html_dir, _ = site
    shots = take_screenshots(html_dir, tmp_path, ["jax"], browser)
    assert [shot.name for shot in shots] == [f"{url[:-5].replace('/', '_')}__jax.png" for url in page_urls(html_dir)]
