"""Executed notebooks -> the HTML book under ``_build/html``.

For each page of the book (``tabbook.book``), the executed notebooks of all
tabs (``_build/eval/<tab>/<name>.ipynb``) are merged back into one page by the
source line in each cell's metadata: shared text once, and every run of code
cells and tab prose in between as one tab group. The page layout is a Jinja2
template (``static/templates``); behaviour in the browser (tab switching,
copy buttons, search) is ``static/js/tabbook.js``; math is MathML made at
build time, so the book needs no network.

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
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup

from tabbook.book import Book, Page, load_book
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write
from tabbook.markdown import Markdown, highlight

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


# -- merging the tabs' notebooks -----------------------------------------------------


@dataclass
class TabGroup:
    """Consecutive code cells and tab prose: tab -> its cells, in source order."""

    panes: dict[str, list] = field(default_factory=dict)


def merge_notebooks(notebooks: dict, path: str) -> list:
    """One page's items in source order: a shared text cell, or a TabGroup.

    Cells are matched across notebooks by their source line (metadata
    ``tabbook.line``): a text cell appears in every notebook and is shown once.
    """
    entries: dict[tuple[int, str], dict] = {}
    for tab, nb in notebooks.items():
        for index, cell in enumerate(nb["cells"]):
            meta = cell.get("metadata", {}).get("tabbook")
            if not meta or "line" not in meta or "kind" not in meta:
                raise SourceError(path, None, f"cell {index} of the {tab} notebook has no tabbook metadata; rebuild it with `python -m tabbook run`")
            entries.setdefault((meta["line"], meta["kind"]), {})[tab] = cell
    items: list = []
    group = None
    for (_line, kind), cells in sorted(entries.items()):
        if kind == "text":
            group = None
            items.append(next(iter(cells.values())))
            continue
        if group is None:
            group = TabGroup()
            items.append(group)
        for tab, cell in cells.items():
            group.panes.setdefault(tab, []).append(cell)
    return items


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
    """Notebook outputs -> HTML. Text is escaped (ANSI colours kept); HTML is ours.

    Images become files of the site (added to ``files``, named by content under
    ``_static/outputs``) shown by ``<img loading="lazy">``: a plot in a hidden tab
    costs nothing until its tab is shown, and an SVG loaded as an image can run
    no script. ``root`` is the way from the page to the site's root.
    """

    def __init__(self, collapse_lines: int, files: dict | None = None, root: str = ""):
        self.ansi2html = _ansi2html()
        self.collapse_lines = collapse_lines
        self.files = {} if files is None else files
        self.root = root

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
            return self._rich(output.get("data", {}), output.get("metadata", {}))
        return ""

    def _rich(self, data, metadata) -> str:
        for mime in _IMAGE_TYPES:
            if mime in data:
                return self._image(mime, _text(data[mime]), metadata.get(mime) or {})
        if "text/html" in data:
            return f'<div class="output html">{_text(data["text/html"])}</div>'
        if "text/plain" in data:
            return self._text_block(_text(data["text/plain"]), "output result")
        return ""

    def _image(self, mime: str, value: str, metadata: dict) -> str:
        if mime == "image/svg+xml":
            data, size = value.encode("utf-8"), svg_size(value)
        else:
            data = base64.b64decode(value.replace("\n", ""))
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
        self.cell_range: tuple[int | None, int | None] = (None, None)

    def _find(self, kind, item):
        return self.page.find(kind, item, *self.cell_range)

    def heading(self, item):
        target = self._find("section", item)
        return target.anchor, target.number_text

    def figure(self, item):
        target = self._find("figure", item)
        return target.anchor, f"Figure {target.number_text}"

    def table(self, item):
        if not item.label:
            return "", ""  # only labelled tables are numbered
        target = self._find("table", item)
        return target.anchor, f"Table {target.number_text}"

    def equation(self, label):
        target = self.book.labels[label]
        return target.anchor, target.number_text

    def link(self, target) -> str:
        is_page_title = target is target.page.targets[0]
        if target.page is self.page:
            return "#" if is_page_title else f"#{target.anchor}"
        url = _relative(target.page.url, self.page.url)
        return url if is_page_title else f"{url}#{target.anchor}"

    def role(self, role) -> str:
        if role.name in ("cite", "citep", "citet"):
            for key in role.targets:
                if key not in self.book.bibliography.entries:
                    raise SourceError(self.path, role.line, f"unknown citation key '{key}' (not in the bibliography)")
                if key not in self.cited:
                    self.cited.append(key)
            return self.site.citations.cite(role.targets, textual=role.name == "citet")
        links = []
        for label in role.targets:
            target = self.book.labels.get(label)
            if target is None:
                raise SourceError(self.path, role.line, f":{role.name}: refers to the undefined label '{label}'")
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

    def toc(self, content: str, line: int) -> str:
        """A ```toc``` fence: the pages it lists, with their sections."""
        items = []
        for entry in content.split("\n"):
            entry = entry.strip()
            if not entry or entry.startswith(":"):
                continue
            page = self.book.page_of(self.page.source.parent / f"{entry}.md")
            items.append(self.site.toc_item_html(page, self.page, depth=2))
        return f'<ul class="toc-fence">{"".join(items)}</ul>\n'


class Site:
    """Renders the whole book: ``render()`` returns every file of the site."""

    def __init__(self, config, book: Book, from_cache: bool = False):
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
        self.unexecuted: list[str] = []  # tab/name of the notebooks never executed
        self.stale: list[str] = []  # tab/name of the notebooks older than their source
        self._titles: dict[str, Markup] = {}
        self.output_files: dict[str, bytes] = {}  # the images of all pages' outputs (OutputRenderer)

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

    def notebooks_of(self, page: Page) -> dict:
        """tab -> executed notebook of this page, for the tabs that have one.

        With ``from_cache`` (``html --no-run``) nothing was run first, so a
        notebook may be missing or older than its source: then the page shows
        the source as it is now, with the outputs of the code cells that did not
        change, and the notebook is reported.
        """
        converted = None
        if self.from_cache:
            from tabbook.notebooks import build_notebooks

            converted = build_notebooks(self.config, page.source)
        notebooks = {}
        for tab in page.document.notebook_tabs():
            path = self.eval_dir / tab / f"{page.name}.ipynb"
            # Plain JSON: nbformat's import and validation would be most of the build time.
            executed = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
            if converted is None:
                if executed is None:
                    raise SourceError(page.rel, None, f"no executed {tab} notebook at {path}; run `python -m tabbook run`")
                notebooks[tab] = executed
                continue
            current = json.loads(json.dumps(converted[tab]))
            if executed is None:
                self.unexecuted.append(f"{tab}/{page.name}")
                notebooks[tab] = current
            elif _cell_keys(executed) == _cell_keys(current):
                notebooks[tab] = executed
            else:
                self.stale.append(f"{tab}/{page.name}")
                notebooks[tab] = _with_outputs_of(current, executed)
        return notebooks

    def text_html(self, cell, resolver: PageResolver) -> str:
        meta = cell["metadata"]["tabbook"]
        resolver.cell_range = (meta["line"], meta.get("end_line", meta["line"]))
        # Tab prose starts after its :begin_tab: line (items are also found by content, see Page.find).
        first = meta["line"] + (1 if meta["kind"] == "tab_text" else 0)
        return self.markdown.render(_text(cell["source"]), first, resolver)

    def code_html(self, cell, outputs: OutputRenderer) -> str:
        hide = cell["metadata"].get("tabbook", {}).get("hide")
        if hide == "cell":
            return ""
        code = None if hide == "code" else Markup(highlight(_text(cell["source"]), "python"))
        rendered = None if hide == "output" else outputs.render(cell.get("outputs", []))
        return self.cells.code_cell(code, rendered)

    def group_html(self, group: TabGroup, page_tabs: list[str], resolver, outputs) -> str:
        panes = {}
        for tab in self.tabs:
            if tab not in page_tabs:
                panes[tab] = Markup(self.cells.missing(tab_title(tab), True))
                continue
            cells = group.panes.get(tab, [])
            parts = [
                self.text_html(cell, resolver) if cell["cell_type"] == "markdown" else self.code_html(cell, outputs)
                for cell in cells
            ]
            panes[tab] = Markup("".join(parts) or self.cells.missing(tab_title(tab), False))
        return self.cells.tabgroup(self.tabs, self.config.default_tab, panes)

    def render_page(self, page: Page, index: int) -> tuple[str, list]:
        """(page HTML, search index entries)."""
        notebooks = self.notebooks_of(page)
        page_tabs = [tab for tab in self.tabs if tab in notebooks]
        resolver = PageResolver(self, page)
        url = page.url
        root = _relative("index.html", url)[: -len("index.html")]
        outputs = OutputRenderer(self.config.collapse_lines, self.output_files, root)
        parts = []
        for item in merge_notebooks(notebooks, page.rel):
            if isinstance(item, TabGroup):
                parts.append(self.group_html(item, page_tabs, resolver, outputs))
            else:
                parts.append(self.text_html(item, resolver))
        content = "".join(parts)
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
                (tab_title(tab), _relative(f"{NOTEBOOK_DIR}/{tab}/{page.name}.ipynb", url), tab in notebooks)
                if (self.eval_dir / tab / f"{page.name}.ipynb").is_file()
                else (tab_title(tab), None, tab in notebooks)
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
        files.update(self.output_files)
        files.update(self.static_files())
        files.update(self.figure_files())
        files.update(self.notebook_files())
        return files

    def static_files(self) -> dict[str, bytes | str]:
        from pygments.formatters import HtmlFormatter

        static = Path(__file__).resolve().parent.parent / "static"
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
            for figure in page.document.figures:
                path = (page.source.parent / figure.path).resolve()
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


def _cell_keys(nb) -> list:
    return [(c["cell_type"], _text(c["source"]), c["metadata"].get("tabbook")) for c in nb["cells"]]


def _with_outputs_of(current, executed):
    """``current`` (converted from the source now) with the outputs of ``executed``'s identical code cells."""
    done: dict[str, list] = {}
    for cell in executed["cells"]:
        if cell["cell_type"] == "code":
            done.setdefault(_text(cell["source"]), []).append(cell)
    for cell in current["cells"]:
        same = done.get(_text(cell["source"])) if cell["cell_type"] == "code" else None
        if same:
            old = same.pop(0)
            cell["outputs"], cell["execution_count"] = old.get("outputs", []), old.get("execution_count")
    return current


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


def build_html(config, jobs=None, run=True, out=None) -> Path:
    """Run what is stale (unless ``run`` is False), then render the book into ``_build/html``."""
    out = out or sys.stdout
    started, cpu_started = time.perf_counter(), time.process_time()
    book = load_book(config)  # a dangling reference fails now, before any notebook runs
    failed = []
    if run:
        from tabbook.execute import OK, run_book

        run_started, run_cpu_started = time.perf_counter(), time.process_time()
        rows = run_book(config, jobs=jobs, out=out)
        failed = [row for row in rows if row.get("status") != OK]
        # the timing below is the HTML's own: leave the run out
        started += time.perf_counter() - run_started
        cpu_started += time.process_time() - run_cpu_started
    for orphan in book.orphans:
        print(f"{orphan.relative_to(config.root)}: warning: no toc lists this file; it is not part of the book", file=out)
    site = Site(config, book, from_cache=not run)
    files = site.render()
    html_dir = config.build_dir / "html"
    write_site(files, html_dir)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if site.unexecuted:
        print(f"html: warning: never executed, shown without outputs: {', '.join(site.unexecuted)}", file=out)
    if site.stale:
        print(f"html: warning: older than the source, shown with the outputs of unchanged cells: {', '.join(site.stale)}", file=out)
    print(f"html: {len(book.pages)} pages x {len(config.tabs)} tabs -> {html_dir} in {seconds:.2f} s ({cpu_seconds:.2f} s CPU)", file=out)
    if failed:
        names = ", ".join(f"{row.get('tab')}/{row.get('name')}" for row in failed)
        raise SourceError(config.build_dir / "eval" / "summary.json", None, f"the HTML was built, but these notebooks failed: {names}")
    return html_dir


def add_arguments(parser) -> None:
    parser.add_argument("-j", "--jobs", type=int, default=None, help="notebooks executed at once (default: [build] jobs)")
    parser.add_argument("--no-run", action="store_true", help="render what _build/eval holds; execute nothing")
    parser.add_argument("--screenshots", action="store_true", help="then save screenshots of every page in every tab (desktop and phone, light and dark) under _build/screenshots")


def run_command(args) -> int:
    from tabbook.config import load_config

    config = load_config()
    html_dir = build_html(config, jobs=args.jobs, run=not args.no_run)
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
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
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
