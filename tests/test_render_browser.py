"""The built fixture book in a real browser: Debian's chromium, headless, via Playwright.

Every page is served from 127.0.0.1; every request and console message is
recorded, and each test ends by checking that nothing left localhost and
nothing went wrong in the page.
"""

from __future__ import annotations

import contextlib
import importlib.util
import struct
import zlib
from pathlib import Path
from urllib.parse import urlparse

# Playwright and chromium are installed by `make setup` (envs/tool.txt,
# scripts/system-deps.sh): a missing one is a failure, never a silent skip
# (the `browser` fixture is in conftest.py).
import pytest

from tabbook import cli
from tabbook.browser import CHROMIUM, page_urls, serve_directory, take_screenshots

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "html"
pytestmark = pytest.mark.browser


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
    html_dir = cli.html(config, run=False)
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
        # (a lazy image still loading when the test moves to the next page is cancelled: not a fault)
        self.page.on(
            "requestfailed", lambda request: request.failure != "net::ERR_ABORTED" and self.problems.append(f"failed: {request.url}")
        )
        self.page.on("response", lambda response: response.status >= 400 and self.problems.append(f"{response.status}: {response.url}"))

    def check(self):
        foreign = [url for url in self.requests if urlparse(url).hostname != "127.0.0.1" and not url.startswith("data:")]
        assert foreign == [], "requests left localhost"
        assert self.problems == []


@contextlib.contextmanager
def watched_context(browser, **options):
    """A fresh browser context (viewport, colour scheme, ...) with a watched page, checked at the end."""
    context = browser.new_context(**options)
    try:
        watched = Watched(context)
        yield watched
        watched.check()
    finally:
        context.close()


@pytest.fixture
def watched(browser):
    with watched_context(browser, viewport={"width": 1280, "height": 900}) as watched:
        yield watched


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
    assert page.locator(".tab[aria-selected=true]").all_inner_texts() == ["JAX"] * 3
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
    assert page.evaluate("document.documentElement.dataset.tab") == "mxnet"
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
    assert len(sizes) == 6
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
    page.locator(".tabpane[data-tab=pytorch] .output.image img").last.scroll_into_view_if_needed()
    page.wait_for_function("[...document.images].filter(i => i.offsetParent).every(i => i.complete)")
    shown = page.eval_on_selector_all("img", "imgs => imgs.filter(i => i.offsetParent).map(i => i.naturalWidth)")
    assert len(shown) == 3 and all(w > 0 for w in shown)  # the figure, and the pytorch tab's SVG and PNG outputs
    figure = page.locator("#fig_demo img").bounding_box()
    assert round(figure["width"]) == 300
    assert page.locator("#fig_demo figcaption").inner_text() == "Figure 1.1.1: A demo network diagram."
    plot = page.locator(".tabpane[data-tab=pytorch] .output.image img").first.bounding_box()
    assert plot["width"] == 240 and plot["height"] == 120


def search(site, watched, query: str):
    """(page, result links) after typing ``query`` into the search box of a page."""
    page = watched.page
    page.goto(site[2] + "chapter_demo/second.html")
    page.fill("#search-input", query)
    results = page.locator("#search-results a")
    results.first.wait_for()
    return page, results


def test_search_finds_a_phrase_on_another_page(site, watched):
    page, results = search(site, watched, "marmalade sentence")
    assert results.count() == 1
    assert results.first.locator(".result-title").inner_text() == "1.1 First Steps"
    assert page.locator("#search-results mark").first.inner_text().lower() == "marmalade"
    results.first.click()
    page.wait_for_url("**/chapter_demo/first.html")
    page.fill("#search-input", "zebra crossing")
    assert page.locator("#search-results .empty").inner_text() == "No results for \u201czebra crossing\u201d"


def test_copy_button_copies_the_code(site, browser):
    _, _, base = site
    with watched_context(browser, permissions=["clipboard-read", "clipboard-write"]) as watched:
        page = watched.page
        page.goto(base + "chapter_demo/first.html")
        cell = page.locator(".tabpane[data-tab=pytorch] .cell .input").first
        cell.hover()
        cell.get_by_role("button", name="Copy").click()
        page.wait_for_function("document.querySelector('.tabpane[data-tab=pytorch] .copy-button').innerText === 'Copied'", timeout=5000)
        assert page.evaluate("navigator.clipboard.readText()") == 'print("hello from pytorch")'


def test_phone_layout_hides_the_sidebar_behind_a_button(site, browser):
    _, _, base = site
    with watched_context(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True) as watched:
        page = watched.page
        page.goto(base + "chapter_demo/first.html")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        sidebar = page.locator("#sidebar")
        assert not sidebar.get_by_role("link", name="1.2 Second Steps").is_visible() or sidebar.bounding_box()["x"] < -100
        page.get_by_role("button", name="Contents").click()
        page.wait_for_timeout(300)
        assert sidebar.bounding_box()["x"] >= 0


def test_print_shows_the_page_in_the_chosen_framework_only(site, watched):
    _, _, base = site
    page = watched.page
    page.goto(base + "chapter_demo/first.html?tab=mxnet")
    page.emulate_media(media="print")
    assert not page.locator("#sidebar").is_visible() and not page.locator(".topbar").is_visible()
    assert page.locator(".tabbar .tab[aria-selected=true]").first.is_visible()
    assert not page.locator(".tabbar .tab[aria-selected=false]").first.is_visible()
    assert visible_tabs(page) == ["mxnet"] * 3
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert page.locator("details.long-output[open]").count() == 1
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert page.locator("details.long-output[open]").count() == 0


def test_screenshots_of_every_page_in_every_tab(site, tabbook):
    """``python -m tabbook html --screenshots``: every page and tab, on a desktop and a phone, light and dark."""
    config, html_dir, _ = site
    result = tabbook("html", "--no-run", "--screenshots", cwd=config.root)
    assert result.returncode == 0, result.stderr
    shots_dir = config.build_dir / "screenshots"
    assert f"screenshots: 48 under {shots_dir}" in result.stdout
    expected = {
        f"{url[:-5].replace('/', '_')}__{tab}__{screen}-{scheme}.png"
        for url in page_urls(html_dir)
        for tab in config.tabs
        for screen in ("desktop", "phone")
        for scheme in ("light", "dark")
    }
    assert {p.name for p in shots_dir.iterdir()} == expected
    for shot in shots_dir.iterdir():
        width, height, pixel = png_pixels(shot.read_bytes(), rows=3)
        assert (width, height >= 844) == ((1366, True) if "__desktop-" in shot.name else (390, True)), shot.name
        # the corner of the top bar: white in light mode, near black in dark mode
        assert (sum(pixel(2, 2)) / 3 > 200) == shot.name.endswith("-light.png"), shot.name


def test_screenshot_helper_takes_a_running_browser(site, browser, tmp_path):
    config, html_dir, _ = site
    shots = take_screenshots(html_dir, tmp_path, ["jax"], browser)
    assert len(shots) == 4 * len(page_urls(html_dir))
    assert shots[0].name == "index__jax__desktop-light.png" and shots[-1].name == "chapter_demo_second__jax__phone-dark.png"


def png_pixels(data: bytes, rows: int | None = None):
    """(width, height, pixel(x, y) -> (r, g, b)) of an 8-bit RGB(A) PNG such as Chromium's screenshots.

    Only the first ``rows`` rows are decoded when given (pure Python is slow on a whole page).
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks, header = 8, [], None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data[at + 8 : at + 21])
        elif kind == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    size = 3 if colour == 2 else 4
    stride = width * size
    wanted = None if rows is None else min(rows, height) * (stride + 1)
    raw = zlib.decompressobj().decompress(b"".join(chunks), wanted or 0)
    decoded, previous = [], bytearray(stride)
    for y in range(height if rows is None else min(rows, height)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        decoded.append(line)
        previous = line
    return width, height, lambda x, y: tuple(decoded[y][x * size : x * size + 3])


# -- the reader's book: math, stable layout, accessibility, page weight, navigation -------------

AXE = Path(__file__).resolve().parent.parent / ".vendor" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# Installed before any script of the page: the layout shifts the page makes while it loads.
LAYOUT_SHIFT = """
window.__layoutShift = 0;
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__layoutShift += entry.value;
}).observe({type: "layout-shift", buffered: true});
"""


def test_a_radical_grows_with_its_content(site, watched):
    """The math font stretches a radical (and brackets) to what they enclose."""
    _, _, base = site
    page = watched.page
    page.goto(base + "chapter_demo/first.html")
    page.evaluate("document.fonts.ready")
    assert page.evaluate("document.fonts.check('16px \"Latin Modern Math\"')")
    assert page.evaluate("[...document.fonts].some(f => f.family.includes('Latin Modern Math') && f.status === 'loaded')")
    page.evaluate(
        """() => {
        const math = body => `<math display="block">${body}</math>`;
        const tall = '<mfrac><mfrac><mi>a</mi><mi>b</mi></mfrac><mfrac><mi>c</mi><mi>d</mi></mfrac></mfrac>';
        const box = document.createElement('div');
        box.innerHTML = `<div id="small" class="eqn">${math('<msqrt><mi>x</mi></msqrt>')}</div>`
          + `<div id="tall" class="eqn">${math('<msqrt>' + tall + '</msqrt>')}</div>`
          + `<div id="paren" class="eqn">${math('<mrow><mo>(</mo>' + tall + '<mo>)</mo></mrow>')}</div>`;
        document.querySelector('article').prepend(box);
    }"""
    )
    small, tall = radical_ink_height(page, "#small"), radical_ink_height(page, "#tall")
    assert small > 8 and tall > 2 * small, (small, tall)
    paren = page.locator("#paren mo").first.bounding_box()["height"]
    assert paren > 2.5 * page.locator("#paren mi").first.bounding_box()["height"]


def radical_ink_height(page, selector: str) -> int:
    """The height of the ink left of a square root's content: its radical sign's, not the content's."""
    box = page.locator(f"{selector} msqrt").bounding_box()
    content = page.locator(f"{selector} msqrt > *").first.bounding_box()
    clip = {"x": box["x"], "y": box["y"] - 2, "width": max(2, content["x"] - box["x"]), "height": box["height"] + 4}
    width, height, pixel = png_pixels(page.screenshot(clip=clip))
    inked = [y for y in range(height) if any(sum(pixel(x, y)) < 450 for x in range(width))]
    return inked[-1] - inked[0] + 1 if inked else 0


def test_wide_display_math_scrolls_in_its_box_and_no_page_is_wider_than_a_phone(site, browser):
    _, html_dir, base = site
    with watched_context(browser, **PHONE) as watched:
        page = watched.page
        for url in page_urls(html_dir):
            for tab in ("pytorch", "jax"):
                page.goto(f"{base}{url}?tab={tab}")
                assert page.evaluate("document.documentElement.scrollWidth") <= 390, (url, tab)
        page.goto(base + "chapter_demo/first.html")
        # a display equation far wider than the screen: scrolls in its box from its left edge
        page.evaluate(
            """() => { const m = document.querySelector('#eq_relu math');
                       m.innerHTML = m.innerHTML + '<mo>+</mo><mi>x</mi>'.repeat(60); }"""
        )
        scroller = page.locator("#eq_relu math")  # the formula scrolls in its own box; its number stays beside it
        assert scroller.evaluate("e => e.scrollWidth > 3 * e.clientWidth && getComputedStyle(e).overflowX === 'auto'")
        assert scroller.evaluate("e => e.scrollLeft") == 0  # shown from its left edge
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        number = page.locator("#eq_relu .eqno").bounding_box()
        assert number["x"] >= 0 and number["x"] + number["width"] <= 390
        scroller.evaluate("e => e.scrollLeft = e.scrollWidth")
        assert scroller.evaluate("e => e.scrollLeft") > 0


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_the_saved_framework_shows_from_the_first_paint_and_nothing_moves(site, browser, screen):
    """A JAX reader never sees PyTorch code, and no page shifts its layout while loading."""
    _, html_dir, base = site
    options = PHONE if screen == "phone" else {"viewport": {"width": 1366, "height": 900}}
    with watched_context(browser, **options) as watched:
        context = watched.context
        context.add_init_script(LAYOUT_SHIFT)
        context.add_init_script("localStorage.setItem('tabbook-tab', 'jax')")
        page = context.new_page()
        for url in page_urls(html_dir):
            page.goto(base + url)
            page.wait_for_load_state("load")
            page.wait_for_timeout(300)
            shift = page.evaluate("window.__layoutShift")
            assert shift < 0.05, (url, shift)
        # the panes are chosen by the page's <head>: with tabbook.js blocked, JAX still shows
        context.route("**/tabbook.js", lambda route: route.fulfill(status=200, body="", content_type="text/javascript"))
        page.goto(base + "chapter_demo/first.html")
        assert visible_tabs(page) == ["jax"] * 3
        assert page.locator(".tabbar .tab", has_text="JAX").first.evaluate("b => getComputedStyle(b).fontWeight") == "600"
        assert page.locator(".tabbar .tab", has_text="PyTorch").first.evaluate("b => getComputedStyle(b).fontWeight") == "400"


def test_a_link_with_tab_applies_to_the_visit_only(site, browser):
    _, _, base = site
    with watched_context(browser) as watched:
        page = watched.page
        page.goto(base + "chapter_demo/first.html")
        page.locator(".tabgroup").first.get_by_role("tab", name="JAX").click()
        page.goto(base + "chapter_demo/first.html?tab=mxnet")
        assert visible_tabs(page) == ["mxnet"] * 3
        page.get_by_role("link", name="Next 1.2 Second Steps").click()
        page.wait_for_url("**/second.html")
        assert page.evaluate("document.documentElement.dataset.tab") == "mxnet"  # the rest of this visit
        assert page.evaluate("localStorage.getItem('tabbook-tab')") == "jax"  # the saved choice is untouched
        other = watched.context.new_page()  # a new visit
        other.goto(base + "chapter_demo/first.html")
        assert visible_tabs(other) == ["jax"] * 3
        # choosing a tab on the linked visit saves it, as any choice
        page.goto(base + "chapter_demo/first.html")
        page.locator(".tabgroup").first.get_by_role("tab", name="PyTorch").click()
        assert page.evaluate("localStorage.getItem('tabbook-tab')") == "pytorch"
        page.reload()
        assert visible_tabs(page) == ["pytorch"] * 3


def test_tabs_follow_the_aria_tabs_pattern(site, watched):
    _, _, base = site
    page = watched.page
    page.goto(base + "chapter_demo/first.html")
    tabs = page.locator(".tabbar [role=tab]")
    assert tabs.count() == 9
    # one Tab-key stop per group: the selected tab
    assert page.eval_on_selector_all(".tabbar [role=tab]", "ts => ts.filter(t => t.tabIndex === 0).map(t => t.textContent)") == ["PyTorch"] * 3
    for i in range(tabs.count()):
        tab = tabs.nth(i)
        panel = page.locator("#" + tab.get_attribute("aria-controls"))
        assert panel.get_attribute("role") == "tabpanel"
        assert panel.get_attribute("aria-labelledby") == tab.get_attribute("id")
    # Tab from the first tab bar leaves it: the next stop is not another tab of the same bar
    first = page.locator(".tabgroup").first
    first.get_by_role("tab", name="PyTorch").focus()
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.textContent") == "JAX"
    assert visible_tabs(page) == ["jax"] * 3
    page.keyboard.press("Home")
    assert page.evaluate("document.activeElement.textContent") == "PyTorch"
    page.keyboard.press("ArrowLeft")
    assert visible_tabs(page) == ["jax"] * 3
    # every group follows, and its one stop moves with it
    assert page.eval_on_selector_all(".tabbar [role=tab]", "ts => ts.filter(t => t.tabIndex === 0).map(t => t.textContent)") == ["JAX"] * 3
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('role')") != "tab"


def test_the_drawer_closes_on_escape_and_outside_and_holds_focus_only_while_open(site, browser):
    _, _, base = site
    with watched_context(browser, **PHONE) as watched:
        page = watched.page
        page.goto(base + "chapter_demo/first.html")
        toggle = page.get_by_role("button", name="Contents")
        # closed: its links are out of the focus order and of the accessibility tree
        toggle.focus()
        for _ in range(6):
            page.keyboard.press("Tab")
            assert not page.evaluate("!!document.activeElement.closest('#sidebar')")
        assert page.get_by_role("navigation", name="Book contents").count() == 0
        toggle.click()
        page.wait_for_timeout(300)
        assert toggle.get_attribute("aria-expanded") == "true"
        assert page.evaluate("!!document.activeElement.closest('#sidebar')")
        # open: Tab cycles through the drawer and its button, never the page behind it
        for _ in range(12):
            page.keyboard.press("Tab")
            assert page.evaluate("!!document.activeElement.closest('#sidebar, .menu-toggle')")
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
        assert toggle.get_attribute("aria-expanded") == "false"
        assert page.evaluate("document.activeElement.classList.contains('menu-toggle')")
        assert page.locator("#sidebar").bounding_box()["x"] < -100
        # a tap outside closes it, and does nothing else
        toggle.click()
        page.wait_for_timeout(300)
        page.mouse.click(370, 600)
        page.wait_for_timeout(300)
        assert toggle.get_attribute("aria-expanded") == "false"
        assert page.url.endswith("chapter_demo/first.html")


def test_copy_buttons_show_on_touch_screens_and_work_from_the_keyboard(site, browser):
    _, _, base = site
    with watched_context(browser, **PHONE) as watched:
        page = watched.page
        page.goto(base + "chapter_demo/first.html")
        assert page.evaluate("matchMedia('(hover: none)').matches")
        button = page.locator(".tabpane[data-tab=pytorch] .copy-button").first
        assert button.evaluate("b => getComputedStyle(b).opacity") == "1"
    with watched_context(browser, permissions=["clipboard-read", "clipboard-write"]) as watched:
        page = watched.page
        page.goto(base + "chapter_demo/first.html")
        page.locator(".tabgroup").first.get_by_role("tab", name="PyTorch").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Copy code"
        page.wait_for_function("getComputedStyle(document.activeElement).opacity === '1'")
        page.keyboard.press("Enter")
        assert page.evaluate("navigator.clipboard.readText()") == 'print("hello from pytorch")'


def test_the_first_tab_stop_skips_to_the_content(site, watched):
    """A keyboard reader's first Tab reaches a "Skip to the content" link; following it, the next stops are
    the page's own (its notebooks, then its first code tab), not the top bar's and the contents' links."""
    _, _, base = site
    page = watched.page

    def tabs_to_the_first_code_tab() -> int:
        for presses in range(1, 200):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.getAttribute('role') === 'tab'"):
                return presses
        raise AssertionError("Tab never reached a code tab")

    page.goto(base + "chapter_demo/first.html")
    page.keyboard.press("Tab")
    skip = page.evaluate("(() => { const e = document.activeElement, r = e.getBoundingClientRect(); return [e.className, e.textContent, r.top >= 0 && r.bottom <= innerHeight]; })()")
    assert skip == ["skip-link", "Skip to the content", True]  # shown where the keyboard is
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.id === 'content'")
    skipped = 2 + tabs_to_the_first_code_tab()
    page.goto(base + "chapter_demo/first.html")
    walked = 1 + tabs_to_the_first_code_tab()  # (Tab past the skip link, through the top bar and the contents)
    assert skipped <= 8 < walked, (skipped, walked)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations_on_any_page(site, browser, scheme):
    """axe-core (npm, pinned; installed by `make setup`) on every page, in both colour schemes."""
    _, html_dir, base = site
    assert AXE.is_file(), f"{AXE} is missing: run 'make setup' (scripts/vendor-js.sh installs axe-core)"
    for options in ({"viewport": {"width": 1366, "height": 900}}, PHONE):
        with watched_context(browser, color_scheme=scheme, **options) as watched:
            page = watched.page
            for url in page_urls(html_dir):
                page.goto(base + url)
                page.add_script_tag(path=str(AXE))
                violations = page.evaluate(
                    """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
                        .filter(v => v.impact === "serious" || v.impact === "critical")
                        .map(v => `${v.id}: ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`)"""
                )
                assert violations == [], (url, options["viewport"]["width"], violations)


def test_plots_in_hidden_tabs_load_only_when_shown(site, watched):
    """(The pages' weight without their images: test_render.test_page_weight_stays_under_budget.)"""
    _, _, base = site
    page = watched.page
    page.goto(base + "chapter_demo/first.html")
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    outputs = [url for url in watched.requests if "/_static/outputs/" in url]
    assert len(outputs) == 2  # the PyTorch tab's SVG and PNG (the other tabs' plots are the same files, not yet asked for)
    page.locator(".tabgroup").first.get_by_role("tab", name="JAX").click()
    images = page.locator(".tabpane[data-tab=jax] .output.image img")
    images.last.scroll_into_view_if_needed()
    page.wait_for_function("[...document.querySelectorAll('.tabpane[data-tab=jax] .output.image img')].every(i => i.complete && i.naturalWidth > 0)")


def test_dark_mode_follows_the_system_until_the_toggle_says_otherwise(site, browser):
    _, _, base = site
    with watched_context(browser, color_scheme="dark") as watched:
        page = watched.page
        page.goto(base + "chapter_demo/first.html")
        background = "getComputedStyle(document.body).backgroundColor"
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert page.evaluate(background) == "rgb(13, 17, 23)"
        toggle = page.get_by_role("button", name="Dark mode")
        assert toggle.get_attribute("aria-pressed") == "true"
        toggle.click()
        assert page.evaluate(background) == "rgb(255, 255, 255)"
        assert toggle.get_attribute("aria-pressed") == "false"
        page.goto(base + "chapter_demo/second.html")  # the choice is saved
        assert page.evaluate(background) == "rgb(255, 255, 255)"


def test_on_this_page_shows_from_1024_px_and_follows_the_reader(site, browser):
    _, _, base = site
    for width, shown in ((1024, True), (1023, False)):
        with watched_context(browser, viewport={"width": width, "height": 700}) as watched:
            page = watched.page
            page.goto(base + "chapter_demo/first.html")
            toc = page.get_by_role("navigation", name="On this page")
            assert toc.is_visible() == shown, width
            if shown:
                content, aside = page.locator("main").bounding_box(), toc.bounding_box()
                assert aside["x"] >= content["x"] + content["width"] - 1  # beside the text, not over it
                current = "() => document.querySelector('.localtoc a[aria-current=true]')?.textContent"
                page.evaluate("document.getElementById('hidden-things').scrollIntoView()")
                page.wait_for_function(current + " === '1.1.2 Hidden Things'")
                page.evaluate("document.getElementById('subsec_activation').scrollIntoView()")
                page.wait_for_function(current + " === '1.1.1 Activation Functions'")


def test_the_text_column_stays_put_between_pages_with_and_without_sections(site, browser):
    _, _, base = site
    with watched_context(browser, viewport={"width": 1366, "height": 800}) as watched:
        page = watched.page
        boxes = {}
        for name in ("chapter_demo/index.html", "chapter_demo/first.html"):
            page.goto(base + name)
            boxes[name] = page.locator("main").bounding_box()
        assert page.get_by_role("navigation", name="On this page").is_visible()  # first.html has sections
        page.goto(base + "chapter_demo/index.html")
        assert page.get_by_role("navigation", name="On this page").count() == 0  # index.html has none
    index, first = boxes["chapter_demo/index.html"], boxes["chapter_demo/first.html"]
    assert (index["x"], index["width"]) == (first["x"], first["width"])


def test_search_lists_each_place_once_and_arrow_keys_move_through_it(site, watched):
    page, results = search(site, watched, "steps")
    urls = results.evaluate_all("links => links.map(a => a.href)")
    assert len(urls) == len(set(urls)) >= 2
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.href") == urls[0]
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.href") == urls[1]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.id") == "search-input"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(urls[1])


# -- references, launch links (issue 12 items 4 and 6) ------------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The numbering fixture book with [publish] settings, built and served: (html dir, base URL)."""
    import shutil

    from tabbook.config import load_config

    root = tmp_path_factory.mktemp("published") / "book"
    shutil.copytree(Path(__file__).resolve().parent / "fixtures" / "numbering", root)
    with open(root / "config.ini", "a", encoding="utf-8") as config:
        config.write("\n[publish]\nnotebooks_repo = someone/numbering-notebooks\nsource_repo = someone/numbering\n")
        config.write("discussions = chapter_a/first https://discuss.example.org/t/7\n")
    html_dir = cli.html(load_config(root), run=False)
    with serve_directory(html_dir) as base:
        yield html_dir, base


@pytest.mark.browser
def test_a_back_link_on_the_references_page_lands_on_the_citation(published, browser):
    _html, base = published
    with watched_context(browser, viewport={"width": 1280, "height": 900}) as watched:
        page = watched.page
        page.goto(base + "references.html")
        entry = page.locator("#bib-Lovelace\\.1843")
        assert "https://doi.org/10.1000/ada.1843" in entry.inner_text()
        entry.locator(".backlinks a", has_text="1.2").click()
        page.wait_for_url("**/chapter_a/page.html#cite-48")
        citation = page.locator("#cite-48")
        assert citation.is_visible() and "Lovelace" in citation.inner_text()
        assert page.evaluate("document.querySelector('#cite-48').getBoundingClientRect().top") < 900


@pytest.mark.browser
def test_launch_discussion_and_edit_links_show_per_framework(published, browser):
    _html, base = published
    with watched_context(browser, viewport={"width": 1280, "height": 900}) as watched:
        page = watched.page
        page.goto(base + "chapter_a/first.html")
        links = page.locator(".page-links")
        assert links.is_visible()
        assert page.locator(".page-links a.discuss").get_attribute("href") == "https://discuss.example.org/t/7"
        assert page.locator(".page-links a.edit").get_attribute("href") == "https://github.com/someone/numbering/edit/main/chapter_a/first.md"
        page.goto(base + "chapter_a/page.html")
        assert page.locator(".page-links a.discuss").count() == 0  # no discussion configured for this page
