"""Chapter Markdown -> :class:`Document`, in one pass over the file's lines.

This module implements the dialect of ``DIALECT.md`` for a single file: code
cells and their tab marks, the selector cell, ``tab.selected`` branches, tab
prose, labels, references, citations, slide marks and hide marks. Every later
stage (notebooks, library, book checks, HTML) reads a chapter through
:func:`read_document` and never looks at the raw Markdown again.

Two phases, one reader. The line pass cuts the file into cells (code
fences, tab marks, tab prose). The structure pass then reads each text cell's
blocks with markdown-it's block parser, so that what counts as a heading, a
table or code is exactly CommonMark's, and attaches the dialect's marks
(``:label:``, ``:width:``, ``:eqlabel:``, table captions) to them: the result
is ``Cell.blocks`` (Heading, Figure, Table, Toc, RawHtml and Prose blocks) and
``Document.items``, the numbered things in source order. ``tabbook.book``
numbers those items and ``tabbook.render`` walks the blocks; no later stage
reads the Markdown's structure again.

Errors that break the file (an unclosed fence, an unknown tab) raise
:class:`~tabbook.errors.SourceError` at once. Misplaced marks are collected in
``Document.errors`` (and warnings in ``Document.warnings``), so that
``tabbook check`` can report every problem of a book in one run; converters
raise them (:meth:`Document.raise_errors`). Checks that need the whole book
(dangling references, unknown citation keys, a label defined in two files)
belong to ``tabbook.book``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tabbook.errors import SourceError, SourceErrors

# Cell kinds (Cell.kind and the notebooks' cell metadata "kind").
TEXT = "text"
TAB_TEXT = "tab_text"
CODE = "code"

# Label kinds (Label.kind).
SECTION = "section"
FIGURE = "figure"
TABLE = "table"
EQUATION = "equation"

# A fence: up to three spaces, at least three backticks, an info string
# without backticks (so inline code such as ```` ```toc ```` is not a fence).
_FENCE_OPEN = re.compile(r"^\s*(`{3,})([^`]*)$")
_CODE_INFO = re.compile(r"^\{\s*\.python\s+\.input(\s[^}]*)?\}$")
_TAB_MARK = re.compile(r"^(?:%%tab|#\s*@tab)(?:\s+(.*?))?\s*$")
_SELECTED_IF = re.compile(r"^( *)if\s+tab\.selected\((.*)\)\s*:\s*(.*)$")
_QUOTED = re.compile(r"""(['"])(.*?)\1""")
_HIDE = re.compile(r"#\s*@hide(_code|_output)?\b")
_REQUIRED_LIBS = re.compile(r"^\s*#\s*required_libs\((.*)\)\s*$")
_MARK_LINE = re.compile(r"^:(label|eqlabel|width|begin_tab):`([^`]*)`$")
_ROLE = re.compile(r":(numref|ref|eqref|cite|citet|citep):`([^`]+)`")
_CITE_ROLES = frozenset({"cite", "citet", "citep"})
# Slide marks (DIALECT 6). The text between marks may not contain the closing
# mark, and `[**bold**](url)` is a link, not a slide mark.
_SLIDE_KEEP = (
    re.compile(r"\[\*\*((?:(?!\*\*\]).)*?)\*\*\](?!\()", re.DOTALL),
    re.compile(r"\(\*\*((?:(?!\*\*\)).)*?)\*\*\)", re.DOTALL),
)
_SLIDE_DROP = (
    re.compile(r"\[~~(?:(?!~~\]).)*?~~\](?!\()", re.DOTALL),
    re.compile(r"\(~~(?:(?!~~\)).)*?~~\)", re.DOTALL),
)
# The structure pass: the marks of DIALECT 4 on lines of their own, a table's
# caption line above it (":Caption", not a role such as ":numref:`x` ..."),
# a figure paragraph (its caption may run over several lines).
_STRUCT_MARK = re.compile(r"^\s*:(label|eqlabel|width):`([^`]*)`\s*$")
_CAPTION_LINE = re.compile(r"^\s*:(?![:\s])(?!\w+:`)(.+?)\s*$")
_FIGURE_PARAGRAPH = re.compile(r'^!\[(?P<caption>(?:[^\]\\]|\\.)*)\]\(\s*(?P<path>[^)\s]+)(?:\s+"[^"]*")?\s*\)(?P<rest>.*)$', re.DOTALL)
_INLINE_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)|<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)", re.IGNORECASE)
_DISPLAY_END = re.compile(r"\$\$\s*$")
_RAW_HTML_FILE = re.compile(r"^\s*\.\.\s+raw::\s+html\s*\n\s+:file:\s*(\S+)\s*$")


@dataclass(eq=False)
class Heading:
    """A heading of a text cell (CommonMark's ATX or setext heading)."""

    level: int
    title: str  # Markdown of the title
    line: int
    label: str | None = None


@dataclass(eq=False)
class Figure:
    """A paragraph that is an image ``![caption](path)``; ``path`` is as written."""

    caption: str
    path: str
    line: int
    label: str | None = None
    width: str | None = None


@dataclass(eq=False)
class Table:
    """A table; ``text`` is its Markdown, ``line`` its first row."""

    text: str
    line: int
    caption: str | None = None
    label: str | None = None


@dataclass(eq=False)
class Equation:
    """A labelled display: ``line`` is the :eqlabel: line, ``display_line`` the display's last line."""

    label: str
    line: int
    display_line: int


@dataclass(eq=False)
class Toc:
    """A ```toc``` fence: the pages it lists (entry, line), and its options."""

    entries: list[tuple[str, int]]
    line: int
    maxdepth: int | None = None
    numbered: bool = False


@dataclass(eq=False)
class RawHtml:
    """An ```eval_rst``` block holding ``.. raw:: html`` with ``:file:``: that file's HTML goes into the page."""

    path: str
    line: int


@dataclass(eq=False)
class Bibliography:
    """An ```eval_rst``` block holding ``.. bibliography::``: every work the book cites, as d2l.ai's references page."""

    line: int


@dataclass(eq=False)
class Prose:
    """Markdown shown as it is: paragraphs, lists, quotes, other fences.

    ``code_lines`` are the lines of code blocks inside it (math and roles are
    not looked for there); ``equations`` maps the last line of a labelled
    display to its :class:`Equation`. Lines are source lines: mark lines are
    blank in ``text``, so every line keeps its number.
    """

    text: str
    line: int
    code_lines: frozenset[int] = frozenset()
    equations: dict[int, Equation] = field(default_factory=dict)


@dataclass
class Label:
    """A ``:label:`` or ``:eqlabel:`` defined in this file.

    ``kind`` is SECTION, FIGURE, TABLE or EQUATION; ``title`` is the section
    title, the figure caption or the table caption (None for equations);
    ``item`` is the Heading, Figure, Table or Equation it names.
    """

    name: str
    kind: str
    line: int
    title: str | None = None
    item: object = None


@dataclass
class Reference:
    """A use of a label (role numref/ref/eqref) or of citation keys
    (role cite/citet/citep) in the text, with its line."""

    role: str
    targets: tuple[str, ...]  # one label, or one or more BibTeX keys
    line: int


@dataclass
class Cell:
    """One notebook cell of the source, in source order.

    - kind TEXT: Markdown shared by all tabs; ``text`` is the Markdown (slide
      marks applied, other marks such as :label: kept), ``line``/``end_line``
      its first and last non-blank lines.
    - kind TAB_TEXT: tab prose (DIALECT 3) for ``tabs``; ``line`` is the
      :begin_tab: line, ``end_line`` the :end_tab: line (or the last line of the
      block when a code cell or another :begin_tab: interrupts it).
    - kind CODE: an executable cell for ``tabs``; ``line``/``end_line`` are
      its fence lines; the code of one tab is :meth:`source_for` and
      :meth:`lines_for`; ``hide`` is "cell", "code", "output" or None.

    ``section`` is the heading the cell sits under (None before the first).
    ``id`` is the cell's identity, the same in every tab's notebook: made from
    its content and how many cells before it have the same content, not from
    its line, so that editing other cells keeps it (outputs travel by it from
    the kernel through the store to the page). Text cells also carry
    ``blocks`` (the structure pass) and ``text_line``, the line of their
    text's first line.
    """

    kind: str
    line: int
    end_line: int
    text: str = ""
    text_line: int = 0
    blocks: list = field(default_factory=list)
    id: str = ""
    tabs: tuple[str, ...] = ()
    hide: str | None = None
    # CODE: (line number, text) of each line after the tab mark and hide marks
    # are gone, dedented for the tab.selected branches around it; `only` maps
    # the number of a line inside branches to the tabs that keep it.
    code: list[tuple[int, str]] = field(default_factory=list)
    only: dict[int, frozenset[str]] = field(default_factory=dict)
    section: Heading | None = None
    # TEXT / TAB_TEXT: the text as written, slide marks kept (tabbook.slides reads them); its first line is text_line
    raw_text: str = ""
    _source: str | None = None  # the code when it is the same in every tab

    @property
    def same_in_all_tabs(self) -> bool:
        """True for text and for code without tab.selected branches."""
        return not self.only

    def lines_for(self, tab: str) -> list[tuple[int, str]]:
        """(line number, text) of the code ``tab``'s notebook gets, blank lines at both ends removed."""
        only = self.only
        lines = [item for item in self.code if item[0] not in only or tab in only[item[0]]] if only else self.code
        start, end = 0, len(lines)
        while start < end and not lines[start][1].strip():
            start += 1
        while end > start and not lines[end - 1][1].strip():
            end -= 1
        return lines[start:end]

    def source_for(self, tab: str) -> str:
        """The code of this cell in ``tab``'s notebook ('' when nothing is left)."""
        if self.only:
            return "\n".join(text for _, text in self.lines_for(tab))
        if self._source is None:
            self._source = "\n".join(text for _, text in self.lines_for(tab))
        return self._source


@dataclass
class Document:
    """Everything later stages need from one chapter file.

    ``tabs`` are the tabs converted now (the first is the default tab);
    ``cells`` are in source order; ``items`` are the headings, figures,
    tables and labelled equations of the text, in source order (what the book
    numbers); ``labels`` maps each label defined here to its :class:`Label`;
    ``references`` lists every :numref:/:ref:/:eqref: and
    :cite:/:citet:/:citep: of the text (outside code fences); ``tocs`` are the
    ```toc``` fences and ``toc`` all their entries as (entry, line);
    ``required_libs`` comes from the selector cell. ``errors`` are misplaced
    marks (SourceErrors, not raised yet) and ``warnings`` are messages.
    """

    path: Path
    tabs: tuple[str, ...]
    cells: list[Cell] = field(default_factory=list)
    items: list = field(default_factory=list)
    labels: dict[str, Label] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)
    tocs: list[Toc] = field(default_factory=list)
    images: list[tuple[str, int]] = field(default_factory=list)  # inline and raw <img> images: (path, line)
    required_libs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    # tabs named by a tab mark or :begin_tab: other than through `all` (DIALECT 2)
    named_tabs: set[str] = field(default_factory=set)

    @property
    def headings(self) -> list[Heading]:
        return [item for item in self.items if isinstance(item, Heading)]

    @property
    def figures(self) -> list[Figure]:
        return [item for item in self.items if isinstance(item, Figure)]

    @property
    def toc(self) -> list[tuple[str, int]]:
        return [entry for toc in self.tocs for entry in toc.entries]

    @property
    def title(self) -> str | None:
        """The first heading's text: the page title."""
        return next((item.title for item in self.items if isinstance(item, Heading)), None)

    def raise_errors(self) -> None:
        """Raise the collected errors (all of them, in line order), if any."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise SourceErrors(sorted(self.errors, key=lambda e: e.line or 0))

    def notebook_tabs(self) -> list[str]:
        """The tabs that get a notebook for this file (DIALECT 2), in tab order:
        every tab when the file has no code; else the default tab and the tabs
        a code cell or tab prose names explicitly (``all`` does not count)."""
        if not any(cell.kind == CODE for cell in self.cells):
            return list(self.tabs)
        return [tab for i, tab in enumerate(self.tabs) if i == 0 or tab in self.named_tabs]

    def cells_for(self, tab: str) -> list[Cell]:
        """The cells of ``tab``'s notebook: shared text, its tab prose, its
        non-empty code cells."""
        return [
            cell
            for cell in self.cells
            if cell.kind == TEXT or (tab in cell.tabs and (cell.kind == TAB_TEXT or cell.source_for(tab)))
        ]


def read_document(config, path, tabs=None, collect=False) -> Document:
    """Read and parse one chapter with the book's tabs (or ``tabs``, e.g. from ``--tabs``).

    Tab names valid in marks are the converted tabs plus every framework the
    config knows (an ``[env-<name>]`` with a kernel), so narrowing ``--tabs``
    does not turn the other frameworks' cells into errors. With ``collect``,
    misplaced marks stay in ``Document.errors`` instead of being raised.
    """
    tabs = tuple(tabs or config.tabs)
    known = set(tabs) | {name for name, env in config.envs.items() if env.kernel}
    return parse_markdown(read_source(path), path, tabs, known, collect=collect)


def read_source(path) -> str:
    """A source file's text; a missing or non-UTF-8 file is a SourceError."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SourceError(path, None, "no such file") from None
    except IsADirectoryError:
        raise SourceError(path, None, "is a directory, not a Markdown file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(path, line, f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded; save the file as UTF-8") from None


def parse_markdown(text: str, path, tabs, known_tabs=None, collect=False) -> Document:
    """Parse chapter Markdown ``text`` (from ``path``, for messages) for ``tabs``.

    ``tabs`` are the tabs being converted, the first being the default tab;
    ``known_tabs`` are all names allowed in tab marks (default: ``tabs``).
    Misplaced marks are raised together unless ``collect`` keeps them in
    ``Document.errors``.
    """
    doc = _Parser(Path(path), tuple(tabs), set(known_tabs or ()) | set(tabs)).parse(text)
    if not collect:
        doc.raise_errors()
    return doc


def toc_order(config, documents=None, collect=False) -> list[Path]:
    """The book's files in reading order: the index page, then depth-first
    the pages its ```toc``` fences list (paths relative to the listing file,
    without ``.md``), then any chapter no toc reaches, sorted.

    ``documents`` (path -> Document) avoids parsing files twice. A toc entry
    naming a missing file is a SourceError at the entry's line.
    """
    documents = documents if documents is not None else {}
    index = (config.root / f"{config.index}.md").resolve()
    order: list[Path] = []
    seen: set[Path] = set()

    def document(path):
        if path not in documents:
            documents[path] = read_document(config, path, collect=collect)
        return documents[path]

    def visit(path):
        if path in seen:
            return
        seen.add(path)
        order.append(path)
        for entry, line in document(path).toc:
            child = (path.parent / f"{entry}.md").resolve()
            if not child.is_file():
                raise SourceError(path, line, f"toc entry '{entry}': no file {child.relative_to(config.root.resolve()) if child.is_relative_to(config.root.resolve()) else child}")
            visit(child)

    if index.is_file():
        visit(index)
    for path in config.chapter_files():
        path = path.resolve()
        if path not in seen:
            seen.add(path)
            order.append(path)
    return order


def strip_slide_marks(text: str) -> str:
    """Apply DIALECT 6: drop ``[**``/``**]``-style marks, drop ``[~~ ~~]`` text."""
    if "**" in text:
        for pattern in _SLIDE_KEEP:
            text = pattern.sub(r"\1", text)
    if "~~" in text:
        for pattern in _SLIDE_DROP:
            # dropped text leaves its line breaks, so later lines keep their numbers
            text = pattern.sub(lambda match: "\n" * match.group(0).count("\n"), text)
    return text


def _closes_fence(line: str, length: int) -> bool:
    stripped = line.strip()
    return len(stripped) >= length and stripped == "`" * len(stripped)


def _split_names(raw: str) -> list[str]:
    return [name for name in re.split(r"[,\s]+", raw.strip()) if name]


class _Parser:
    """The line pass. State: an open code cell, an open text fence, an open
    tab prose block, and the text lines collected since the last cell."""

    def __init__(self, path: Path, tabs: tuple[str, ...], known: set[str]):
        self.path = path
        self.tabs = tabs
        self.known = known
        self.doc = Document(path=path, tabs=tabs)
        self.text: list[tuple[int, str, bool]] = []  # (line number, line, inside a text fence)
        self.prose_tabs: tuple[str, ...] | None = None  # open tab prose block
        self.prose_line = 0  # the open block's :begin_tab: line
        self.prose_cell_line = 0  # "line" of its next cell; 0 after a code cell interrupted it
        self.names_seen: dict[tuple[str, str], tuple[str, ...]] = {}  # (raw names, mark) -> its tabs

    def error(self, line, message):
        raise SourceError(self.path, line, message)

    # -- the pass -------------------------------------------------------------

    def parse(self, text: str) -> Document:
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        code_open = 0  # line of an open code cell's fence, 0 if none
        code_body: list[tuple[int, str]] = []
        fence_len = 0  # backticks of the open fence (code cell or text)
        fence_line = 0
        text_fence = False
        for number, line in enumerate(lines, 1):
            if code_open:
                if "```" in line and _closes_fence(line, fence_len):
                    self.add_code_cell(code_open, number, code_body)
                    code_open, code_body = 0, []
                else:
                    code_body.append((number, line))
                continue
            if text_fence:
                self.text.append((number, line, True))
                if "```" in line and _closes_fence(line, fence_len):
                    text_fence = False
                continue
            stripped = line.strip()
            first = stripped[:1]
            match = _FENCE_OPEN.match(line) if first == "`" else None
            if match:
                fence_len, fence_line = len(match.group(1)), number
                if _CODE_INFO.match(match.group(2).strip()):
                    self.flush_text()
                    code_open = number
                else:
                    text_fence = True
                    self.text.append((number, line, True))
                continue
            if first == ":" and self.tab_prose_mark(number, stripped):
                continue
            self.text.append((number, line, False))
        if code_open:
            self.error(code_open, f"code cell is never closed: no line of at least {fence_len} backticks after it")
        if text_fence:
            self.error(fence_line, f"code fence is never closed: no line of at least {fence_len} backticks after it")
        if self.prose_tabs is not None:
            self.error(self.prose_line, ":begin_tab: is never closed by :end_tab:")
        self.flush_text()
        _Structure(self.doc).read()
        _assign_ids(self.doc.cells)
        return self.doc

    def tab_prose_mark(self, number, stripped) -> bool:
        """Handle :begin_tab: and :end_tab: (DIALECT 3). True when the line was one."""
        if stripped == ":end_tab:":
            if self.prose_tabs is None:
                self.error(number, ":end_tab: without a :begin_tab: before it")
            self.flush_text(end_line=number)
            self.prose_tabs = None
            return True
        if not stripped.startswith(":begin_tab:"):
            return False
        match = _MARK_LINE.match(stripped)
        if not match or match.group(1) != "begin_tab":
            self.error(number, ":begin_tab: needs the tab names in backticks, e.g. :begin_tab:`pytorch, mxnet`")
        names = self.tab_names(number, match.group(2).strip(), ":begin_tab:")
        if self.prose_tabs is not None:
            warning = f"{self.path}:{number}: warning: :begin_tab: while the tab prose opened at line {self.prose_line} is still open; that block ends here"
            self.doc.warnings.append(warning)
            print(warning, file=sys.stderr)
        self.flush_text()
        self.prose_tabs, self.prose_line, self.prose_cell_line = names, number, number
        return True

    def tab_names(self, number, raw, mark) -> tuple[str, ...]:
        """Tab names of a mark, `all` expanded, checked against the known tabs."""
        cached = self.names_seen.get((raw, mark))
        if cached is not None:
            return cached
        names = _split_names(raw)
        if not names:
            self.error(number, f"{mark} names no tab; write e.g. {mark} pytorch, mxnet (or all)")
        for name in names:
            if name != "all" and name not in self.known:
                self.error(number, f"unknown tab '{name}' in {mark}; the configured tabs are: {', '.join(self.known_in_order())}")
        if mark != "tab.selected()":  # only cell marks and tab prose make a notebook exist
            self.doc.named_tabs.update(name for name in names if name != "all")
        result = self.names_seen[raw, mark] = self.tabs if "all" in names else tuple(dict.fromkeys(names))
        return result

    def known_in_order(self):
        return [*self.tabs, *sorted(self.known - set(self.tabs))]

    def flush_text(self, end_line=None):
        """Turn the collected text lines into a TEXT or TAB_TEXT cell."""
        lines = self.text
        self.text = []
        prose = self.prose_tabs
        prose_line = self.prose_cell_line
        self.prose_cell_line = 0  # text after an interrupting code cell starts a new cell
        start, end = 0, len(lines)
        while start < end and not lines[start][1].strip():
            start += 1
        while end > start and not lines[end - 1][1].strip():
            end -= 1
        if start == end:
            return
        body = lines[start:end]
        if any([fenced for _, _, fenced in body]):
            # slide marks apply to prose only, not to the inside of fences
            parts, run, run_fenced = [], [], False
            for _, line, fenced in body:
                if run and fenced != run_fenced:
                    parts.append("\n".join(run) if run_fenced else strip_slide_marks("\n".join(run)))
                    run = []
                run.append(line)
                run_fenced = fenced
            parts.append("\n".join(run) if run_fenced else strip_slide_marks("\n".join(run)))
            text = "\n".join(parts)
        else:
            text = strip_slide_marks("\n".join(line for _, line, _ in body))
        raw = "\n".join(line for _, line, _ in body)
        if prose is None:
            cell = Cell(TEXT, body[0][0], body[-1][0], text=text, text_line=body[0][0], raw_text=raw)
        else:
            cell = Cell(TAB_TEXT, prose_line or body[0][0], end_line or body[-1][0], text=text, tabs=prose, text_line=body[0][0], raw_text=raw)
        self.doc.cells.append(cell)

    # -- code cells -------------------------------------------------------------

    def add_code_cell(self, start, end, body):
        """Build a CODE cell from the lines between the fences (or drop the selector cell)."""
        if any("d2lbook.tab" in line and "%load_ext" in line for _, line in body):
            for number, line in body:
                match = _REQUIRED_LIBS.match(line)
                if match:
                    libs = [m.group(2) for m in _QUOTED.finditer(match.group(1))]
                    if not libs:
                        self.error(number, "#required_libs(...) lists no package; write e.g. #required_libs(\"pandas==2.2.3\")")
                    self.doc.required_libs.extend(libs)
            return
        index = 0
        while index < len(body) and not body[index][1].strip():
            index += 1
        tabs = (self.tabs[0],)
        if index < len(body):
            number, line = body[index]
            if line.lstrip().startswith(("%%tab", "#")):
                match = _TAB_MARK.match(line.strip())
                if match:
                    mark = "%%tab" if line.lstrip().startswith("%%") else "#@tab"
                    tabs = self.tab_names(number, match.group(1) or "", mark)
                    index += 1
        body = body[index:]
        plain = "\n".join([line for _, line in body])
        if "\t" not in plain and "@hide" not in plain and "tab.selected" not in plain:
            # the common case: the code is the same in every tab, as written
            self.doc.cells.append(Cell(CODE, start, end, tabs=tabs, code=body))
            return
        hide = None
        code: list[tuple[int, str]] = []
        only: dict[int, frozenset[str]] = {}
        # The open tab.selected branch: (indent of its `if`, tabs that keep its body).
        # Branches do not nest (DIALECT 1, as d2lbook): an `if tab.selected` inside
        # a branch ends it and opens the next, and kept lines lose 4 spaces once.
        branch: tuple[int, frozenset[str]] | None = None
        for number, line in body:
            if "\t" in line and "\t" in line[: len(line) - len(line.lstrip())]:
                self.error(number, "tab character in code indentation; indent code with spaces")
            if "@hide" in line:
                match = _HIDE.search(line)
                if match:
                    mark = {None: "cell", "_code": "code", "_output": "output"}[match.group(1)]
                    hide = mark if hide in (None, mark) else "cell"
                    line = (line[: match.start()] + line[match.end() :]).rstrip()
                    if not line.strip():
                        continue
            stripped = line.lstrip(" ")
            if not stripped:
                if branch:
                    only[number] = branch[1]
                code.append((number, ""))
                continue
            indent = len(line) - len(stripped)
            if branch and indent <= branch[0]:
                branch = None
            if stripped.startswith("if") and "tab.selected" in stripped:
                match = _SELECTED_IF.match(line)
                if match:
                    names = " ".join(m.group(2) for m in _QUOTED.finditer(match.group(2)))
                    selected = frozenset(self.tab_names(number, names, "tab.selected()"))
                    rest = match.group(3)
                    if rest and not rest.startswith("#"):  # `if tab.selected('x'): statement`
                        branch = None
                        only[number] = selected
                        code.append((number, " " * indent + rest))
                    else:
                        branch = (indent, selected)
                    continue
            if branch:
                only[number] = branch[1]
                code.append((number, line[min(4, indent) :]))
            else:
                code.append((number, line))
        cell = Cell(CODE, start, end, tabs=tabs, hide=hide, code=code, only=only)
        self.doc.cells.append(cell)


# -- the structure pass -----------------------------------------------------------------


@functools.cache
def _block_parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table"])


def _block_tokens(text: str) -> list:
    """markdown-it's block tokens of ``text`` (no inline pass: only the structure is needed)."""
    from markdown_it.rules_block import StateBlock

    md = _block_parser()
    state = StateBlock(text, md, {}, [])
    md.block.tokenize(state, 0, state.lineMax)
    return state.tokens


class _Structure:
    """Reads the blocks of every text cell and attaches the marks of DIALECT 4 to them."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.label_lines: dict[str, int] = {}

    def problem(self, line, message):
        self.doc.errors.append(SourceError(self.doc.path, line, message))

    def warn(self, line, message):
        self.doc.warnings.append(f"{self.doc.path}:{line}: warning: {message}")

    def read(self) -> None:
        section = None
        for cell in self.doc.cells:
            if cell.kind != CODE:
                self.read_cell(cell)
                headings = [block for block in cell.blocks if isinstance(block, Heading)]
                section = headings[-1] if headings else section
            cell.section = section
        self.doc.items.sort(key=lambda item: item.line)

    def read_cell(self, cell: Cell) -> None:
        first = cell.text_line
        lines = cell.text.split("\n")
        fences = _fence_lines(lines)
        marks: dict[int, tuple[str, str]] = {}
        for index, line in enumerate(lines):
            if index not in fences and ":`" in line:
                match = _STRUCT_MARK.match(line)
                if match:
                    marks[index] = (match.group(1), match.group(2).strip())
        captions = {}
        for index, line in enumerate(lines):
            if index in fences or index in marks or not line.startswith(":"):
                continue
            match = _CAPTION_LINE.match(line)
            after = _next_content(lines, index, marks)
            if match and after is not None and lines[after].lstrip().startswith("|"):
                captions[index] = match.group(1)
        blanked = ["" if index in marks or index in captions else line for index, line in enumerate(lines)]
        tokens = _block_tokens("\n".join(blanked))
        code_lines = set()
        owners: dict[int, object] = {}  # line index -> the structural block it belongs to
        structural = []  # (start, end, block), in order
        for position, token in enumerate(tokens):
            if token.type in ("fence", "code_block") and token.map:
                code_lines.update(range(token.map[0], token.map[1]))
            if token.level != 0 or not token.map or token.nesting == -1:
                continue
            start, end = token.map
            block = self.block_of(token, tokens, position, blanked, start, end, first)
            if block is not None:
                structural.append((start, end, block))
                for index in range(start, end):
                    owners[index] = block
        self.attach_marks(lines, blanked, marks, captions, owners, structural, first)
        cell.blocks = self.blocks_with_prose(blanked, structural, code_lines, first)
        for index, line in enumerate(blanked):
            if index in code_lines:
                continue
            if ("](" in line or "<img" in line.lower()) and not isinstance(owners.get(index), Figure):
                for match in _INLINE_IMAGE.finditer(line):
                    self.doc.images.append((match.group(1) or match.group(2), first + index))
            if "`" in line and ":" in line:
                for match in _ROLE.finditer(line):
                    role, target = match.groups()
                    targets = tuple(_split_names(target.replace(",", " "))) if role in _CITE_ROLES else (target.strip(),)
                    self.doc.references.append(Reference(role, targets, first + index))

    def block_of(self, token, tokens, position, lines, start, end, first):
        """The structural block a top-level token starts, or None for prose."""
        line = first + start
        if token.type == "heading_open":
            block = Heading(int(token.tag[1:]), tokens[position + 1].content.strip(), line)
        elif token.type == "table_open":
            block = Table("\n".join(lines[start:end]), line)
        elif token.type == "paragraph_open":
            match = _FIGURE_PARAGRAPH.match(tokens[position + 1].content)
            if not match:
                return None
            rest = match.group("rest").strip()
            if rest:
                self.warn(line, f"text after the figure on its line is not part of its caption: '{rest[:40]}'")
                return None
            block = Figure(" ".join(match.group("caption").split()), match.group("path"), line)
        elif token.type == "fence":
            info = token.info.strip().split()
            kind = info[0].lower() if info else ""
            if kind == "toc":
                return self.toc(token.content, line)
            if kind == "eval_rst":
                return self.eval_rst(token.content, line)
            return None
        else:
            return None
        self.doc.items.append(block)
        return block

    def toc(self, content: str, line: int) -> Toc:
        toc = Toc([], line)
        for offset, entry in enumerate(content.split("\n"), 1):
            entry = entry.strip()
            if not entry:
                continue
            if entry.startswith(":"):
                option, _, value = entry[1:].partition(":")
                if option == "numbered":
                    toc.numbered = True
                elif option == "maxdepth" and value.strip().isdigit():
                    toc.maxdepth = int(value)
                else:
                    self.warn(line + offset, f"unknown toc option '{entry}' (known: :maxdepth: N, :numbered:)")
                continue
            toc.entries.append((entry, line + offset))
        self.doc.tocs.append(toc)
        return toc

    def eval_rst(self, content: str, line: int):
        """``.. raw:: html`` + ``:file:``: that file's HTML; anything else is reStructuredText this tool does not read."""
        if content.lstrip().startswith(".. bibliography::"):
            return Bibliography(line)
        match = _RAW_HTML_FILE.match(content.rstrip("\n"))
        left_out = Prose("", line)  # the block's lines become nothing on the page
        if not match:
            self.warn(line, "this eval_rst block is reStructuredText, which this tool does not render; it is left out")
            return left_out
        path = match.group(1)
        if not (self.doc.path.parent / path).is_file():
            self.warn(line, f"eval_rst includes the HTML file '{path}', which does not exist; it is left out")
            return left_out
        return RawHtml(path, line)

    def attach_marks(self, lines, blanked, marks, captions, owners, structural, first) -> None:
        """Give each :label:/:width:/:eqlabel: and table caption its block (DIALECT 4)."""
        starts = {start: block for start, _end, block in structural}
        for index, caption in captions.items():
            table = starts.get(_next_content(blanked, index, marks))
            if isinstance(table, Table):
                table.caption = caption
            else:
                self.warn(first + index, f"the caption ':{caption}' is not followed by a table; it is left out")
        for index, (kind, value) in sorted(marks.items()):
            line = first + index
            if not value:
                self.problem(line, f":{kind}: needs a name in backticks")
                continue
            before = _previous_content(blanked, index)
            owner = owners.get(before) if before is not None else None
            touching = before is not None and all(i in marks or i in captions for i in range(before + 1, index))
            after_caption = any(i in captions for i in range(before + 1 if before is not None else 0, index))
            display = before is not None and owner is None and _DISPLAY_END.search(blanked[before] or "")
            if kind == "width":
                if isinstance(owner, Figure) and touching:
                    owner.width = value
                else:
                    self.warn(line, f":width:`{value}` does not follow a figure; it is ignored")
                continue
            if kind == "eqlabel" or (display and not isinstance(owner, (Heading, Figure, Table))):
                if not display:
                    self.problem(line, f":{kind}:`{value}` must be on the line after a $$ ... $$ display")
                    continue
                if kind == "label":
                    self.warn(line, f":label:`{value}` after a display equation is read as :eqlabel:")
                if not touching:
                    self.warn(line, f":eqlabel:`{value}` is separated from its display by blank lines")
                equation = Equation(value, line, first + before)
                self.doc.items.append(equation)
                self.define(Label(value, EQUATION, line, None, equation))
                continue
            below = starts.get(_next_content(blanked, index, marks))
            structural_owner = isinstance(owner, (Heading, Figure, Table))
            if isinstance(below, Table) and (after_caption or not (structural_owner and touching)):
                target = below  # captioned and labelled above the table, as the d2l.ai books write it
            elif structural_owner:
                if not touching:
                    self.warn(line, f":label:`{value}` is separated by blank lines from the {type(owner).__name__.lower()} it labels")
                target = owner
            else:
                self.problem(line, f":label:`{value}` must follow a heading, a figure or a table (or stand above a table, after its caption)")
                continue
            if target.label is not None:
                self.problem(line, f"a second :label: for the same {type(target).__name__.lower()} (already '{target.label}')")
                continue
            target.label = value
            kind_of = {Heading: SECTION, Figure: FIGURE, Table: TABLE}[type(target)]
            title = target.caption if not isinstance(target, Heading) else target.title
            self.define(Label(value, kind_of, line, title, target))

    def define(self, label: Label) -> None:
        first = self.label_lines.get(label.name)
        if first is not None:
            self.problem(label.line, f"label '{label.name}' is defined twice in this file: lines {first} and {label.line}")
            return
        self.label_lines[label.name] = label.line
        self.doc.labels[label.name] = label

    def blocks_with_prose(self, lines, structural, code_lines, first) -> list:
        """The cell's blocks in order: structural ones, and Prose for the lines between them."""
        blocks: list = []
        position = 0

        def prose(start, end):
            if any(lines[i].strip() for i in range(start, end)):
                codes = frozenset(first + i for i in range(start, end) if i in code_lines)
                blocks.append(Prose("\n".join(lines[start:end]), first + start, codes))

        for start, end, block in structural:
            prose(position, start)
            blocks.append(block)
            position = end
        prose(position, len(lines))
        equations = [item for item in self.doc.items if isinstance(item, Equation)]
        for block in blocks:
            if isinstance(block, Prose):
                last = block.line + block.text.count("\n")
                block.equations = {eq.display_line: eq for eq in equations if block.line <= eq.display_line <= last}
        return blocks


def _fence_lines(lines: list[str]) -> set[int]:
    """Indexes of the lines of ``` fences (the line pass keeps text fences in text cells)."""
    inside, length, result = False, 0, set()
    for index, line in enumerate(lines):
        if inside:
            result.add(index)
            if "```" in line and _closes_fence(line, length):
                inside = False
            continue
        match = _FENCE_OPEN.match(line) if line.lstrip().startswith("```") else None
        if match:
            inside, length = True, len(match.group(1))
            result.add(index)
    return result


def _previous_content(lines, index):
    """The index of the last non-blank line before ``index`` (mark lines are blank by now)."""
    index -= 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    return index if index >= 0 else None


def _next_content(lines, index, marks):
    """The index of the next line after ``index`` that is neither blank nor a mark, or None."""
    index += 1
    while index < len(lines) and (not lines[index].strip() or index in marks):
        index += 1
    return index if index < len(lines) else None


def _assign_ids(cells: list[Cell]) -> None:
    """Give every cell its identity: kind and content hashed, plus a count for repeats."""
    seen: dict[str, int] = {}
    for cell in cells:
        if cell.kind == CODE:
            content = "\n".join([cell.hide or "", *cell.tabs, *(text for _, text in cell.code)])
        else:
            content = "\n".join([*cell.tabs, cell.text])
        digest = hashlib.sha1(f"{cell.kind}\0{content}".encode()).hexdigest()[:16]
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        cell.id = f"{cell.kind.replace('_', '-')}-{digest}" + (f"-{count}" if count else "")
