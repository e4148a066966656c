"""Outputs are untrusted: sanitized before they reach a page (tabbook/sanitize.py, OutputRenderer).

The browser test builds a real page from a notebook that emits known XSS
payloads and loads it in headless Chromium: no payload may run, nothing may be
loaded from elsewhere, and a pandas table must still render.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tabbook import cli
from tabbook.browser import CHROMIUM, CHROMIUM_ARGS, serve_directory
from tabbook.outputs import OutputRenderer
from tabbook.sanitize import clean, clean_markdown

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<svg onload=alert(1)>",
        "<svg><script>alert(1)</script></svg>",
        "<a href='javascript:alert(1)'>x</a>",
        "<a href=' JaVaScRiPt:alert(1)'>x</a>",
        "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
        "<div style='background:url(javascript:alert(1))'>x</div>",
        "<object data='javascript:alert(1)'></object>",
        "<embed src='javascript:alert(1)'>",
        "<details open ontoggle=alert(1)>",
        "<svg><a xlink:href='javascript:alert(1)'><text>x</text></a></svg>",
        "<svg><animate onbegin=alert(1) attributeName=x dur=1s /></svg>",
        "<math><mi xlink:href='javascript:alert(1)'>x</mi></math>",
        "<form action='javascript:alert(1)'><button formaction='javascript:alert(1)'>x</button></form>",
        "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    ],
)
def test_active_content_is_removed(payload):
    cleaned = clean(payload).lower()
    for marker in ("<script", "alert", "javascript", "onload", "onerror", "ontoggle", "onbegin", "<iframe", "<object", "<embed", "<meta", "srcdoc"):
        assert marker not in cleaned, (payload, cleaned)


def test_external_resources_are_removed():
    cleaned = clean(
        "<img src='http://evil.example/x.png'><style>@import url(http://evil.example/x.css)</style>"
        "<p style='background-image: url(http://evil.example/y.png)'>p</p>"
        "<svg><use href='http://evil.example/s.svg#a'/><image href='http://evil.example/z.png'/></svg>"
    )
    assert "evil.example" not in cleaned
    assert "<p>p</p>" in cleaned


def test_tables_styles_data_images_mathml_and_plot_svg_are_kept():
    table = '<table border="1"><thead><tr style="text-align: right;"><th>a</th></tr></thead><tbody><tr><td>1.5</td></tr></tbody></table>'
    assert clean(table) == table.replace("text-align: right;", "text-align:right")
    png = '<img src="data:image/png;base64,iVBORw0KGgo=" alt="plot">'
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in clean(png)
    math = '<math display="block"><mrow><msup><mi>x</mi><mn>2</mn></msup></mrow></math>'
    assert clean(math) == math
    svg = (
        '<svg width="240" viewBox="0 0 240 120"><defs><clipPath id="p0"><rect x="10" y="10"></rect></clipPath></defs>'
        '<g clip-path="url(#p0)" style="fill:#fff;stroke:#1f77b4"><path id="l1" d="M 10 110 L 230 10"></path></g>'
        '<use xlink:href="#l1"></use></svg>'
    )
    # kept, with every id and every reference to one prefixed (an output's ids never clash with the page's)
    assert clean(svg) == svg.replace('id="', 'id="output-').replace("#p0", "#output-p0").replace("#l1", "#output-l1")


def test_markdown_outputs_are_rendered_and_cleaned():
    html = clean_markdown("**bold** [link](javascript:alert(1)) <img src=x onerror=alert(1)>")
    assert "<strong>bold</strong>" in html
    assert "onerror" not in html and 'href="javascript' not in html


def test_output_renderer_sanitizes_html_svg_and_markdown_and_escapes_image_data():
    renderer = OutputRenderer(collapse_lines=10)
    html = renderer.render(
        [
            {"output_type": "display_data", "data": {"text/html": "<b>ok</b><script>alert(1)</script>"}, "metadata": {}},
            {"output_type": "display_data", "data": {"image/svg+xml": "<svg onload='alert(2)'><rect/></svg>"}, "metadata": {}},
            {"output_type": "display_data", "data": {"text/markdown": "<img src=x onerror=alert(3)>"}, "metadata": {}},
            {"output_type": "display_data", "data": {"image/png": 'AAAA" onerror="alert(4)'}, "metadata": {}},
        ]
    )
    assert "<b>ok</b>" in html
    # an SVG becomes a file of the site (shown by <img>), sanitized all the same
    [svg] = [data for name, data in renderer.files.items() if name.endswith(".svg")]
    assert svg == b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><rect></rect></svg>'
    assert "<script" not in html and "onload" not in html and 'onerror="' not in html


# -- in a real browser ---------------------------------------------------------------


def _make_book():
    spec = importlib.util.spec_from_file_location("html_fixture_make_book", FIXTURES / "html" / "make_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_book


@pytest.mark.browser
def test_no_payload_runs_in_the_browser_and_the_table_renders(tmp_path):
    import playwright.sync_api as playwright_api

    config = _make_book()(tmp_path / "book", FIXTURES / "xss")
    html_dir = cli.html(config, run=False)
    page_html = (html_dir / "chapter_outputs" / "outputs.html").read_text()
    assert page_html.count('<div class="output html">') >= 15  # every payload cell was rendered
    dialogs, markers, requests, errors = [], [], [], []
    with serve_directory(html_dir) as base, playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("console", lambda msg: markers.append(msg.text) if "XSS-RAN" in msg.text else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{base}/chapter_outputs/outputs.html")
        page.wait_for_load_state("load")
        for selector in ("#xss-link", "#xss-svg-link", "#xss-button", "details summary"):
            for element in page.query_selector_all(selector):
                element.click()
        page.keyboard.press("Tab")
        page.wait_for_timeout(1200)  # animations (onbegin) and a meta refresh would have fired by now
        table = page.locator(".output.html table")
        rows = table.locator("tbody tr").count()
        cells = table.locator("tbody tr").nth(1).locator("td").all_inner_texts()
        header_visible = table.locator("thead th").nth(2).is_visible()
        copy_buttons = page.locator(".copy-button").count()  # added by the page's own script
        url_after = page.url
        browser.close()
    assert dialogs == []
    assert markers == []
    assert errors == []
    foreign = [url for url in requests if urlparse(url).hostname != "127.0.0.1" and not url.startswith("data:")]
    assert foreign == []
    assert url_after.endswith("/chapter_outputs/outputs.html")
    assert rows == 3 and cells == ["2", "0.5207", "0.8042"] and header_visible
    assert copy_buttons >= 19  # the page's own script still ran, once per code cell
