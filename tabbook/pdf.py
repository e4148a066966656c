"""Executed notebooks -> one PDF book per framework: ``_build/pdf/<name>-<tab>.pdf``.

The PDF is printed by the headless Chromium the HTML book already uses, from a
print version of the book: one HTML document per framework
(``_build/pdf/<name>-<tab>.html``, template ``static/templates/print.html``,
style ``static/css/print.css``). It holds a title page, a table of contents,
every page of the book with that framework's code and outputs only, and one
bibliography: the book's references page (a ``.. bibliography::`` block) where it
has one, else a list at the end. Its body is made by the HTML book's own ``Site``
(numbers from ``tabbook.book``, MathML, highlighted code, SVG plots kept as
vectors), with these differences: every anchor is made unique in the whole book,
references, citations and the bibliography's back-links point inside the
document, long outputs are never collapsed, and the page pieces come in their
print form (``cells.html`` with ``print_view``: no "#" links beside headings).

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

from tabbook import assets
from tabbook.artifacts import pdf_path
from tabbook.assets import tab_title
from tabbook.book import Book, Page
from tabbook.browser import launch_chromium
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write
from tabbook.markdown import highlight
from tabbook.outputs import OutputRenderer
from tabbook.parse import Bibliography as BibliographyBlock
from tabbook.render import PageResolver, Site

# Paged.js lays out a long book in seconds; this bounds a layout that never finishes.
LAYOUT_TIMEOUT_MS = 600_000


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


def bibliography_page(book: Book) -> Page | None:
    """The book's references page (a ``.. bibliography::`` block), which the print book prints as its bibliography."""
    for page in book.pages:
        if any(isinstance(block, BibliographyBlock) for cell in page.document.cells for block in cell.blocks):
            return page
    return None


class PrintResolver(PageResolver):
    """References point inside the one print document; citations to its one bibliography."""

    def __init__(self, site, page, bibliography_anchor: str):
        super().__init__(site, page)
        self.bibliography_anchor = bibliography_anchor

    def link(self, target) -> str:
        return f"#{target.anchor}"

    def cite_anchor(self, line: int) -> str:
        return f"{page_prefix(self.page)}--cite-{line}"

    def reference_link(self, key: str) -> str:
        return f"#{self.bibliography_anchor}-{key}"


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
        # the page pieces in their print form (no "#" links beside headings)
        self.cells = self.env.get_template("cells.html").make_module({"print_view": True})
        self.files_dir = files_dir  # where the outputs' image files go (SVG stays vector in the PDF)
        # A book with a references page prints it as its one bibliography; any other gets one at its end.
        self.bibliography_page = bibliography_page(book)
        self.bibliography_anchor = "bib" if self.bibliography_page else "ref"

    def highlight_code(self, source: str) -> str:
        return highlight(source, "python", every_token=True)  # Paged.js repeats lines of long text nodes it splits

    def toc_html(self, toc, page: Page) -> str:
        # the print book's own table of contents, at its start, lists every page
        return ""

    def page_html(self, page: Page, renderer: OutputRenderer) -> tuple[str, list[str]]:
        """One page of the book as a fragment of the print document, and the keys it cites."""
        resolver = PrintResolver(self, page, self.bibliography_anchor)
        content = self.content_html(page, resolver, self.outputs_of(page), renderer)
        # every image loads before the layout (lazy ones would never load in a print)
        content = keep_code_spaces(content).replace(' loading="lazy"', "")
        # figures are files next to the page's source
        base = page.source.parent
        content = _RELATIVE_SRC.sub(lambda m: f'{m.group(1)}{(base / m.group(2)).resolve().as_uri()}"', content)
        return content, resolver.cited

    def citation_link(self, citation, page: Page) -> str:
        return f"#{page_prefix(citation.page)}--cite-{citation.line}"

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
        bibliography = self.book.bibliography
        # the references page already is the bibliography: no second list at the end
        shown = [] if self.bibliography_page else cited
        references = [(key, Markup(bibliography.reference_html(key))) for key in sorted(shown, key=bibliography.sort_key)]
        project = self.config.project
        return self.print_template.render(
            title=self.book.title,
            author=project.get("author", ""),
            release=project.get("release", ""),
            tab_title=tab_title(self.tab),
            tab_count=len(self.config.tabs),
            tab_titles=", ".join(map(tab_title, self.config.tabs[:-1])) + f" and {tab_title(self.config.tabs[-1])}",
            css=Markup(assets.style_sheet("print.css")),
            pagedjs=assets.vendored(assets.PAGED_JS).as_uri(),
            toc=toc,
            pages=pages,
            references=references,
        )


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


def build_pdfs(config, book: Book, tabs=None, keep_going: bool = False, out=None) -> tuple[list[Path], list]:
    """Write ``_build/pdf/<name>-<tab>.pdf`` for each tab from ``_build/eval``; execute nothing.

    With ``keep_going`` unresolved references print as ``??``. Returns the PDFs
    written and those references."""
    from playwright.sync_api import sync_playwright

    out = out or sys.stdout
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
    return written, broken
