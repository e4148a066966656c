"""The headless browser: Chromium for the PDFs, screenshots and browser tests, and a local server.

Why a module of its own: printing the PDFs (``tabbook.pdf``), photographing
pages (``tabbook html --screenshots``), the benchmarks and the tests all
look at the built book the way a reader's browser does, through the same
Chromium with the same flags, offline.
"""

from __future__ import annotations

import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tabbook.errors import SourceError

# Debian's headless Chromium (`make setup` installs it); TABBOOK_CHROMIUM names another
# Chromium or Chrome, such as the Google Chrome of GitHub's Ubuntu runners.
CHROMIUM = os.environ.get("TABBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright):
    """The headless browser that prints the PDFs and takes screenshots, or a message saying what is missing."""
    if not Path(CHROMIUM).is_file():
        raise SourceError(CHROMIUM, None, "no browser here: run `make setup` (it installs Debian's chromium), or set TABBOOK_CHROMIUM to a Chromium or Chrome")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


class serve_directory:
    """``with serve_directory(path) as url:`` a local HTTP server on 127.0.0.1 for the built book."""

    def __init__(self, directory: Path):
        self.directory = str(directory)

    def __enter__(self) -> str:
        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        handler = functools.partial(Quiet, directory=self.directory)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def page_urls(html_dir: Path) -> list[str]:
    """Every page of a built book (relative URLs), front page first."""
    pages = sorted(p.relative_to(html_dir).as_posix() for p in Path(html_dir).rglob("*.html"))
    return sorted(pages, key=lambda p: (p != "index.html", p))


# The screens every page is photographed on: (name, viewport width, height, phone?).
SCREENS = (("desktop", 1366, 900, False), ("phone", 390, 844, True))
SCHEMES = ("light", "dark")


def take_screenshots(html_dir: Path, out_dir: Path, tabs, browser=None) -> list[Path]:
    """A full-page PNG of every page in every tab, on a desktop and a phone, in light and dark mode:
    ``<out_dir>/<page>__<tab>__<screen>-<scheme>.png``.

    Uses ``browser`` (a Playwright browser) when given, else starts chromium.
    """
    if browser is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                return take_screenshots(html_dir, out_dir, tabs, browser)
            finally:
                browser.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = []
    with serve_directory(html_dir) as base:
        for screen, width, height, phone in SCREENS:
            for scheme in SCHEMES:
                # the page follows prefers-color-scheme when the reader saved no choice
                context = browser.new_context(
                    viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone, color_scheme=scheme
                )
                try:
                    page = context.new_page()
                    for url in page_urls(html_dir):
                        for tab in tabs:
                            page.goto(f"{base}{url}?tab={tab}", wait_until="load")
                            _load_lazy_images(page)
                            name = url[: -len(".html")].replace("/", "_") + f"__{tab}__{screen}-{scheme}.png"
                            page.screenshot(path=str(out_dir / name), full_page=True)
                            shots.append(out_dir / name)
                finally:
                    context.close()
    return shots


def _load_lazy_images(page) -> None:
    """Plots load as they come into view: a full-page picture needs them all now."""
    page.evaluate(
        """() => Promise.all([...document.images].filter(i => i.offsetParent !== null).map(i => {
            i.loading = "eager";
            return i.complete ? null : new Promise(done => { i.onload = i.onerror = done; });
        }))"""
    )
