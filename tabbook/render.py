"""The book model + executed notebooks -> the HTML book under ``_build/html``.

Each page walks its ``Document`` (``tabbook.parse``) as ``tabbook.book``
numbered it: shared text once, and every run of code cells and tab prose as one
tab group whose panes are each tab's view of the page (``Cell.shown_in``). Code
cells get their outputs from the executed notebooks (``_build/eval/<tab>/
<name>.ipynb``) by cell id, through ``tabbook.notebooks.attach_outputs`` (the
one way outputs are attached). Markup lives in the Jinja2 templates
(``tabbook/static/templates``); behaviour in the browser (tab switching, copy
buttons, search) in ``tabbook/static/js/tabbook.js``; math is MathML made at
build time, so the book needs no network. ``tabbook.pdf`` and
``tabbook.slides`` reuse :class:`Site` for their documents.

The whole site is rendered in memory first and then replaces ``_build/html``
in one rename: a failed build leaves the previous one untouched.
"""

from __future__ import annotations

import copy
import fcntl
import html
import io
import os
import posixpath
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from markupsafe import Markup

from tabbook import artifacts, assets, search
from tabbook.assets import tab_title
from tabbook.book import Book, Page, plain_text, raw_html, reference_problem, relative_url
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write, read_notebook_json
from tabbook.markdown import Markdown, highlight
from tabbook.notebooks import attach_outputs, notebook_dicts, notebook_json
from tabbook.outputs import OutputRenderer, output_limits
from tabbook.parse import CODE, TAB_TEXT, TEXT, Bibliography, Div, Figure, Heading, Prose, RawHtml, Table, Toc
from tabbook.reader import ReaderNotebooks


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

    def broken(self, reference, key: str) -> str:
        """The ``??`` of a target that resolves to nothing (fatal unless ``--keep-going``)."""
        problem = reference_problem(reference, key, self.book.labels, self.book.bibliography)
        self.site.unresolved(self.path, reference.line, problem)
        return str(self.site.cells.broken_reference(key))

    def broken_math(self, math, reason: str) -> str:
        """Math the engine cannot typeset: fatal, or its TeX marked as broken with ``--keep-going``."""
        self.site.unresolved(self.path, math.line, reason)
        delimiter = "$$" if math.display else "$"
        return f'<code class="math-error" title="{html.escape(reason)}">{html.escape(delimiter + math.tex + delimiter)}</code>'

    def role(self, reference) -> str:
        if reference.is_citation:
            return self.citation(reference)
        links = []
        for label in reference.targets:
            if reference_problem(reference, label, self.book.labels, self.book.bibliography):
                links.append(self.broken(reference, label))
                continue
            target = self.book.labels[label]
            if reference.role == "ref" and target.kind == "section" and target.title is not None:
                text = self.site.markdown.render_inline(target.title, PageResolver(self.site, target.page))
            else:
                text = html.escape(target.name(bare_equation=reference.role == "eqref"))
            links.append(f'<a class="reference {target.kind}" href="{html.escape(self.link(target))}">{text}</a>')
        return ", ".join(links)

    def citation(self, reference) -> str:
        bibliography = self.book.bibliography
        known = [key for key in reference.targets if key in bibliography]
        broken = "".join(self.broken(reference, key) for key in reference.targets if key not in bibliography)
        for key in known:
            if key not in self.cited:
                self.cited.append(key)
        cited = bibliography.cite_html(known, reference.role == "citet", self.reference_link) if known else ""
        anchor = self.cite_anchor(reference.line)
        if anchor in self.anchors:  # several citations on one line: the bibliography links to the first
            return cited + broken
        self.anchors.add(anchor)
        return f'<span class="citation" id="{anchor}">{cited}{broken}</span>'


    def cite_anchor(self, line: int) -> str:
        """The id of the citations on ``line`` of this page: the bibliography's back-links lead there."""
        return f"cite-{line}"

    def reference_link(self, key: str) -> str:
        """Where a citation of ``key`` leads: the page's own list of references."""
        return f"#ref-{key}"


class Site:
    """Renders the whole book: ``render()`` returns every file of the site."""

    def __init__(self, config, book: Book, from_cache: bool = False, keep_going: bool = False):
        self.config = config
        self.book = book
        self.markdown = Markdown(config.dialect)
        self.tabs = list(config.tabs)
        self.env = assets.templates()
        self.page_template = self.env.get_template("page.html")
        self.cells = self.env.get_template("cells.html").module
        self.eval_dir = config.build_dir / "eval"
        self.from_cache = from_cache
        self.keep_going = keep_going
        self.broken: list[SourceError] = []  # references left unresolved (keep_going)
        self.unexecuted: list[str] = []  # tab/name of the notebooks never executed
        self.stale: list[str] = []  # tab/name of the notebooks older than their source
        self._titles: dict[str, Markup] = {}
        self._sidebar: dict[tuple[int, str], str] = {}  # (page, folder of the current page) -> its sidebar subtree
        self.output_files: dict[str, bytes] = {}  # the images of all pages' outputs (OutputRenderer)
        self.missing_files: list[str] = []  # [build] resources and [html] files that do not exist
        self._printed: dict[str, bytes] | None = None  # the PDFs and decks copied into the site

    def for_book(self, book: Book) -> Site:
        """This site for a newer reading of the same book: templates and caches
        kept, what one build collects started afresh (the live preview's next pass)."""
        site = copy.copy(self)
        site.book = book
        site.broken, site.unexecuted, site.stale, site._titles, site._sidebar = [], [], [], {}, {}
        return site

    # -- pieces -----------------------------------------------------------------

    def title_html(self, page: Page) -> Markup:
        """A page's title as inline HTML (math included); every sidebar shows them all.

        The front page is the book's title: its own heading often repeats the
        chapter's, and links to it must not read alike.
        """
        if page.rel not in self._titles:
            if page is self.book.root_page:
                self._titles[page.rel] = Markup(html.escape(self.book.title))
            else:
                self._titles[page.rel] = Markup(self.markdown.render_inline(page.title, PageResolver(self, page)))
        return self._titles[page.rel]

    def title_text(self, page: Page) -> str:
        return self.book.title if page is self.book.root_page else plain_text(page.title)

    def toc_item_html(self, page: Page, current: Page, depth: int) -> str:
        number = f'<span class="secnum">{page.number_text}</span> ' if page.number else ""
        children = ""
        if depth > 1 and page.children:
            children = "<ul>" + "".join(self.toc_item_html(child, current, depth - 1) for child in page.children) + "</ul>"
        url = html.escape(relative_url(page.url, current.url))
        return f'<li><a href="{url}">{number}{self.title_html(page)}</a>{children}</li>'

    def unresolved(self, path: str, line: int, message: str) -> None:
        """A reference that resolves to nothing: fatal, or shown as ?? with ``keep_going``."""
        error = SourceError(path, line, message)
        if not self.keep_going:
            raise error
        self.broken.append(error)

    def toc_html(self, toc: Toc, page: Page) -> str:
        """A ```toc``` fence: the pages it lists, with their sections down to its ``:maxdepth:``."""
        items = [self.toc_item_html(child, page, depth=toc.maxdepth or 2) for child in page.toc_pages.get(toc, [])]
        return f'<ul class="toc-fence">{"".join(items)}</ul>\n'

    def bibliography_html(self, page: Page) -> str:
        """Every work the book cites, each with links back to where it is cited (once per page)."""
        bibliography = self.book.bibliography
        entries = []
        for key in sorted(self.book.cited_keys(), key=bibliography.sort_key):
            backlinks = [(self.citation_link(place, page), place.page.number_text or self.title_text(place.page)) for place in self.book.cited_at(key)]
            entries.append((key, Markup(bibliography.reference_html(key)), backlinks))
        return str(self.cells.bibliography(entries))

    def citation_link(self, citation, page: Page) -> str:
        """A back-link from the bibliography on ``page`` to ``citation`` (``PageResolver.cite_anchor``)."""
        return f"{relative_url(citation.page.url, page.url)}#cite-{citation.line}"

    def outputs_of(self, page: Page) -> dict[str, dict]:
        """tab -> {cell id: executed cell} for the tabs that get a notebook.

        The executed notebook's outputs are attached to the notebook converted
        from the source as it is now (``tabbook.notebooks.attach_outputs``): a
        code cell whose code changed since it ran shows no outputs, and with
        ``from_cache`` (``html --no-run``) such a notebook is reported as stale.
        """
        current = notebook_dicts(self.config, page.document)
        limit = output_limits(self.config)
        outputs = {}
        for tab, shared in current.items():
            nb = dict(shared, cells=[dict(cell) for cell in shared["cells"]])  # cells alike in all tabs are shared
            path = artifacts.eval_path(self.config, tab, page.name)
            # Plain JSON: nbformat's import and validation would be most of the build time.
            executed = read_notebook_json(path) if path.is_file() else None
            if executed is not None and isinstance(executed.get("cells"), list):
                limit(executed)  # a notebook made elsewhere (or by an older tool) within the book's limits too
            if executed is None:
                if not self.from_cache:
                    raise SourceError(page.rel, None, f"no executed {tab} notebook at {path}; run `python -m tabbook run`")
                self.unexecuted.append(f"{tab}/{page.name}")
            elif attach_outputs(nb, executed):
                self.stale.append(f"{tab}/{page.name}")
            outputs[tab] = {cell["id"]: cell for cell in nb["cells"]}
        return outputs

    def figure_src(self, page: Page, path: str) -> str:
        """A figure's image as this page links it: as the source wrote it (the site keeps the book's layout)."""
        return path

    def text_html(self, cell, resolver: PageResolver) -> str:
        """A text cell's blocks, in order (numbers from the book, markup from the templates)."""
        return self.blocks_html(cell.blocks, resolver)

    def blocks_html(self, blocks: list, resolver: PageResolver) -> str:
        page = resolver.page
        parts = []
        for block in blocks:
            if isinstance(block, Div):
                if not block.is_slide:  # slides are the decks' (tabbook.slides), not the page's
                    parts.append(self.cells.div(block.classes, block.attributes.get("id"), Markup(self.blocks_html(block.blocks, resolver))))
            elif isinstance(block, Prose):
                parts.append(self.markdown.render(block.inline, resolver))
            elif isinstance(block, Heading):
                target = page.target_of.get(block)  # none inside a d2l-neu slide: the book does not number those
                title = Markup(self.markdown.render_inline(block.title, resolver))
                parts.append(self.cells.heading(block.level, target.anchor if target else "", target.number_text if target else "", title))
            elif isinstance(block, Figure):
                target = page.target_of.get(block)
                caption = Markup(self.markdown.render_inline(block.caption, resolver))
                prefix = f"Figure {target.number_text}" if target else ""
                src = self.figure_src(page, block.path)
                parts.append(self.cells.figure(target.anchor if target else "", prefix, src, plain_text(block.caption), block.width, caption))
            elif isinstance(block, Table):
                target = page.target_of.get(block)
                body = Markup(self.markdown.render(block.body, resolver))
                caption = Markup(self.markdown.render_inline(block.caption, resolver)) if block.caption else ""
                prefix = f"Table {target.number_text}" if target and block.label else ""
                parts.append(self.cells.table(target.anchor if target else "", prefix, caption, body))
            elif isinstance(block, Toc):
                parts.append(self.toc_html(block, page))
            elif isinstance(block, RawHtml):
                # the author's own HTML file, as d2lbook includes it
                parts.append(raw_html(page, block, self.config.root))
            elif isinstance(block, Bibliography):
                parts.append(self.bibliography_html(page))
        return "".join(str(part) for part in parts)

    def highlight_code(self, source: str) -> str:
        return highlight(source, "python")

    def code_html(self, cell, tab: str, outputs: dict, renderer: OutputRenderer) -> str:
        if cell.hide == "cell":
            return ""
        code = None if cell.hide == "code" else Markup(self.highlight_code(cell.source_for(tab)))
        executed = outputs.get(cell.id)
        rendered = None if cell.hide == "output" or executed is None else renderer.render(executed.get("outputs", []))
        return self.cells.code_cell(code, rendered)

    def group_html(self, cells: list, page_tabs: list[str], resolver, outputs: dict, renderer) -> str:
        """One tab group: each tab's pane shows that tab's view of these cells."""
        panes = {}
        for tab in self.tabs:
            if tab not in page_tabs:
                panes[tab] = Markup(self.cells.missing(tab_title(tab), True))
                continue
            parts = []
            for cell in cells:
                if cell.shown_in(tab):
                    if cell.kind == TAB_TEXT:
                        parts.append(self.text_html(cell, resolver))
                    elif cell.kind == CODE:
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

    def render_page(self, page: Page, index: int) -> str:
        """The page's HTML."""
        outputs = self.outputs_of(page)
        resolver = PageResolver(self, page)
        url = page.url
        root = relative_url("index.html", url)[: -len("index.html")]
        renderer = OutputRenderer(self.config.collapse_lines, self.config.max_output_mb, files=self.output_files, root=root)
        content = self.content_html(page, resolver, outputs, renderer)
        bibliography = self.book.bibliography
        references = [(key, Markup(bibliography.reference_html(key))) for key in sorted(resolver.cited, key=bibliography.sort_key)]
        pages = self.book.pages
        context = {
            "book_title": self.book.title,
            "page": page,
            "title_text": self.title_text(page),
            "content": Markup(content),
            "root": root,
            "is_front_page": page is self.book.root_page,
            "has_math": "<math" in content,
            "math_font": assets.MATH_FONT_URL,
            "sidebar": Markup("".join(self.sidebar_item(p, page) for p in self.book.root_page.children)),
            "local_toc": self.local_toc(page),
            "prev": self.nav_link(pages[index - 1], page) if index > 0 else None,
            "next": self.nav_link(pages[index + 1], page) if index + 1 < len(pages) else None,
            "downloads": [
                (tab_title(tab), relative_url(f"{artifacts.NOTEBOOK_DIR}/{tab}/{page.name}.ipynb", url), tab in outputs)
                if artifacts.eval_path(self.config, tab, page.name).is_file()
                else (tab_title(tab), None, tab in outputs)
                for tab in self.tabs
            ],
            "zips": [(tab_title(tab), relative_url(artifacts.zip_url(self.config, tab), url)) for tab in self.tabs],
            "prints": [
                (tab_title(tab), pdf and relative_url(pdf, url), deck and relative_url(deck, url))
                for tab, pdf, deck in artifacts.print_links(self.config, page, self.printed())
            ],
            "references": references,
            **self.publish_links(page, outputs),
            "tabs": self.tabs,
            "default_tab": self.config.default_tab,
            "header_links": self.config.header_links,
            "favicon": self.site_path(self.config.favicon),
            "logo": self.site_path(self.config.html_logo),
            "extra_css": [css for css in map(self.site_path, self.config.include_css) if css],
        }
        return self.page_template.render(context)

    def publish_links(self, page: Page, outputs: dict) -> dict:
        """Launch links per framework, "Discuss" and "Edit on GitHub", from ``[publish]`` (none without it)."""
        publish = self.config.publish
        launch = []
        if publish.notebooks_repo and page.document.has_code:
            for tab in self.tabs:
                if tab in outputs:
                    where = f"{publish.notebooks_repo}/blob/{publish.notebooks_branch}/{tab}/{page.name}.ipynb"
                    launch.append((tab_title(tab), f"https://colab.research.google.com/github/{where}", f"https://studiolab.sagemaker.aws/import/github/{where}"))
        edit = f"https://github.com/{publish.source_repo}/edit/{publish.source_branch}/{page.rel}" if publish.source_repo else None
        return {"launch": launch, "discuss": publish.discussion(page.name), "edit": edit}

    def sidebar_item(self, page: Page, current: Page) -> str:
        """The sidebar's entry for ``page`` and its subtree, seen from ``current``.

        A subtree without the current page reads the same from every page of one
        folder, so it is made once per folder: a 190-page book needs a few thousand
        entries, not 190 x 190."""
        folder = posixpath.dirname(current.url)
        holds_current = current is page or any(ancestor is page for ancestor in _ancestors(current))
        key = (id(page), folder)
        if not holds_current and key in self._sidebar:
            return self._sidebar[key]
        number = f'<span class="secnum">{page.number_text}</span> ' if page.number else ""
        css = ' class="current"' if page is current else ""
        url = html.escape(relative_url(page.url, current.url))
        children = "".join(self.sidebar_item(child, current) for child in page.children)
        children = f"<ul>{children}</ul>" if children else ""
        item = f'<li{css}><a href="{url}">{number}{self.title_html(page)}</a>{children}</li>'
        if not holds_current:
            self._sidebar[key] = item
        return item

    def local_toc(self, page: Page) -> list:
        resolver = PageResolver(self, page)
        entries = []
        for target in page.targets[1:]:
            if target.kind == "section":
                title = Markup(self.markdown.render_inline(target.title, resolver))
                entries.append((target.anchor, target.number_text, title, max(target.level - page.targets[0].level, 1)))
        return entries

    def nav_link(self, target: Page, current: Page) -> dict:
        return {"url": relative_url(target.url, current.url), "number": target.number_text, "title": self.title_html(target)}

    def printed(self) -> dict[str, bytes]:
        """The PDFs and decks built so far (``tabbook pdf``, ``tabbook slides``), copied into the site."""
        if self._printed is None:
            self._printed = artifacts.printed_files(self.config)
        return self._printed

    # -- the site ---------------------------------------------------------------

    def render(self) -> dict[str, bytes | str]:
        """Every file of the site: relative path -> content."""
        files: dict[str, bytes | str] = {}
        for index, page in enumerate(self.book.pages):
            files[page.url] = self.render_page(page, index)
        entries = [entry for page in self.book.pages for entry in search.page_entries(self.book, page, self.markdown)]
        files[f"{assets.STATIC_DIR}/searchindex.js"] = search.search_index(entries)
        files.update(self.output_files)
        files.update(assets.site_files(page for url, page in files.items() if url.endswith(".html")))
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
        """Each executed notebook for download (as Jupyter readers see it), and a zip per tab (with the figures they show)."""
        files = {}
        figures = self.figure_files()
        reader = ReaderNotebooks(self.book, self.config.publish.site_url)
        for tab in self.tabs:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for page in self.book.pages:
                    path = artifacts.eval_path(self.config, tab, page.name)
                    if path.is_file():
                        data = reader_notebook(reader, page, path)
                        files[f"{artifacts.NOTEBOOK_DIR}/{tab}/{page.name}.ipynb"] = data
                        _add_to_zip(archive, f"{page.name}.ipynb", data)
                for name, data in sorted(figures.items()):
                    _add_to_zip(archive, name, data)
            files[artifacts.zip_url(self.config, tab)] = buffer.getvalue()
        return files


def _ancestors(page: Page):
    while page.parent is not None:
        page = page.parent
        yield page


def reader_notebook(reader: ReaderNotebooks, page: Page, path: Path) -> bytes:
    """An executed notebook as Jupyter readers download it (``tabbook.reader``); a damaged one as it is."""
    try:
        executed = read_notebook_json(path)
    except SourceError:
        return path.read_bytes()
    return notebook_json(reader.notebook(page, executed)).encode("utf-8")


def _add_to_zip(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """A member with a fixed date (the same notebooks give the same zip) and rw-r--r-- permissions."""
    info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


# A build writes its site into a staging folder next to ``out_dir`` and holds this lock file in it
# while it does: a folder whose lock nobody holds was left by a killed build.
_STAGING_LOCK = ".tabbook-building"
# A staging folder without a lock file (an older tool's, or one a moment old) is left alone this long.
_UNLOCKED_STAGING_AGE = 3600


def remove_leftover_staging(parent: Path, prefix: str = ".html-") -> list[Path]:
    """Remove the staging folders (``.html-XXXX``) and set-aside old sites (``.html-old-PID``) that
    killed builds left in ``parent`` (SIGTERM during ``html`` left 244 MB); never a running build's."""
    removed = []
    for path in parent.glob(f"{prefix}*"):
        if not path.is_dir() or path.is_symlink():
            continue
        if path.name.startswith(f"{prefix}old-"):
            pid = path.name.removeprefix(f"{prefix}old-")
            if pid.isdigit() and _alive(int(pid)):
                continue  # a running build is swapping its site in
        elif not _abandoned(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _abandoned(staging: Path) -> bool:
    """Whether no build holds the staging folder's lock (an old one without a lock: by its age)."""
    lock = staging / _STAGING_LOCK
    try:
        handle = open(lock, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        try:
            return time.time() - staging.stat().st_mtime > _UNLOCKED_STAGING_AGE
        except OSError:
            return False
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def write_site(files: dict[str, bytes | str], out_dir: Path) -> None:
    """Write the site into a fresh folder, then swap it in for ``out_dir`` at once.

    The staging folders killed builds left are removed first. A write that fails (a full
    disk, no permission) is a message naming the folder; the previous site is kept."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        remove_leftover_staging(out_dir.parent)
        staging = Path(tempfile.mkdtemp(prefix=".html-", dir=out_dir.parent))
    except OSError as exc:
        raise SourceError(out_dir, None, f"cannot write the site there ({exc.strerror or exc}); choose a writable folder (--build-dir or [build] build_dir)") from None
    old = None
    try:
        with open(staging / _STAGING_LOCK, "wb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # held while this build writes: not a leftover
            for name, data in files.items():
                atomic_write(staging / name, data)
            for path in [staging, *staging.rglob("*")]:
                # a web server running as another user must be able to read the site
                path.chmod(0o755 if path.is_dir() else 0o644)
            (staging / _STAGING_LOCK).unlink()
        if out_dir.exists():
            old = out_dir.parent / f".html-old-{os.getpid()}"
            out_dir.rename(old)
        staging.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and old.exists() and not out_dir.exists():
            old.rename(out_dir)  # the swap failed halfway: the previous site goes back
        where = f"{exc.filename}: " if exc.filename else ""
        kept = "the previous site is kept" if out_dir.exists() else "no site was written"
        raise SourceError(out_dir, None, f"could not write the site ({where}{exc.strerror or exc}); {kept}; free some space and build again") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_html(config, book: Book, from_cache: bool, keep_going: bool = False, out=None) -> tuple[Path, Site]:
    """Render ``book`` into ``_build/html`` from the executed notebooks; execute nothing.

    ``from_cache`` (``html --no-run``): a notebook never executed is shown
    without outputs (else it is an error). With ``keep_going`` unresolved
    references show as ``??`` (``Site.broken`` lists them)."""
    out = out or sys.stdout
    started, cpu_started = time.perf_counter(), time.process_time()
    site = Site(config, book, from_cache=from_cache, keep_going=keep_going)
    files = site.render()
    html_dir = config.build_dir / "html"
    write_site(files, html_dir)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if site.missing_files:
        print(f"html: warning: files named in config.ini that do not exist were left out: {some(sorted(set(site.missing_files)))}", file=out)
    if site.unexecuted and config.eval_notebook:
        print(f"html: warning: never executed, shown without outputs: {some(site.unexecuted)}", file=out)
    if site.stale:
        print(f"html: warning: older than the source, shown with the outputs of unchanged cells: {some(site.stale)}", file=out)
    print(f"html: {len(book.pages)} pages x {len(config.tabs)} tabs -> {html_dir} in {seconds:.2f} s ({cpu_seconds:.2f} s CPU)", file=out)
    return html_dir, site


def some(names: list[str], shown: int = 8) -> str:
    """A list of notebook names for a message, cut short when long."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more ({len(names)} notebooks)"
