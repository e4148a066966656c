"""Checks on the book's HTML pages, rendered in memory from the executed notebooks, the PDFs and the decks
(what `make html` publishes, with nothing executed).

Every page renders with every framework's outputs and no unresolved reference, every link and image of
every page leads to a file of the site (and an anchor on it), and no page weighs more than the reader's
budget of 300 KB of HTML, CSS and JavaScript (plots and figures are image files, loaded lazily).
"""

from __future__ import annotations

import posixpath
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
from executed import CONFIG

from tabbook.book import load_book
from tabbook.render import Site

BOOK = load_book(CONFIG)
MAX_PAGE_BYTES = 300 * 1024
_LINK = re.compile(r'<(?:a|link)\b[^>]*?\shref="([^"]*)"')
_SOURCE = re.compile(r'<(?:img|script)\b[^>]*?\ssrc="([^"]*)"')
_STYLE_OR_SCRIPT = re.compile(r'<link\b[^>]*?rel="stylesheet"[^>]*?href="([^"]*)"|<script\b[^>]*?\ssrc="([^"]*)"')
_ID = re.compile(r'\sid="([^"]+)"')


@pytest.fixture(scope="module")
def site():
    site = Site(CONFIG, BOOK, from_cache=True)
    files = site.render()
    return site, {path: content.encode("utf-8") if isinstance(content, str) else content for path, content in files.items()}


def pages(files: dict[str, bytes]) -> dict[str, str]:
    return {page.url: files[page.url].decode("utf-8") for page in BOOK.pages}


def local(page_url: str, reference: str) -> tuple[str, str] | None:
    """(site path, fragment) of a link or source on the page, or None when it leaves the site."""
    parts = urlsplit(unescape(reference))
    if parts.scheme or parts.netloc:
        return None
    path = posixpath.normpath(posixpath.join(posixpath.dirname(page_url), parts.path)) if parts.path else page_url
    return path, parts.fragment


def test_every_page_renders_with_every_frameworks_outputs(site):
    site, files = site
    assert BOOK.errors == [], "\n".join(map(str, BOOK.errors))
    assert site.broken == []
    assert site.unexecuted == [], "run make run first"
    assert site.stale == [], "run make run first: some notebooks are older than their source"
    assert all(page.url in files for page in BOOK.pages)


def test_every_link_and_image_leads_to_a_file_and_anchor_of_the_site(site):
    _site, files = site
    anchors = {url: set(_ID.findall(text)) for url, text in pages(files).items()}
    broken = []
    for url, text in pages(files).items():
        for reference in _LINK.findall(text) + _SOURCE.findall(text):
            target = local(url, reference)
            if target is None:
                continue
            path, fragment = target
            if path not in files:
                broken.append(f"{url}: {reference} (no such file)")
            elif fragment and path in anchors and fragment not in anchors[path]:
                broken.append(f"{url}: {reference} (no such anchor)")
    assert broken == []


def test_every_page_weighs_under_300_kb_of_html_css_and_javascript(site):
    _site, files = site
    heavy = {}
    for url, text in pages(files).items():
        size = len(files[url])
        for styles, script in _STYLE_OR_SCRIPT.findall(text):
            path, _ = local(url, styles or script)
            size += len(files[path])
        if size > MAX_PAGE_BYTES:
            heavy[url] = f"{size / 1024:.0f} KB"
    assert heavy == {}
