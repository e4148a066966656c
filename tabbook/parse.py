"""Chapter Markdown -> :class:`Document`, in one pass over the file's lines.

This module implements the dialect of ``DIALECT.md`` for a single file: code
cells and their tab marks, the selector cell, ``tab.selected`` branches, tab
prose, labels, references, citations, slide marks and hide marks. Every later
stage (notebooks, library, book checks, HTML) reads a chapter through
:func:`read_document` and never looks at the raw Markdown again.

Errors that can be seen in one file (DIALECT section 10, "within one file")
raise :class:`~tabbook.errors.SourceError` with the line at fault. Checks that
need the whole book (dangling references, unknown citation keys, a label
defined in two files) belong to ``tabbook.book``; this module only records
what they need: ``Document.labels``, ``Document.references``,
``Document.figures`` and ``Document.toc``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tabbook.errors import SourceError

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
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_FIGURE = re.compile(r"^\s*!\[(.*)\]\(\s*([^)\s]+)[^)]*\)")
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


@dataclass
class Heading:
    """A Markdown heading (``#`` to ``######``) outside code fences."""

    level: int
    title: str
    line: int
    label: str | None = None  # the :label: that follows it, if any


@dataclass
class Label:
    """A ``:label:`` or ``:eqlabel:`` defined in this file.

    ``kind`` is SECTION, FIGURE, TABLE or EQUATION; ``title`` is the section
    title, the figure caption or the table caption (None for equations).
    """

    name: str
    kind: str
    line: int
    title: str | None = None


@dataclass
class Reference:
    """A use of a label (role numref/ref/eqref) or of citation keys
    (role cite/citet/citep) in the text, with its line."""

    role: str
    targets: tuple[str, ...]  # one label, or one or more BibTeX keys
    line: int


@dataclass
class Figure:
    """An image ``![caption](path)``; ``path`` is as written (relative to the file)."""

    caption: str
    path: str
    line: int
    label: str | None = None
    width: str | None = None


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
    """

    kind: str
    line: int
    end_line: int
    text: str = ""
    tabs: tuple[str, ...] = ()
    hide: str | None = None
    # CODE: (line number, text) of each line after the tab mark and hide marks
    # are gone, dedented for the tab.selected branches around it; `only` maps
    # the number of a line inside branches to the tabs that keep it.
    code: list[tuple[int, str]] = field(default_factory=list)
    only: dict[int, frozenset[str]] = field(default_factory=dict)
    section: Heading | None = None
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
    ``cells`` are in source order; ``labels`` maps each label defined here to
    its :class:`Label`; ``references`` lists every :numref:/:ref:/:eqref: and
    :cite:/:citet:/:citep: of the text (outside code fences); ``toc`` lists
    the entries of ```toc``` fences as (entry, line); ``required_libs`` comes
    from the selector cell.
    """

    path: Path
    tabs: tuple[str, ...]
    cells: list[Cell] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    labels: dict[str, Label] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    toc: list[tuple[str, int]] = field(default_factory=list)
    required_libs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # tabs named by a tab mark or :begin_tab: other than through `all` (DIALECT 2)
    named_tabs: set[str] = field(default_factory=set)

    @property
    def title(self) -> str | None:
        """The first heading's text: the page title."""
        return self.headings[0].title if self.headings else None

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


def read_document(config, path, tabs=None) -> Document:
    """Read and parse one chapter with the book's tabs (or ``tabs``, e.g. from ``--tabs``).

    Tab names valid in marks are the converted tabs plus every framework the
    config knows (an ``[env-<name>]`` with a kernel), so narrowing ``--tabs``
    does not turn the other frameworks' cells into errors.
    """
    tabs = tuple(tabs or config.tabs)
    known = set(tabs) | {name for name, env in config.envs.items() if env.kernel}
    return parse_markdown(read_source(path), path, tabs, known)


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


def parse_markdown(text: str, path, tabs, known_tabs=None) -> Document:
    """Parse chapter Markdown ``text`` (from ``path``, for messages) for ``tabs``.

    ``tabs`` are the tabs being converted, the first being the default tab;
    ``known_tabs`` are all names allowed in tab marks (default: ``tabs``).
    """
    return _Parser(Path(path), tuple(tabs), set(known_tabs or ()) | set(tabs)).parse(text)


def toc_order(config, documents=None) -> list[Path]:
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
            documents[path] = read_document(config, path)
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
            text = pattern.sub("", text)
    return text


def _closes_fence(line: str, length: int) -> bool:
    stripped = line.strip()
    return len(stripped) >= length and stripped == "`" * len(stripped)


def _split_names(raw: str) -> list[str]:
    return [name for name in re.split(r"[,\s]+", raw.strip()) if name]


class _Parser:
    """The single pass. State: an open code cell, an open text fence, an open
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
        self.section: Heading | None = None
        self.context: tuple[str, object] | None = None  # what a :label: on the next line would label
        self.label_lines: dict[str, int] = {}
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
        fence_info = ""
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
                stripped = line.strip()
                if "```" in line and _closes_fence(line, fence_len):
                    text_fence = False
                    self.context = (TABLE, None) if fence_info == "eval_rst" else None
                elif fence_info == "toc" and stripped and not stripped.startswith(":"):
                    self.doc.toc.append((stripped, number))
                continue
            stripped = line.strip()
            if not stripped:
                self.text.append((number, line, False))
                continue
            first = stripped[0]
            match = _FENCE_OPEN.match(line) if first == "`" else None
            if match:
                fence_len, fence_line = len(match.group(1)), number
                info = match.group(2).strip()
                if _CODE_INFO.match(info):
                    self.flush_text()
                    code_open = number
                else:
                    fence_info = info.split()[0].lower() if info else ""
                    text_fence = True
                    self.text.append((number, line, True))
                continue
            if first == ":":
                if self.mark_line(number, stripped):
                    continue
            elif first == "#":
                self.heading(number, stripped)
            elif first == "!":
                self.figure(number, stripped)
            else:
                self.context = self.line_context(stripped)
            if "`" in line and ":" in line:
                for match in _ROLE.finditer(line):
                    role, target = match.groups()
                    targets = tuple(_split_names(target.replace(",", " "))) if role in _CITE_ROLES else (target.strip(),)
                    self.doc.references.append(Reference(role, targets, number))
            self.text.append((number, line, False))
        if code_open:
            self.error(code_open, f"code cell is never closed: no line of at least {fence_len} backticks after it")
        if text_fence:
            self.error(fence_line, f"code fence is never closed: no line of at least {fence_len} backticks after it")
        if self.prose_tabs is not None:
            self.error(self.prose_line, ":begin_tab: is never closed by :end_tab:")
        self.flush_text()
        return self.doc

    # -- text lines -------------------------------------------------------------

    def line_context(self, stripped):
        if stripped.startswith("|"):
            caption = self.context[1] if self.context and self.context[0] in (TABLE, "caption") else None
            return (TABLE, caption)
        if stripped.endswith("$$"):
            return (EQUATION, None)
        return None

    def heading(self, number, stripped):
        match = _HEADING.match(stripped)
        if not match:
            self.context = None
            return
        heading = Heading(len(match.group(1)), match.group(2), number)
        self.doc.headings.append(heading)
        self.section = heading
        self.context = (SECTION, heading)

    def figure(self, number, stripped):
        match = _FIGURE.match(stripped)
        if not match:
            self.context = None
            return
        fig = Figure(match.group(1), match.group(2), number)
        self.doc.figures.append(fig)
        self.context = (FIGURE, fig)

    def mark_line(self, number, stripped) -> bool:
        """Handle a line starting with ':'. True when the line is consumed
        (tab prose marks are not kept in the Markdown)."""
        if stripped == ":end_tab:":
            if self.prose_tabs is None:
                self.error(number, ":end_tab: without a :begin_tab: before it")
            self.flush_text(end_line=number)
            self.prose_tabs = None
            return True
        match = _MARK_LINE.match(stripped)
        if not match:
            if stripped.startswith(":begin_tab:"):
                self.error(number, ":begin_tab: needs the tab names in backticks, e.g. :begin_tab:`pytorch, mxnet`")
            # ":Caption text" before a table gives the table its caption
            self.context = ("caption", stripped[1:].strip()) if not stripped.startswith("::") else None
            return False
        kind, value = match.groups()
        value = value.strip()
        if kind == "begin_tab":
            names = self.tab_names(number, value, ":begin_tab:")
            if self.prose_tabs is not None:
                warning = f"{self.path}:{number}: warning: :begin_tab: while the tab prose opened at line {self.prose_line} is still open; that block ends here"
                self.doc.warnings.append(warning)
                print(warning, file=sys.stderr)
            self.flush_text()
            self.prose_tabs, self.prose_line, self.prose_cell_line = names, number, number
            return True
        if kind == "width":
            if self.context and self.context[0] == FIGURE:
                self.context[1].width = value
            return False  # :width: keeps the label context of the figure
        if not value:
            self.error(number, f":{kind}: needs a name in backticks")
        context = self.context
        if kind == "eqlabel":
            if not context or context[0] != EQUATION:
                self.error(number, f":eqlabel:`{value}` must be on the line after a $$ ... $$ display")
            self.define_label(Label(value, EQUATION, number))
        else:
            if not context:
                self.error(number, f":label:`{value}` must follow a heading, a figure or a table")
            kind_of, item = context
            if kind_of == SECTION:
                item.label = value
                self.define_label(Label(value, SECTION, number, item.title))
            elif kind_of == FIGURE:
                item.label = value
                self.define_label(Label(value, FIGURE, number, item.caption))
            elif kind_of == TABLE:
                self.define_label(Label(value, TABLE, number, item))
            else:
                self.error(number, f":label:`{value}` must follow a heading, a figure or a table (use :eqlabel: for equations)")
        return False

    def define_label(self, label: Label):
        first = self.label_lines.get(label.name)
        if first is not None:
            self.error(label.line, f"label '{label.name}' is defined twice in this file: lines {first} and {label.line}")
        self.label_lines[label.name] = label.line
        self.doc.labels[label.name] = label

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
        if prose is None:
            cell = Cell(TEXT, body[0][0], body[-1][0], text=text, section=self.section)
        else:
            cell = Cell(TAB_TEXT, prose_line or body[0][0], end_line or body[-1][0], text=text, tabs=prose, section=self.section)
        self.doc.cells.append(cell)

    # -- code cells -------------------------------------------------------------

    def add_code_cell(self, start, end, body):
        """Build a CODE cell from the lines between the fences (or drop the selector cell)."""
        self.context = None
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
            self.doc.cells.append(Cell(CODE, start, end, tabs=tabs, code=body, section=self.section))
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
        cell = Cell(CODE, start, end, tabs=tabs, hide=hide, code=code, only=only, section=self.section)
        self.doc.cells.append(cell)
