"""Executed notebooks -> the HTML book under ``_build/html``.

Each page walks its source's ``Document`` (``tabbook.parse``), numbered by
``tabbook.book``: shared text once, and every run of code cells and tab prose
as one tab group. Code cells get their outputs from the executed notebooks
(``_build/eval/<tab>/<name>.ipynb``) by cell id, through
``tabbook.notebooks.attach_outputs`` (the one way outputs are attached). The
page layout and every block's markup are Jinja2 templates
(``tabbook/static/templates``); behaviour in the browser (tab switching, copy buttons,
search) is ``tabbook/static/js/tabbook.js``; math is MathML made at build time, so the
book needs no network.

The whole site is rendered in memory first and then replaces ``_build/html``
in one rename: a failed build leaves the previous one untouched.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import posixpath
import re
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from markupsafe import Markup

from tabbook import sanitize
from tabbook.book import Book, Page, load_book, report
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write, read_notebook_json
from tabbook.markdown import Markdown, highlight
from tabbook.outputs import DEFAULT_MAX_OUTPUT_MB, cut_output
from tabbook.parse import CODE, TAB_TEXT, TEXT, Bibliography, Figure, Heading, Prose, RawHtml, Table, Toc

TAB_TITLES = {"pytorch": "PyTorch", "mxnet": "MXNet", "jax": "JAX", "tensorflow": "TensorFlow"}
STATIC_DIR = "_static"
NOTEBOOK_DIR = "notebooks"
OUTPUT_DIR = f"{STATIC_DIR}/outputs"
# The OpenType math font MathML is set in, served by the site itself (scripts/system-deps.sh installs it).
MATH_FONT = Path("/usr/share/texmf/fonts/opentype/public/lm-math/latinmodern-math.otf")
MATH_FONT_URL = f"{STATIC_DIR}/fonts/latinmodern-math.otf"
# The images a notebook cell may carry, best first, with their files' extensions.
_IMAGE_TYPES = {"image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif"}


def tab_title(tab: str) -> str:
    return TAB_TITLES.get(tab, tab)


def _relative(url: str, from_url: str) -> str:
    """``url`` (relative to the site root) as seen from the page at ``from_url``."""
    return posixpath.relpath(url, posixpath.dirname(from_url) or ".")


# -- grouping a page's cells ---------------------------------------------------------


def cell_runs(document) -> list:
    """The page's cells in source order: a shared text cell alone, and each run
    of code cells and tab prose as one list (shown as one tab group)."""
    runs: list = []
    for cell in document.cells:
        if cell.kind == TEXT:
            runs.append(cell)
        elif runs and isinstance(runs[-1], list):
            runs[-1].append(cell)
        else:
            runs.append([cell])
    return runs


# -- outputs ------------------------------------------------------------------------

_SVG_TAG = re.compile(r"<svg\b[^>]*>", re.S)
_SVG_LENGTH = r'\s{}\s*=\s*["\']\s*([0-9.]+)\s*(px|pt)?\s*["\']'
_POINTS_TO_PIXELS = 4 / 3


def svg_size(svg: str) -> tuple[int, int] | None:
    """The pixel size an SVG file asks for (matplotlib writes points), or None."""
    tag = _SVG_TAG.search(svg)
    if not tag:
        return None
    size = []
    for name in ("width", "height"):
        match = re.search(_SVG_LENGTH.format(name), tag.group(0))
        if not match:
            return None
        scale = _POINTS_TO_PIXELS if match.group(2) == "pt" else 1
        size.append(round(float(match.group(1)) * scale))
    return (size[0], size[1]) if all(size) else None


# The sanitizer writes HTML: a standalone SVG file needs its namespaces back.
_SVG_ROOT = re.compile(r"^<svg\b")
_SVG_NAMESPACES = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _ansi2html():
    """nbconvert's ``ansi2html`` filter, loaded from its own file.

    ``import nbconvert.filters.ansi`` first imports all of nbconvert (most of a
    second); the filter's module needs only ``re`` and ``markupsafe``.
    """
    import importlib.util

    global _ANSI2HTML
    if _ANSI2HTML is None:
        package = importlib.util.find_spec("nbconvert")
        path = Path(package.origin).parent / "filters" / "ansi.py"
        spec = importlib.util.spec_from_file_location("_tabbook_nbconvert_ansi", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _ANSI2HTML = module.ansi2html
    return _ANSI2HTML


_ANSI2HTML = None
_CARRIAGE_RETURN = re.compile(r"[^\n]*\r(?!\n)")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


class OutputRenderer:
    """Notebook outputs -> HTML. Text is escaped (ANSI colours kept); HTML and Markdown outputs
    are untrusted and sanitized (``tabbook.sanitize``); outputs over the size limit are cut.

    Images become files of the site (added to ``files``, named by content under
    ``_static/outputs``) shown by ``<img loading="lazy">``: a plot in a hidden tab
    costs nothing until its tab is shown, and an SVG loaded as an image can run
    no script (it is sanitized all the same, for a reader who opens the file
    itself). ``root`` is the way from the page to the site's root.
    """

    def __init__(self, collapse_lines: int, max_output_mb: float = DEFAULT_MAX_OUTPUT_MB, files: dict | None = None, root: str = ""):
        self.ansi2html = _ansi2html()
        self.collapse_lines = collapse_lines
        self.max_bytes = int(max_output_mb * 1e6)
        self.files = {} if files is None else files
        self.root = root

    def render(self, outputs) -> Markup:
        parts = [self.render_one(output) for output in outputs]
        return Markup("".join(part for part in parts if part))

    def render_one(self, output) -> str:
        if not isinstance(output, dict):  # a damaged notebook: show nothing rather than fail the page
            return ""
        output, _cut = cut_output(output, self.max_bytes)
        kind = output.get("output_type")
        if kind == "stream":
            # a progress bar redraws its line with "\r": show only what a terminal would end up showing
            text = _CARRIAGE_RETURN.sub("", _text(output.get("text", "")))
            return self._text_block(text, f"output stream {output.get('name', 'stdout')}")
        if kind == "error":
            traceback = "\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"])
            return self._text_block(traceback, "output error")
        if kind in ("display_data", "execute_result"):
            return self._rich(output.get("data", {}), output.get("metadata", {}))
        return ""

    def _rich(self, data, metadata) -> str:
        for mime in _IMAGE_TYPES:
            if mime in data:
                size = metadata.get(mime) if isinstance(metadata, dict) else None
                return self._image(mime, _text(data[mime]), size if isinstance(size, dict) else {})
        if "text/html" in data:
            return f'<div class="output html">{sanitize.clean(_text(data["text/html"]))}</div>'
        if "text/markdown" in data:
            return f'<div class="output markdown">{sanitize.clean_markdown(_text(data["text/markdown"]))}</div>'
        if "text/plain" in data:
            return self._text_block(_text(data["text/plain"]), "output result")
        return ""

    def _image(self, mime: str, value: str, metadata: dict) -> str:
        if mime == "image/svg+xml":
            svg = _SVG_ROOT.sub(_SVG_NAMESPACES, sanitize.clean(value).strip(), count=1)
            data, size = svg.encode("utf-8"), svg_size(svg)
        else:
            try:
                data = base64.b64decode(value.replace("\n", ""), validate=True)
            except ValueError:  # a damaged output: show nothing rather than fail the page
                return ""
            size = png_size(data)
        if isinstance(metadata.get("width"), int) and isinstance(metadata.get("height"), int):
            size = (metadata["width"], metadata["height"])  # a retina PNG asks for half its pixels
        name = f"{OUTPUT_DIR}/{hashlib.sha256(data).hexdigest()[:20]}.{_IMAGE_TYPES[mime]}"
        self.files[name] = data
        # width and height reserve the image's space before it loads: nothing below it moves
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        return f'<div class="output image"><img src="{html.escape(self.root + name)}" alt="Output image" loading="lazy"{dims}></div>'

    def _text_block(self, text: str, css: str) -> str:
        if not text.strip():
            return ""
        body = f'<pre class="{css}">{self.ansi2html(text.rstrip())}</pre>'
        lines = text.rstrip().count("\n") + 1
        if lines > self.collapse_lines:
            return f'<details class="long-output"><summary>Output: {lines} lines (click to show)</summary>{body}</details>'
        return body


# -- citations ----------------------------------------------------------------------


class Citations:
    """Author-year citations and reference lists from the book's BibTeX data."""

    def __init__(self, bibliography):
        # Plugins passed as classes: pybtex's lookup by name scans every installed
        # package's entry points, a third of a second each time.
        from pybtex.backends.html import Backend
        from pybtex.style.formatting.plain import Style
        from pybtex.style.labels.number import LabelStyle
        from pybtex.style.names.plain import NameStyle
        from pybtex.style.sorting.none import SortingStyle

        self.entries = bibliography.entries
        self.style = Style(label_style=LabelStyle, name_style=NameStyle, sorting_style=SortingStyle)
        self.backend = Backend()
        self._formatted: dict[str, str] = {}

    @staticmethod
    def _plain(latex: str) -> str:
        from pybtex.richtext import Text

        return str(Text.from_latex(latex))

    def authors(self, key: str) -> str:
        entry = self.entries[key]
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [self._plain(" ".join(p.prelast_names + p.last_names)) for p in persons]
        if not names:
            return self._plain(entry.fields.get("title", key))
        if len(names) == 1:
            return names[0]
        if len(names) == 2:
            return f"{names[0]} and {names[1]}"
        return f"{names[0]} et al."

    def year(self, key: str) -> str:
        return self.entries[key].fields.get("year", "n.d.")

    def cite(self, keys: list[str], textual: bool) -> str:
        """``(Nair and Hinton, 2010; Cybenko, 1989)`` or ``Cybenko (1989)``, each linked to its reference."""
        links = []
        for key in keys:
            anchor = html.escape(f"ref-{key}")
            authors, year = html.escape(self.authors(key)), html.escape(self.year(key))
            if textual:
                links.append(f'<a class="cite" href="#{anchor}">{authors} ({year})</a>')
            else:
                links.append(f'<a class="cite" href="#{anchor}">{authors}, {year}</a>')
        return ", ".join(links) if textual else "(" + "; ".join(links) + ")"

    def reference(self, key: str) -> Markup:
        """The formatted entry, with a link to its DOI or URL when the BibTeX has one."""
        if key not in self._formatted:
            text = self.style.format_entry(key, self.entries[key]).text.render(self.backend)
            url = self.url(key)
            if url:
                text += f' <a class="bib-link" href="{html.escape(url)}" rel="noopener">{html.escape(url)}</a>'
            self._formatted[key] = text
        return Markup(self._formatted[key])

    def url(self, key: str) -> str | None:
        fields = self.entries[key].fields
        doi = fields.get("doi", "").strip()
        if doi:
            return doi if doi.startswith("http") else f"https://doi.org/{doi}"
        url = fields.get("url", "").strip()
        return url if url.startswith(("http://", "https://")) else None

    def plain_reference(self, key: str) -> str:
        """The entry as plain text (for notebooks), with its DOI or URL."""
        from pybtex.backends.plaintext import Backend

        text = self.style.format_entry(key, self.entries[key]).text.render(Backend())
        url = self.url(key)
        return f"{text} {url}" if url else text

    def sort_key(self, key: str):
        return (self.authors(key).lower(), self.year(key), key)


# -- one page -----------------------------------------------------------------------


class PageResolver:
    """What labels and roles mean on one page (see ``tabbook.markdown.Markdown``)."""

    def __init__(self, site: Site, page: Page):
        self.site = site
        self.book = site.book
        self.page = page
        self.path = page.rel
        self.cited: list[str] = []
        self.anchors: set[str] = set()

    def equation(self, item):
        target = self.page.target(item)
        return target.anchor, target.number_text

    def link(self, target) -> str:
        if target.page is self.page:
            return "#" if target is target.page.targets[0] else f"#{target.anchor}"
        return target.link(self.page.url)

    def role(self, role) -> str:
        if role.name in ("cite", "citep", "citet"):
            known = [key for key in role.targets if key in self.book.bibliography.entries]
            for key in role.targets:
                if key not in known:
                    self.site.unresolved(self.path, role.line, f"unknown citation key '{key}' (not in the bibliography)")
                elif key not in self.cited:
                    self.cited.append(key)
            cited = self.site.citations.cite(known, textual=role.name == "citet") if known else ""
            broken = "".join(self.site.cells.broken_reference(key) for key in role.targets if key not in known)
            anchor = f"cite-{role.line}"
            if anchor in self.anchors:  # several citations on one line: the bibliography links to the first
                return cited + broken
            self.anchors.add(anchor)
            return f'<span class="citation" id="{anchor}">{cited}{broken}</span>'
        links = []
        for label in role.targets:
            target = self.book.labels.get(label)
            if target is None:
                self.site.unresolved(self.path, role.line, f":{role.name}: refers to the undefined label '{label}'")
                links.append(str(self.site.cells.broken_reference(label)))
                continue
            if role.name == "ref" and target.kind == "section":
                text = self.site.markdown.render_inline(target.title, target.line, PageResolver(self.site, target.page))
            else:
                text = html.escape(target.name(bare_equation=role.name == "eqref"))
            links.append(f'<a class="reference {target.kind}" href="{html.escape(self.link(target))}">{text}</a>')
        return ", ".join(links)


class Site:
    """Renders the whole book: ``render()`` returns every file of the site."""

    def __init__(self, config, book: Book, from_cache: bool = False, keep_going: bool = False):
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        self.config = config
        self.book = book
        self.markdown = Markdown()
        self.citations = Citations(book.bibliography)
        self.tabs = list(config.tabs)
        templates = Path(__file__).resolve().parent / "static" / "templates"
        self.env = Environment(
            loader=FileSystemLoader(str(templates)), autoescape=select_autoescape(["html"]), undefined=StrictUndefined
        )
        self.env.globals["tab_title"] = tab_title
        self.page_template = self.env.get_template("page.html")
        self.cells = self.env.get_template("cells.html").module
        self.eval_dir = config.build_dir / "eval"
        self.from_cache = from_cache
        self.keep_going = keep_going
        self.broken: list[SourceError] = []  # references left unresolved (keep_going)
        self.unexecuted: list[str] = []  # tab/name of the notebooks never executed
        self.stale: list[str] = []  # tab/name of the notebooks older than their source
        self._titles: dict[str, Markup] = {}
        self.output_files: dict[str, bytes] = {}  # the images of all pages' outputs (OutputRenderer)
        self._reader = None
        self.missing_files: list[str] = []  # [build] resources and [html] files that do not exist
        self._printed: dict[str, bytes] | None = None  # the PDFs and decks copied into the site

    def for_book(self, book: Book) -> Site:
        """This site for a newer reading of the same book: templates and caches
        kept, what one build collects started afresh (the live preview's next pass)."""
        import copy

        site = copy.copy(self)
        site.book = book
        site.citations = Citations(book.bibliography)
        site.broken, site.unexecuted, site.stale, site._titles = [], [], [], {}
        return site

    # -- pieces -----------------------------------------------------------------

    def title_html(self, page: Page) -> Markup:
        """A page's title as inline HTML (math included); every sidebar shows them all.

        The front page is the book's title (config ``[project] title``): its own
        heading often repeats the chapter's, and links to it must not read alike.
        """
        if page.rel not in self._titles:
            if page is self.book.root_page:
                self._titles[page.rel] = Markup(html.escape(self.config.project["title"]))
            else:
                self._titles[page.rel] = Markup(self.markdown.render_inline(page.title, 1, PageResolver(self, page)))
        return self._titles[page.rel]

    def toc_item_html(self, page: Page, current: Page, depth: int) -> str:
        number = f'<span class="secnum">{page.number_text}</span> ' if page.number else ""
        children = ""
        if depth > 1 and page.children:
            children = "<ul>" + "".join(self.toc_item_html(child, current, depth - 1) for child in page.children) + "</ul>"
        url = html.escape(_relative(page.url, current.url))
        return f'<li><a href="{url}">{number}{self.title_html(page)}</a>{children}</li>'

    def unresolved(self, path: str, line: int, message: str) -> None:
        """A reference that resolves to nothing: fatal, or shown as ?? with ``keep_going``."""
        error = SourceError(path, line, message)
        if not self.keep_going:
            raise error
        self.broken.append(error)

    def toc_html(self, toc: Toc, page: Page) -> str:
        """A ```toc``` fence: the pages it lists, with their sections down to its ``:maxdepth:``."""
        items = []
        for entry, _line in toc.entries:
            try:
                child = self.book.page_of(page.source.parent / f"{entry}.md")
            except KeyError:  # a missing page, reported by the book's checks
                continue
            items.append(self.toc_item_html(child, page, depth=toc.maxdepth or 2))
        return f'<ul class="toc-fence">{"".join(items)}</ul>\n'

    def bibliography_html(self, page: Page) -> str:
        """Every work the book cites, each with links back to where it is cited."""
        cited_at: dict[str, list[tuple[Page, int]]] = {}
        for other in self.book.pages:
            for reference in other.document.references:
                if reference.role in ("cite", "citep", "citet"):
                    for key in reference.targets:
                        places = cited_at.setdefault(key, [])
                        if key in self.citations.entries and (other, reference.line) not in places:
                            places.append((other, reference.line))
        entries = []
        for key in sorted((key for key in cited_at if key in self.citations.entries), key=self.citations.sort_key):
            backlinks = [
                (f"{_relative(other.url, page.url)}#cite-{line}", other.number_text or _strip_tags(self.title_html(other)))
                for other, line in cited_at[key]
            ]
            entries.append((key, self.citations.reference(key), backlinks))
        return str(self.cells.bibliography(entries))

    def outputs_of(self, page: Page) -> dict[str, dict]:
        """tab -> {cell id: executed cell} for the tabs that get a notebook.

        The executed notebook's outputs are attached to the notebook converted
        from the source as it is now (``tabbook.notebooks.attach_outputs``): a
        code cell whose code changed since it ran shows no outputs, and with
        ``from_cache`` (``html --no-run``) such a notebook is reported as stale.
        """
        from tabbook.notebooks import attach_outputs, notebook_dicts

        current = notebook_dicts(self.config, page.document)
        outputs = {}
        for tab, shared in current.items():
            nb = dict(shared, cells=[dict(cell) for cell in shared["cells"]])  # cells alike in all tabs are shared
            path = self.eval_dir / tab / f"{page.name}.ipynb"
            # Plain JSON: nbformat's import and validation would be most of the build time.
            executed = read_notebook_json(path) if path.is_file() else None
            if executed is None:
                if not self.from_cache:
                    raise SourceError(page.rel, None, f"no executed {tab} notebook at {path}; run `python -m tabbook run`")
                self.unexecuted.append(f"{tab}/{page.name}")
            elif attach_outputs(nb, executed):
                self.stale.append(f"{tab}/{page.name}")
            outputs[tab] = {cell["id"]: cell for cell in nb["cells"]}
        return outputs

    def text_html(self, cell, resolver: PageResolver) -> str:
        """A text cell's blocks, in order (numbers from the book, markup from the templates)."""
        page = resolver.page
        parts = []
        for block in cell.blocks:
            if isinstance(block, Prose):
                parts.append(self.markdown.render(block.text, block.line, resolver, block.code_lines, block.equations))
            elif isinstance(block, Heading):
                target = page.target(block)
                title = Markup(self.markdown.render_inline(block.title, block.line, resolver))
                parts.append(self.cells.heading(block.level, target.anchor, target.number_text, title))
            elif isinstance(block, Figure):
                target = page.target(block)
                caption = Markup(self.markdown.render_inline(block.caption, block.line, resolver))
                parts.append(self.cells.figure(target.anchor, f"Figure {target.number_text}", block.path, _strip_tags(caption), block.width, caption))
            elif isinstance(block, Table):
                target = page.target_of.get(block)
                body = Markup(self.markdown.render(block.text, block.line, resolver))
                caption = Markup(self.markdown.render_inline(block.caption or "", block.line, resolver))
                prefix = f"Table {target.number_text}" if target and block.label else ""
                parts.append(self.cells.table(target.anchor if target else "", prefix, caption, body))
            elif isinstance(block, Toc):
                parts.append(self.toc_html(block, page))
            elif isinstance(block, RawHtml):
                # the author's own HTML file, as d2lbook includes it
                parts.append((page.source.parent / block.path).read_text(encoding="utf-8"))
            elif isinstance(block, Bibliography):
                parts.append(self.bibliography_html(page))
        return "".join(str(part) for part in parts)

    def code_html(self, cell, tab: str, outputs: dict, renderer: OutputRenderer) -> str:
        if cell.hide == "cell":
            return ""
        source = cell.source_for(tab)
        code = None if cell.hide == "code" else Markup(highlight(source, "python"))
        executed = outputs.get(cell.id)
        rendered = None if cell.hide == "output" or executed is None else renderer.render(executed.get("outputs", []))
        return self.cells.code_cell(code, rendered)

    def group_html(self, cells: list, page_tabs: list[str], resolver, outputs: dict, renderer) -> str:
        panes = {}
        for tab in self.tabs:
            if tab not in page_tabs:
                panes[tab] = Markup(self.cells.missing(tab_title(tab), True))
                continue
            parts = []
            for cell in cells:
                if tab not in cell.tabs:
                    continue
                if cell.kind == TAB_TEXT:
                    parts.append(self.text_html(cell, resolver))
                elif cell.kind == CODE and cell.source_for(tab):
                    parts.append(self.code_html(cell, tab, outputs.get(tab, {}), renderer))
            panes[tab] = Markup("".join(parts) or self.cells.missing(tab_title(tab), False))
        return self.cells.tabgroup(self.tabs, self.config.default_tab, panes)

    def content_html(self, page: Page, resolver: PageResolver, outputs: dict, renderer: OutputRenderer) -> str:
        """The page's body: its text cells and tab groups, in source order."""
        page_tabs = [tab for tab in self.tabs if tab in outputs]
        parts = []
        for run in cell_runs(page.document):
            if isinstance(run, list):
                parts.append(self.group_html(run, page_tabs, resolver, outputs, renderer))
            else:
                parts.append(self.text_html(run, resolver))
        return "".join(parts)

    def render_page(self, page: Page, index: int) -> tuple[str, list]:
        """(page HTML, search index entries)."""
        outputs = self.outputs_of(page)
        resolver = PageResolver(self, page)
        url = page.url
        root = _relative("index.html", url)[: -len("index.html")]
        renderer = OutputRenderer(self.config.collapse_lines, self.config.max_output_mb, files=self.output_files, root=root)
        content = self.content_html(page, resolver, outputs, renderer)
        references = [(key, self.citations.reference(key)) for key in sorted(resolver.cited, key=self.citations.sort_key)]
        pages = self.book.pages
        context = {
            "book_title": self.config.project["title"],
            "page": page,
            "title_text": _strip_tags(self.title_html(page)),
            "content": Markup(content),
            "root": root,
            "is_front_page": page is self.book.root_page,
            "has_math": "<math" in content,
            "math_font": MATH_FONT_URL,
            "sidebar": Markup("".join(self.sidebar_item(p, page) for p in self.book.root_page.children)),
            "local_toc": self.local_toc(page),
            "prev": self.nav_link(pages[index - 1], page) if index > 0 else None,
            "next": self.nav_link(pages[index + 1], page) if index + 1 < len(pages) else None,
            "downloads": [
                (tab_title(tab), _relative(f"{NOTEBOOK_DIR}/{tab}/{page.name}.ipynb", url), tab in outputs)
                if (self.eval_dir / tab / f"{page.name}.ipynb").is_file()
                else (tab_title(tab), None, tab in outputs)
                for tab in self.tabs
            ],
            "zips": [(tab_title(tab), _relative(self.zip_name(tab), url)) for tab in self.tabs],
            "prints": [(title, pdf and _relative(pdf, url), deck and _relative(deck, url)) for title, pdf, deck in self.print_links(page)],
            "references": references,
            **self.publish_links(page, outputs),
            "tabs": self.tabs,
            "default_tab": self.config.default_tab,
            "header_links": self.config.header_links,
            "favicon": self.site_path(self.config.favicon),
            "logo": self.site_path(self.config.html_logo),
            "extra_css": [css for css in map(self.site_path, self.config.include_css) if css],
        }
        page_html = self.page_template.render(context)
        return page_html, search_entries(page, content, self.title_html(page))

    def publish_links(self, page: Page, outputs: dict) -> dict:
        """Launch links per framework, "Discuss" and "Edit on GitHub", from ``[publish]`` (none without it)."""
        publish = self.config.publish
        launch = []
        if publish.notebooks_repo:
            for tab in self.tabs:
                if tab in outputs and any(cell.kind == CODE for cell in page.document.cells):
                    where = f"{publish.notebooks_repo}/blob/{publish.notebooks_branch}/{tab}/{page.name}.ipynb"
                    launch.append((tab_title(tab), f"https://colab.research.google.com/github/{where}", f"https://studiolab.sagemaker.aws/import/github/{where}"))
        edit = f"https://github.com/{publish.source_repo}/edit/{publish.source_branch}/{page.rel}" if publish.source_repo else None
        return {"launch": launch, "discuss": publish.discussion(page.name), "edit": edit}

    def sidebar_item(self, page: Page, current: Page) -> str:
        number = f'<span class="secnum">{page.number_text}</span> ' if page.number else ""
        css = ' class="current"' if page is current else ""
        url = html.escape(_relative(page.url, current.url))
        children = "".join(self.sidebar_item(child, current) for child in page.children)
        children = f"<ul>{children}</ul>" if children else ""
        return f'<li{css}><a href="{url}">{number}{self.title_html(page)}</a>{children}</li>'

    def local_toc(self, page: Page) -> list:
        resolver = PageResolver(self, page)
        entries = []
        for target in page.targets[1:]:
            if target.kind == "section":
                title = Markup(self.markdown.render_inline(target.title, target.line, resolver))
                entries.append((target.anchor, target.number_text, title, len(target.number) - len(page.number)))
        return entries

    def nav_link(self, target: Page, current: Page) -> dict:
        return {"url": _relative(target.url, current.url), "number": target.number_text, "title": self.title_html(target)}

    def printed(self) -> dict[str, bytes]:
        """The PDFs and decks built so far (``tabbook pdf``, ``tabbook slides``), copied into the site."""
        from tabbook.pdf import printed_files

        if self._printed is None:
            self._printed = printed_files(self.config)
        return self._printed

    def print_links(self, page: Page) -> list:
        """(framework, PDF, deck) of ``page`` for each tab that has either."""
        from tabbook.pdf import print_links

        return print_links(self.config, page, self.printed())

    def zip_name(self, tab: str) -> str:
        return f"{NOTEBOOK_DIR}/{self.config.project['name']}-{tab}.zip"

    # -- the site ---------------------------------------------------------------

    def render(self) -> dict[str, bytes | str]:
        """Every file of the site: relative path -> content."""
        files: dict[str, bytes | str] = {}
        search = []
        for index, page in enumerate(self.book.pages):
            page_html, entries = self.render_page(page, index)
            files[page.url] = page_html
            search.extend(entries)
        files[f"{STATIC_DIR}/searchindex.js"] = "window.TABBOOK_SEARCH = " + json.dumps(search, ensure_ascii=False) + ";\n"
        files.update(self.output_files)
        files.update(self.static_files())
        files.update(self.figure_files())
        files.update(self.book_files())
        files.update(self.notebook_files())
        files.update(self.printed())
        return files

    def book_files(self) -> dict[str, bytes]:
        """The book's own files for the site, as d2lbook copies them: ``[build] resources``,
        the favicon, the logo and extra CSS (``[html]``). A missing one is reported, not fatal."""
        config = self.config
        root = config.root.resolve()
        paths = list(config.resource_files()) + [p for p in (config.favicon, config.html_logo, *config.include_css) if p]
        files = {}
        for path in paths:
            path = Path(path).resolve()
            if not path.is_relative_to(root):
                self.missing_files.append(f"{path} (outside the book)")
            elif not path.is_file():
                self.missing_files.append(path.relative_to(root).as_posix())
            elif not path.is_relative_to(config.build_dir.resolve()):
                files[path.relative_to(root).as_posix()] = path.read_bytes()
        return files

    def site_path(self, path) -> str | None:
        """A book file's path in the site (relative to its root), or None when there is none."""
        if path is None or not Path(path).is_file():
            return None
        return Path(path).resolve().relative_to(self.config.root.resolve()).as_posix()

    def static_files(self) -> dict[str, bytes | str]:
        from pygments.formatters import HtmlFormatter

        static = Path(__file__).resolve().parent / "static"
        css = (static / "css" / "tabbook.css").read_text(encoding="utf-8")
        css += "\n/* Pygments */\n" + HtmlFormatter(style="default").get_style_defs(".highlight")
        css += "\n/* Pygments, dark mode */\n" + HtmlFormatter(style="github-dark").get_style_defs('[data-theme="dark"] .highlight')
        if not MATH_FONT.is_file():
            raise SourceError(MATH_FONT, None, "the math font is missing: run `make setup` (it installs Debian's fonts-lmodern)")
        return {
            MATH_FONT_URL: MATH_FONT.read_bytes(),
            f"{STATIC_DIR}/tabbook.css": css,
            f"{STATIC_DIR}/tabbook.js": (static / "js" / "tabbook.js").read_text(encoding="utf-8"),
        }

    def figure_files(self) -> dict[str, bytes]:
        root = self.config.root.resolve()
        files = {}
        for page in self.book.pages:
            paths = [figure.path for figure in page.document.figures] + [path for path, _line in page.document.images]
            for name in paths:
                path = (page.source.parent / name).resolve()
                if path.is_relative_to(root) and path.is_file():  # anything else is an error of the book's checks
                    files[path.relative_to(root).as_posix()] = path.read_bytes()
        return files

    def reader_notebook(self, page: Page, path: Path) -> bytes:
        """An executed notebook as Jupyter readers download it (``tabbook.reader``)."""
        from tabbook.notebooks import notebook_json

        try:
            executed = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return path.read_bytes()
        if self._reader is None:
            from tabbook.reader import ReaderNotebooks

            self._reader = ReaderNotebooks(self.book, self.citations, self.config.publish.site_url)
        return notebook_json(self._reader.notebook(page, executed)).encode("utf-8")

    def notebook_files(self) -> dict[str, bytes]:
        """Each executed notebook for download, and a zip per tab (with the figures they show)."""
        files = {}
        figures = self.figure_files()
        for tab in self.tabs:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for page in self.book.pages:
                    path = self.eval_dir / tab / f"{page.name}.ipynb"
                    if path.is_file():
                        data = self.reader_notebook(page, path)
                        files[f"{NOTEBOOK_DIR}/{tab}/{page.name}.ipynb"] = data
                        _add_to_zip(archive, f"{page.name}.ipynb", data)
                for name, data in sorted(figures.items()):
                    _add_to_zip(archive, name, data)
            files[self.zip_name(tab)] = buffer.getvalue()
        return files


def _add_to_zip(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """A member with a fixed date (the same notebooks give the same zip) and rw-r--r-- permissions."""
    info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


_TAG = re.compile(r"<[^>]+>")
_MATH = re.compile(r"<math\b.*?</math>", re.S)
_SECTION_SPLIT = re.compile(r'<h([1-6]) id="([^"]*)">(.*?)(?:<a class="headerlink"[^>]*>#</a>)?</h\1>', re.S)


def _strip_tags(fragment: str) -> str:
    return html.unescape(_TAG.sub("", _MATH.sub("", str(fragment)))).strip()


_OUTPUTS = re.compile(r"<!--outputs-->.*?<!--/outputs-->", re.S)
_TABBAR = re.compile(r'<div class="tabbar".*?</div>', re.S)


def search_entries(page: Page, content: str, title: str) -> list[dict]:
    """The page cut at its headings: one search entry per section, as plain text (outputs and tab names left out)."""
    entries = []
    pieces = _SECTION_SPLIT.split(_TABBAR.sub(" ", _OUTPUTS.sub(" ", content)))
    # pieces: text, (level, id, heading, text)*
    title = " ".join(filter(None, [page.number_text, _strip_tags(title)]))
    entries.append({"u": page.url, "t": title, "x": " ".join(_strip_tags(pieces[0]).split())})
    for index in range(1, len(pieces), 4):
        _level, anchor, heading, text = pieces[index : index + 4]
        text = " ".join(_strip_tags(text).split())
        if anchor == page.targets[0].anchor:
            # the page's own heading: its text joins the page's entry (one hit per page, not two)
            entries[0]["x"] = " ".join(filter(None, [entries[0]["x"], text]))
            continue
        entries.append({"u": f"{page.url}#{anchor}", "t": " ".join(_strip_tags(heading).split()), "x": text})
    return [entry for entry in entries if entry["x"] or entry["t"]]


def write_site(files: dict[str, bytes | str], out_dir: Path) -> None:
    """Write the site into a fresh folder, then swap it in for ``out_dir`` at once."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".html-", dir=out_dir.parent))
    try:
        for name, data in files.items():
            atomic_write(staging / name, data)
        for path in [staging, *staging.rglob("*")]:
            # a web server running as another user must be able to read the site
            path.chmod(0o755 if path.is_dir() else 0o644)
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".html-old-{os.getpid()}"
            out_dir.rename(old)
        staging.rename(out_dir)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_html(config, jobs=None, run=True, out=None, keep_going=False) -> Path:
    """Run what is stale (unless ``run`` is False), then render the book into ``_build/html``.

    The book's problems stop the build before anything runs, all reported at
    once; with ``keep_going`` the site is built anyway (unresolved references
    shown as ``??``), the problems are listed, and the build then fails.
    """
    out = out or sys.stdout
    started, cpu_started = time.perf_counter(), time.process_time()
    book = load_book(config)
    text = report(book)
    if text:
        print(text, file=out)
    if not keep_going:
        book.raise_errors()  # a dangling reference fails now, before any notebook runs
    failed = []
    run = run and config.eval_notebook  # d2lbook's eval_notebook = False: show the code, run nothing
    if run:
        from tabbook.execute import OK, run_book

        run_started, run_cpu_started = time.perf_counter(), time.process_time()
        rows = run_book(config, jobs=jobs, out=out)
        failed = [row for row in rows if row.get("status") != OK]
        # the timing below is the HTML's own: leave the run out
        started += time.perf_counter() - run_started
        cpu_started += time.process_time() - run_cpu_started
    site = Site(config, book, from_cache=not run, keep_going=keep_going)
    files = site.render()
    html_dir = config.build_dir / "html"
    write_site(files, html_dir)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if site.missing_files:
        print(f"html: warning: files named in config.ini that do not exist were left out: {_some(sorted(set(site.missing_files)))}", file=out)
    if site.unexecuted and config.eval_notebook:
        print(f"html: warning: never executed, shown without outputs: {_some(site.unexecuted)}", file=out)
    if site.stale:
        print(f"html: warning: older than the source, shown with the outputs of unchanged cells: {_some(site.stale)}", file=out)
    print(f"html: {len(book.pages)} pages x {len(config.tabs)} tabs -> {html_dir} in {seconds:.2f} s ({cpu_seconds:.2f} s CPU)", file=out)
    if failed:
        names = ", ".join(f"{row.get('tab')}/{row.get('name')}" for row in failed)
        raise SourceError(config.build_dir / "eval" / "summary.json", None, f"the HTML was built, but these notebooks failed: {names}")
    fail_after_keep_going(config, book, site.broken, "html", out)
    return html_dir


def fail_after_keep_going(config, book: Book, broken: list[SourceError], command: str, out) -> None:
    """The end of a ``--keep-going`` build: list what was shown as ``??`` and fail if the book has errors.

    The output stays (it is what the author asked for); the exit status still says the book is not right."""
    if not book.errors:
        return
    unique = list(dict.fromkeys(str(error) for error in broken))  # each framework's print or deck meets it again
    print(f"{command}: {len(unique)} unresolved reference(s) shown as ??:", file=out)
    for error in unique:
        print(f"  {error}", file=out)
    raise SourceError(config.config_path, None, f"{command}: built with --keep-going, but the book has {len(book.errors)} error(s), listed above")


def _some(names: list[str], shown: int = 8) -> str:
    """A list of notebook names for a message, cut short when long."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more ({len(names)} notebooks)"


def add_arguments(parser) -> None:
    parser.add_argument("-j", "--jobs", type=int, default=None, help="notebooks executed at once (default: [build] jobs)")
    parser.add_argument("--no-run", action="store_true", help="render what _build/eval holds; execute nothing")
    parser.add_argument("--build-dir", type=Path, help="where executed notebooks are read and the site is written (default: [build] build_dir)")
    parser.add_argument("--keep-going", action="store_true", help="build the site despite errors in the book (unresolved references show as ??), then list them")
    parser.add_argument("--screenshots", action="store_true", help="then save screenshots of every page in every tab (desktop and phone, light and dark) under _build/screenshots")


def run_command(args) -> int:
    from tabbook.config import load_config

    config = load_config()
    if args.build_dir:
        from dataclasses import replace

        config = replace(config, build_dir=args.build_dir.resolve())
    html_dir = build_html(config, jobs=args.jobs, run=not args.no_run, keep_going=args.keep_going)
    if args.screenshots:
        shots = take_screenshots(html_dir, config.build_dir / "screenshots", config.tabs)
        print(f"screenshots: {len(shots)} under {config.build_dir / 'screenshots'}")
    return 0


# -- looking at the built book in a browser ------------------------------------------

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
        import functools
        import threading
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

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
