"""The tool's own files a site serves (tabbook.assets): style sheets, lengths."""

from __future__ import annotations

import pytest

from tabbook import assets


@pytest.mark.parametrize("name", ["tabbook.css", "slides.css", "print.css"])
def test_style_sheets_are_served_without_comments_and_keep_every_rule(name):
    source = (assets.STATIC / "css" / name).read_text(encoding="utf-8")
    served = assets.style_sheet(name)
    highlighting = [assets.pygments_css()] + ([assets.pygments_css('[data-theme="dark"] .highlight', "github-dark")] if name == "tabbook.css" else [])
    assert "/*" not in served and "*/" not in served
    # every rule stays: as many blocks as the sheet and the highlighting have
    assert served.count("}") == source.count("}") + sum(css.count("}") for css in highlighting)
    assert len(served) < len(source) + sum(map(len, highlighting))


def test_the_page_sheet_keeps_the_rules_pages_rely_on():
    served = assets.style_sheet("tabbook.css")
    for rule in (":root {", '[data-theme="dark"] {', ".highlight .k", '[data-theme="dark"] .highlight .k', ".d2l-note"):
        assert rule in served
