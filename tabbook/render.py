"""Executed notebooks -> the HTML book under ``_build/html``.

Each page walks its source's ``Document`` (``tabbook.parse``), numbered by
``tabbook.book``: shared text once, and every run of code cells and tab prose
as one tab group. Code cells get their outputs from the executed notebooks
(``_build/eval/<tab>/<name>.ipynb``) by cell id, through
``tabbook.notebooks.attach_outputs`` (the one way outputs are attached). The
page layout and every block's markup are Jinja2 templates
(``static/templates``); behaviour in the browser (tab switching, copy buttons,
search) is ``static/js/tabbook.js``; math is MathML made at build time, so the
book needs no network.

The whole site is rendered in memory first and then replaces ``_build/html``
in one rename: a failed build leaves the previous one untouched.
"""

from __future__ import annotations

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

from tabbook.book import Book, Page, load_book, report
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write
from tabbook.markdown import Markdown, highlight
from tabbook.parse import CODE, TAB_TEXT, TEXT, Figure, Heading, Prose, RawHtml, Table, Toc

TAB_TITLES = {"pytorch": "PyTorch", "mxnet": "MXNet", "jax": "JAX", "tensorflow": "TensorFlow"}
STATIC_DIR = "_static"
NOTEBOOK_DIR = "notebooks"
# The outputs a notebook cell may carry, best first.
_IMAGE_TYPES = ("image/svg+xml", "image/png", "image/jpeg", "image/gif")


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

_SVG_PROLOG = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?(<!--.*?-->\s*)*", re.S)
_SVG_ID = re.compile(r'\bid="([^"]+)"')
_SVG_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def inline_svg(svg: str, prefix: str) -> str:
    """An SVG output ready to sit inside the page: its ids made unique on the page.

    Several plots on a page (one per tab) would otherwise share matplotlib's
    clip-path ids, and a hidden tab's definitions would blank a visible plot.
    """
    svg = _SVG_PROLOG.sub("", svg)
    svg = _SVG_ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    return _SVG_REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)


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
    """Notebook outputs -> HTML. Text is escaped (ANSI colours kept); images and HTML are ours."""

    def __init__(self, collapse_lines: int):
        self.ansi2html = _ansi2html()
        self.collapse_lines = collapse_lines
        self.count = 0

    def render(self, outputs) -> Markup:
        parts = [self.render_one(output) for output in outputs]
        return Markup("".join(part for part in parts if part))

    def render_one(self, output) -> str:
        kind = output.get("output_type")
        if kind == "stream":
            # a progress bar redraws its line with "\r": show only what a terminal would end up showing
            text = _CARRIAGE_RETURN.sub("", _text(output.get("text", "")))
            return self._text_block(text, f"output stream {output.get('name', 'stdout')}")
        if kind == "error":
            traceback = "\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"])
            return self._text_block(traceback, "output error")
        if kind in ("display_data", "execute_result"):
            return self._rich(output.get("data", {}))
        return ""

    def _rich(self, data) -> str:
        self.count += 1
        for mime in _IMAGE_TYPES:
            if mime in data:
                if mime == "image/svg+xml":
                    return f'<div class="output image">{inline_svg(_text(data[mime]), f"o{self.count}")}</div>'
                payload = _text(data[mime]).replace("\n", "")
                return f'<div class="output image"><img alt="output" src="data:{mime};base64,{payload}"></div>'
        if "text/html" in data:
            return f'<div class="output html">{_text(data["text/html"])}</div>'
        if "text/plain" in data:
            return self._text_block(_text(data["text/plain"]), "output result")
        return ""

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
        if key not in self._formatted:
            text = self.style.format_entry(key, self.entries[key]).text.render(self.backend)
            self._formatted[key] = text
        return Markup(self._formatted[key])

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

    def equation(self, item):
        target = self.page.target(item)
        return target.anchor, target.number_text

    def link(self, target) -> str:
        is_page_title = target is target.page.targets[0]
        if target.page is self.page:
            return "#" if is_page_title else f"#{target.anchor}"
        url = _relative(target.page.url, self.page.url)
        return url if is_page_title else f"{url}#{target.anchor}"

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
            return cited + broken
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
                text = html.escape(self.number_name(target, role.name == "eqref"))
            links.append(f'<a class="reference {target.kind}" href="{html.escape(self.link(target))}">{text}</a>')
        return ", ".join(links)

    @staticmethod
    def number_name(target, bare_equation: bool) -> str:
        if target.kind == "equation":
            return f"({target.number_text})" if bare_equation else f"Equation ({target.number_text})"
        if not target.number:
            return target.title
        if target.kind == "section":
            return f"{'Chapter' if len(target.number) == 1 else 'Section'} {target.number_text}"
        return f"{target.kind.capitalize()} {target.number_text}"


class Site:
    """Renders the whole book: ``render()`` returns every file of the site."""

    def __init__(self, config, book: Book, from_cache: bool = False, keep_going: bool = False):
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        self.config = config
        self.book = book
        self.markdown = Markdown()
        self.citations = Citations(book.bibliography)
        self.tabs = list(config.tabs)
        templates = Path(__file__).resolve().parent.parent / "static" / "templates"
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
        """A page's title as inline HTML (math included); every sidebar shows them all."""
        if page.rel not in self._titles:
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
            executed = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
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

    def render_page(self, page: Page, index: int) -> tuple[str, list]:
        """(page HTML, search index entries)."""
        outputs = self.outputs_of(page)
        page_tabs = [tab for tab in self.tabs if tab in outputs]
        resolver = PageResolver(self, page)
        renderer = OutputRenderer(self.config.collapse_lines)
        parts = []
        for run in cell_runs(page.document):
            if isinstance(run, list):
                parts.append(self.group_html(run, page_tabs, resolver, outputs, renderer))
            else:
                parts.append(self.text_html(run, resolver))
        content = "".join(parts)
        references = [(key, self.citations.reference(key)) for key in sorted(resolver.cited, key=self.citations.sort_key)]
        pages = self.book.pages
        url = page.url
        context = {
            "book_title": self.config.project["title"],
            "page": page,
            "title_text": _strip_tags(self.title_html(page)),
            "content": Markup(content),
            "root": _relative("index.html", url)[: -len("index.html")],
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
            "references": references,
            "tabs": self.tabs,
            "default_tab": self.config.default_tab,
        }
        page_html = self.page_template.render(context)
        return page_html, search_entries(page, content, self.title_html(page))

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
        files.update(self.static_files())
        files.update(self.figure_files())
        files.update(self.notebook_files())
        return files

    def static_files(self) -> dict[str, bytes | str]:
        from pygments.formatters import HtmlFormatter

        static = Path(__file__).resolve().parent.parent / "static"
        css = (static / "css" / "tabbook.css").read_text(encoding="utf-8")
        css += "\n/* Pygments */\n" + HtmlFormatter(style="default").get_style_defs(".highlight")
        return {
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
                        data = path.read_bytes()
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


def search_entries(page: Page, content: str, title: str) -> list[dict]:
    """The page cut at its headings: one search entry per section, as plain text (outputs left out)."""
    entries = []
    pieces = _SECTION_SPLIT.split(_OUTPUTS.sub(" ", content))
    # pieces: text, (level, id, heading, text)*
    entries.append({"u": page.url, "t": _strip_tags(title), "x": " ".join(_strip_tags(pieces[0]).split())})
    for index in range(1, len(pieces), 4):
        _level, anchor, heading, text = pieces[index : index + 4]
        url = page.url if anchor == page.targets[0].anchor else f"{page.url}#{anchor}"
        entries.append({"u": url, "t": " ".join(_strip_tags(heading).split()), "x": " ".join(_strip_tags(text).split())})
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
    if site.unexecuted:
        print(f"html: warning: never executed, shown without outputs: {_some(site.unexecuted)}", file=out)
    if site.stale:
        print(f"html: warning: older than the source, shown with the outputs of unchanged cells: {_some(site.stale)}", file=out)
    print(f"html: {len(book.pages)} pages x {len(config.tabs)} tabs -> {html_dir} in {seconds:.2f} s ({cpu_seconds:.2f} s CPU)", file=out)
    if failed:
        names = ", ".join(f"{row.get('tab')}/{row.get('name')}" for row in failed)
        raise SourceError(config.build_dir / "eval" / "summary.json", None, f"the HTML was built, but these notebooks failed: {names}")
    if book.errors:
        print(f"html: {len(site.broken)} unresolved reference(s) shown as ??:", file=out)
        for error in site.broken:
            print(f"  {error}", file=out)
        raise SourceError(config.config_path, None, f"the HTML was built with --keep-going, but the book has {len(book.errors)} error(s), listed above")
    return html_dir


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
    parser.add_argument("--screenshots", action="store_true", help="then save a screenshot of every page in every tab under _build/screenshots")


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

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


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


def take_screenshots(html_dir: Path, out_dir: Path, tabs, browser=None, width: int = 1280, height: int = 900) -> list[Path]:
    """A full-page PNG of every page in every tab: ``<out_dir>/<page>__<tab>.png``.

    Uses ``browser`` (a Playwright browser) when given, else starts chromium.
    """
    if browser is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                return take_screenshots(html_dir, out_dir, tabs, browser, width, height)
            finally:
                browser.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = []
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        with serve_directory(html_dir) as base:
            for url in page_urls(html_dir):
                for tab in tabs:
                    page.goto(f"{base}{url}?tab={tab}", wait_until="load")
                    name = url[: -len(".html")].replace("/", "_") + f"__{tab}.png"
                    page.screenshot(path=str(out_dir / name), full_page=True)
                    shots.append(out_dir / name)
    finally:
        context.close()
    return shots
