"""Executed notebooks -> one PDF book per framework: ``_build/pdf/<name>-<tab>.pdf``.

The PDF is printed by the headless Chromium the HTML book already uses, from a
print version of the book: one HTML document per framework
(``_build/pdf/<name>-<tab>.html``, template ``static/templates/print.html``,
style ``static/css/print.css``). It holds a title page, a table of contents,
every page of the book with that framework's code and outputs only, and the
bibliography. Its body is made by the HTML book's own ``Site`` (numbers from
``tabbook.book``, MathML, highlighted code, SVG plots kept as vectors), with
three differences: every anchor is made unique in the whole book, references
point inside the document, and long outputs are never collapsed.

Paged.js (vendored by ``make setup`` under ``scripts/js/node_modules``, never
fetched) lays the document out in pages: page numbers, running heads, and
the table of contents' page numbers (CSS ``target-counter``). Nothing is
executed, and the browser may not reach the network: every request that is
not a local file is refused.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from markupsafe import Markup

from tabbook.book import Book, Page, load_book, report
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write
from tabbook.render import OutputRenderer, PageResolver, Site, fail_after_keep_going, launch_chromium, tab_title

ROOT = Path(__file__).resolve().parent.parent
VENDORED = ROOT / "scripts" / "js" / "node_modules"
PAGED_JS = VENDORED / "pagedjs" / "dist" / "paged.polyfill.js"
# Paged.js lays out a long book in seconds; this bounds a layout that never finishes.
LAYOUT_TIMEOUT_MS = 600_000


def vendored(path: Path) -> Path:
    """A file of the vendored browser libraries, or a clear error saying how to get it."""
    if not path.is_file():
        raise SourceError(path, None, "missing vendored browser library: run `make setup` (npm ci in scripts/js)")
    return path


def pdf_path(config, tab: str) -> Path:
    return config.build_dir / "pdf" / f"{config.project['name']}-{tab}.pdf"


def page_prefix(page: Page) -> str:
    """The part of every anchor of ``page`` that makes it unique in the whole book."""
    return re.sub(r"[^\w-]", "-", page.name)


def unique_anchors(book: Book) -> None:
    """Prefix each target's anchor with its page, as one document holds every page."""
    for page in book.pages:
        prefix = page_prefix(page)
        for target in page.targets:
            if not target.anchor.startswith(prefix + "--"):
                target.anchor = f"{prefix}--{target.anchor}"


class PrintResolver(PageResolver):
    """References point inside the one print document."""

    def link(self, target) -> str:
        return f"#{target.anchor}"


_HEADERLINK = re.compile(r'<a class="headerlink"[^>]*>#</a>')
_PRE = re.compile(r"<pre\b.*?</pre>", re.S)
_BLANK_SPAN = re.compile(r"<span\b[^>]*>([ \t\n]+)</span>")  # Pygments' whitespace tokens
_BLANK_BEFORE_SPAN = re.compile(r">([ \t\n]+)(<span\b[^>]*>)")
_BLANK_AFTER_SPAN = re.compile(r"</span>([ \t\n]+)<")


def keep_code_spaces(fragment: str) -> str:
    """Code whose spaces survive Paged.js, as plain spaces.

    A ``<pre>`` split over two pages loses its whitespace-only text nodes (the spaces,
    line breaks and indentation between highlighted tokens). So each such run joins
    the text of the token after it (or, at the end, before it): no text node is blank,
    and code copied from the PDF has ordinary spaces (no-break spaces would not run)."""

    def pre(match):
        code = _BLANK_SPAN.sub(r"\1", match.group(0))
        code = _BLANK_BEFORE_SPAN.sub(r">\2\1", code)
        return _BLANK_AFTER_SPAN.sub(r"\1</span><", code)

    return _PRE.sub(pre, fragment)
_RELATIVE_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")(?![a-zA-Z][\w+.-]*:|/|#)([^"]+)"')


class PrintSite(Site):
    """The HTML book's renderer, for one framework, in one document."""

    def __init__(self, config, book: Book, tab: str, files_dir: Path, keep_going: bool = False):
        super().__init__(config, book, from_cache=True, keep_going=keep_going)
        self.tab = tab
        self.tabs = [tab]
        self.print_template = self.env.get_template("print.html")
        self.files_dir = files_dir  # where the outputs' image files go (SVG stays vector in the PDF)

    def toc_html(self, toc, page: Page) -> str:
        # the print book's own table of contents, at its start, lists every page
        return ""

    def page_html(self, page: Page, renderer: OutputRenderer) -> tuple[str, list[str]]:
        """One page of the book as a fragment of the print document, and the keys it cites."""
        resolver = PrintResolver(self, page)
        content = self.content_html(page, resolver, self.outputs_of(page), renderer)
        # every image loads before the layout (lazy ones would never load in a print)
        content = keep_code_spaces(_HEADERLINK.sub("", content)).replace(' loading="lazy"', "")
        # figures are files next to the page's source
        base = page.source.parent
        content = _RELATIVE_SRC.sub(lambda m: f'{m.group(1)}{(base / m.group(2)).resolve().as_uri()}"', content)
        return content, resolver.cited

    def document(self) -> str:
        """The print version of the book: title page, contents, every page, bibliography."""
        # one renderer for the book; its image files are written next to the print document
        renderer = OutputRenderer(sys.maxsize, self.config.max_output_mb, files=self.output_files, root=self.files_dir.as_uri() + "/")
        pages, cited = [], []
        for page in self.book.pages:
            content, keys = self.page_html(page, renderer)
            pages.append({"name": page.name, "depth": len(page.number), "content": Markup(content)})
            cited.extend(key for key in keys if key not in cited)
        toc = [
            {"anchor": page.targets[0].anchor, "number": page.number_text, "title": self.title_html(page), "depth": len(page.number)}
            for page in self.book.pages[1:]
            if page.targets
        ]
        references = [(key, self.citations.reference(key)) for key in sorted(cited, key=self.citations.sort_key)]
        project = self.config.project
        return self.print_template.render(
            title=project.get("title", ""),
            author=project.get("author", ""),
            release=project.get("release", ""),
            tab_title=tab_title(self.tab),
            css=Markup(self.print_css()),
            pagedjs=vendored(PAGED_JS).as_uri(),
            toc=toc,
            pages=pages,
            references=references,
        )

    def print_css(self) -> str:
        from pygments.formatters import HtmlFormatter

        css = (Path(__file__).resolve().parent / "static" / "css" / "print.css").read_text(encoding="utf-8")
        return css + "\n/* Pygments */\n" + HtmlFormatter(style="default").get_style_defs(".highlight")


def print_pdf(browser, html_path: Path) -> bytes:
    """Lay ``html_path`` out with Paged.js in ``browser`` and print it; no network."""
    context = browser.new_context()
    try:
        context.route(re.compile(r"^(?!file:|data:|about:)"), lambda route: route.abort())
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(html_path.as_uri(), wait_until="load")
        try:
            page.wait_for_function("window.tabbookPrinted === true", timeout=LAYOUT_TIMEOUT_MS)
        except Exception as exc:
            raise SourceError(html_path, None, f"the page layout did not finish: {'; '.join(errors) or exc}") from None
        return page.pdf(prefer_css_page_size=True, print_background=True, outline=True, tagged=True)
    finally:
        context.close()


def build_pdfs(config, tabs=None, out=None, keep_going=False) -> list[Path]:
    """Write ``_build/pdf/<name>-<tab>.pdf`` for each tab from ``_build/eval``; execute nothing.

    As with ``html``, ``keep_going`` prints despite the book's errors (unresolved
    references show as ``??``), lists them, and then fails."""
    from playwright.sync_api import sync_playwright

    out = out or sys.stdout
    book = load_book(config)
    text = report(book)
    if text:
        print(text, file=out)
    if not keep_going:
        book.raise_errors()
    unique_anchors(book)
    written, broken = [], []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for tab in tabs or config.tabs:
                started = time.perf_counter()
                html_path = pdf_path(config, tab).with_suffix(".html")
                site = PrintSite(config, book, tab, html_path.with_suffix(".files"), keep_going)
                atomic_write(html_path, site.document())
                broken += site.broken
                for name, data in site.output_files.items():
                    atomic_write(site.files_dir / name, data)
                atomic_write(pdf_path(config, tab), print_pdf(browser, html_path))
                # (the site reads every tab's notebooks: only this tab's matter here)
                unexecuted = [name for name in site.unexecuted if name.startswith(f"{tab}/")]
                stale = [name for name in site.stale if name.startswith(f"{tab}/")]
                if unexecuted:
                    print(f"pdf: warning: never executed, printed without outputs: {', '.join(unexecuted)}", file=out)
                if stale:
                    print(f"pdf: warning: older than the source, printed with the outputs of unchanged cells only: {', '.join(stale)}", file=out)
                print(f"pdf: {pdf_path(config, tab)} in {time.perf_counter() - started:.1f} s", file=out)
                written.append(pdf_path(config, tab))
        finally:
            browser.close()
    fail_after_keep_going(config, book, broken, "pdf", out)
    return written


def add_arguments(parser) -> None:
    parser.add_argument("--tabs", help="comma-separated frameworks to print (default: every tab of config.ini)")
    parser.add_argument("--build-dir", type=Path, help="where executed notebooks are read and the PDFs written (default: [build] build_dir)")
    parser.add_argument("--keep-going", action="store_true", help="print despite errors in the book (unresolved references show as ??), then list them")


def command_config(args):
    """(config, tabs) of a ``pdf`` or ``slides`` command line: ``--build-dir`` and ``--tabs`` applied."""
    from dataclasses import replace

    from tabbook.config import load_config

    config = load_config()
    if args.build_dir:
        config = replace(config, build_dir=args.build_dir.resolve())
    if not args.tabs:
        return config, None
    tabs = [tab.strip() for tab in args.tabs.split(",") if tab.strip()]
    unknown = [tab for tab in tabs if tab not in config.tabs]
    if unknown:
        raise SourceError(config.config_path, None, f"--tabs: unknown tab(s) {', '.join(unknown)}; the book's tabs are {', '.join(config.tabs)}")
    return config, tabs


def run_command(args) -> int:
    config, tabs = command_config(args)
    build_pdfs(config, tabs, keep_going=args.keep_going)
    return 0


# -- in the HTML book ---------------------------------------------------------------


def printed_files(config) -> dict[str, bytes]:
    """The PDFs and slide decks built so far, as files of the HTML site (``pdf/``, ``slides/``)."""
    files = {}
    for folder in ("pdf", "slides"):
        base = config.build_dir / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            # the print documents are only the PDFs' sources; the decks' notebooks are for Jupyter
            if path.is_file() and not (folder == "pdf" and path.suffix != ".pdf"):
                files[f"{folder}/{path.relative_to(base).as_posix()}"] = path.read_bytes()
    return files


def print_links(config, page: Page, available) -> list[tuple[str, str | None, str | None]]:
    """(framework title, PDF url, deck url) for each tab with a PDF or a deck for ``page``, as site paths."""
    from tabbook.slides import deck_url

    links = []
    for tab in config.tabs:
        pdf = f"pdf/{pdf_path(config, tab).name}"
        deck = deck_url(tab, page)
        pdf, deck = (pdf if pdf in available else None), (deck if deck in available else None)
        if pdf or deck:
            links.append((tab_title(tab), pdf, deck))
    return links
