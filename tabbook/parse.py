"""Chapter Markdown -> :class:`Document`: the one reader of the dialect.

This module implements ``DIALECT.md`` for a single file: code cells and their
tab marks, the selector cell, ``tab.selected`` branches, tab prose, labels,
references, citations, math, slide marks and hide marks. Every later stage
(notebooks, library, book checks, HTML, print, slides, reader notebooks,
search) reads a chapter through :func:`read_document` and works on the model
it returns; no other module looks for the dialect's marks in text.

Three passes, one reader:

- The **line pass** cuts the file into cells (code fences, tab marks, tab
  prose) and reads each text cell's slide marks (:class:`SlideMark`), which it
  strips from the book's text.
- The **structure pass** reads each text cell's blocks with markdown-it's
  block parser, so that what counts as a heading, a table or code is exactly
  CommonMark's, and attaches the marks of DIALECT 4 (``:label:``, ``:width:``,
  ``:eqlabel:``, table captions) to them: ``Cell.blocks`` (Heading, Figure,
  Table, Toc, RawHtml, Bibliography and Prose blocks) and ``Document.items``,
  the numbered things in source order.
- The **inline pass** finds, in every piece of text a reader sees (prose,
  titles, captions, tables, slide text), the dialect's inline marks: roles
  (:class:`Reference`, one rule for splitting citation keys), math
  (:class:`Math`, displays carrying their :class:`Equation`) and code spans
  (:class:`Code`, inside which nothing is a mark). The result is an
  :class:`Inline`: the text and its spans, with offsets and lines.

Errors that break the file (an unclosed fence, an unknown tab) raise
:class:`~tabbook.errors.SourceError` at once. Misplaced marks are collected in
``Document.errors`` (and warnings in ``Document.warnings``), so that
``tabbook check`` can report every problem of a book in one run; converters
raise them (:meth:`Document.raise_errors`). Slide-mark problems are kept apart
(``Document.slide_problems``): they matter to the book and its decks, not to
converting one file into notebooks. Checks that need the whole book (dangling
references, unknown citation keys, a label defined in two files) belong to
``tabbook.book``.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import re
import sys
from dataclasses import dataclass, field
from operator import itemgetter
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

# The two dialects (config.ini [build] dialect): d2lbook's (the d2l.ai books), and the
# d2l authors' 2026 sources (smolix/d2l-neu), which add Pandoc's fenced divs, spans
# and heading attributes, give untagged code to every framework and cut slides out
# of `.slide` divs instead of slide marks.
D2LBOOK = "d2lbook"
D2L_NEU = "d2l-neu"
DIALECTS = (D2LBOOK, D2L_NEU)

# The roles of DIALECT 4 and 5.
ROLES = ("numref", "ref", "eqref", "cite", "citet", "citep")
CITE_ROLES = frozenset({"cite", "citet", "citep"})

# Fences as d2lbook reads them (notedown): a run of three or more backticks or
# tildes at the start of a line opens one, and the first later line that is
# exactly that run closes it (DIALECT 1 and the README's dialect notes).
_FENCE_RUN = re.compile(r"^(`{3,}|~{3,})")
_CODE_INFO = re.compile(r"^\{\s*\.python\s+\.input(\s[^}]*)?\}$")
# A tab mark on any line of a code cell, commented or not (DIALECT 1).
_TAB_MARK = re.compile(r"^\s*(?:#\s*(@tab)|(?:#\s*)?(%%tab))(?:\s+([^#\n]*))?(?:#.*)?$")
_SELECTED_IF = re.compile(r"^( *)if\s+tab\.selected\((.*)\)\s*:\s*(.*)$")
_QUOTED = re.compile(r"""(['"])(.*?)\1""")
_HIDE = re.compile(r"#\s*@hide(_code|_output)?\b")
_REQUIRED_LIBS = re.compile(r"^\s*#\s*required_libs\((.*)\)\s*$")
_SAVE_MARK = re.compile(r"\s*#\s*@save\b")
_MARK_LINE = re.compile(r"^:(label|eqlabel|width|begin_tab):`([^`]*)`$")
_KEY_SEPARATORS = re.compile(r"[,\s]+")
# Slide marks (DIALECT 6): the eight tokens; the scanner pairs them.
_SLIDE_TOKEN = re.compile(r"\[\*\*|\(\*\*|\[~~|\(~~|\*\*\]|\*\*\)|~~\]|~~\)")
_SLIDE_CLOSER = {"[**": "**]", "(**": "**)", "[~~": "~~]", "(~~": "~~)"}
# The inline pass: where a role, a code span, an escaped dollar or math may start.
_INLINE_START = re.compile(r":(" + "|".join(ROLES) + r"):`|`+|\\\$|\$")
_BACKTICKS = re.compile(r"`+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# The structure pass: the marks of DIALECT 4 on lines of their own, a table's
# caption line above it (":Caption", not a role such as ":numref:`x` ..."),
# a figure paragraph (its caption may run over several lines).
_STRUCT_MARK = re.compile(r"^\s*:(label|eqlabel|width):`([^`]*)`\s*$")
_STRUCT_ROLE = re.compile(r":(?:label|eqlabel|width):`[^`]*`")
_TRAILING_EQLABEL = re.compile(r"^(.*\$\$)\s*:eqlabel:`([^`]*)`\s*$")  # $$ ... $$ :eqlabel:`x` on one line
_BIBLIOGRAPHY_ROLE = re.compile(r"^:bibliography:`([^`]+)`$")
# d2l-neu (Pandoc): fenced divs, heading attributes, a cell named on a slide, a pause
_DIV_FENCE = re.compile(r"^(:{3,})\s*(?:\{([^}]*)\}|([\w-]+))?\s*$")
_HEADING_ATTRIBUTES = re.compile(r"\s*\{([^{}]*)\}\s*$")
_ATTRIBUTE = re.compile(r"""([.#])([\w-]+)|([\w-]+)=(?:"([^"]*)"|'([^']*)'|(\S+))|(-)(?=\s|$)""")
_CELL_REFERENCE = re.compile(r"^@([A-Za-z][\w-]*)$")
_PAUSE = re.compile(r"^\. \. \.$")
_FENCE_ID = re.compile(r"#([\w-]+)")
_CAPTION_LINE = re.compile(r"^\s*:(?![:\s])(?!\w+:`)(.+?)\s*$")
_FIGURE_TARGET = re.compile(r'\(\s*(?P<path>[^)\s]+)(?:\s+"[^"]*")?\s*\)(?P<rest>.*)$', re.DOTALL)
# Images inside prose: ![alt](path), and <img ... src="path"> (scanned tag by tag, so that a
# line of thousands of "![" or "<img" without their ends stays linear to read).
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]\n]{0,2000}\]\(\s*<?([^)\s>]+)")
_IMG_TAG = re.compile(r"<img\b", re.IGNORECASE)
_IMG_SRC = re.compile(r"\bsrc\s*=\s*[\"']([^\"']+)", re.IGNORECASE)
_DISPLAY_END = re.compile(r"\$\$\s*$")
_RAW_HTML_FILE = re.compile(r"^\s*\.\.\s+raw::\s+html\s*\n\s+:file:\s*(\S+)\s*$")


# -- the inline model -------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A role in the text: a use of a label (numref/ref/eqref) or of citation keys
    (cite/citet/citep), with its line."""

    role: str
    targets: tuple[str, ...]  # one label, or one or more BibTeX keys
    line: int

    @property
    def is_citation(self) -> bool:
        return self.role in CITE_ROLES


@dataclass(frozen=True)
class Math:
    """``$tex$`` or ``$$tex$$``; a labelled display carries its :class:`Equation`."""

    tex: str
    display: bool
    line: int
    end_line: int
    equation: Equation | None = None


@dataclass(frozen=True)
class Code:
    """An inline code span: its text is code, never a mark."""

    text: str


@dataclass(frozen=True)
class Span:
    """One inline mark of an :class:`Inline`: ``text[start:end]`` is its source."""

    start: int
    end: int
    mark: Reference | Math | Code


@dataclass(frozen=True)
class Inline:
    """Markdown a reader sees (prose, a title, a caption), with its inline marks found.

    ``line`` is the line of the text's first character; ``spans`` are in
    order and never overlap. Views render the Markdown between the spans as
    Markdown and each span as they need (:meth:`replace`).
    """

    text: str
    line: int
    spans: tuple[Span, ...] = ()

    def replace(self, show) -> str:
        """The text with every span replaced by ``show(mark, source)`` (a string)."""
        if not self.spans:
            return self.text
        pieces, position = [], 0
        for span in self.spans:
            pieces.append(self.text[position : span.start])
            pieces.append(show(span.mark, self.text[span.start : span.end]))
            position = span.end
        pieces.append(self.text[position:])
        return "".join(pieces)

    @property
    def references(self) -> list[Reference]:
        return [span.mark for span in self.spans if isinstance(span.mark, Reference)]

    @property
    def math(self) -> list[Math]:
        return [span.mark for span in self.spans if isinstance(span.mark, Math)]


_GREEK = {
    name: chr(code)
    for name, code in zip(
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega".split(),
        [*range(0x3B1, 0x3C2), *range(0x3C3, 0x3CA)],
        strict=True,
    )
}
_GREEK.update({name.capitalize(): char.upper() for name, char in _GREEK.items()})
_TEX_COMMAND = re.compile(r"\\([A-Za-z]+)")


def tex_words(tex: str) -> str:
    """Math as the words a reader reads, for search and ids: ``\\sigma(x)`` -> ``σ x``, ``K`` -> ``K``.

    Greek letters become their characters; other commands and symbols go."""
    text = _TEX_COMMAND.sub(lambda match: f" {_GREEK.get(match.group(1), '')} ", tex)
    return " ".join(re.sub(r"[\W_]", " ", text).split())


# -- the structure model ------------------------------------------------------------------


@dataclass(eq=False)
class Heading:
    """A heading of a text cell (CommonMark's ATX or setext heading); d2l-neu's
    ``{.unnumbered}`` (or ``{-}``) and ``{#id}`` after it are read into ``numbered`` and ``anchor``."""

    level: int
    title: Inline
    line: int
    label: str | None = None
    numbered: bool = True
    anchor: str | None = None


@dataclass(eq=False)
class Div:
    """A Pandoc fenced div (d2l-neu): ``::: {.class key="value"}`` ... ``:::``, holding blocks.

    A div of class ``slide`` is a slide: it is not on the book's page; its
    ``title``, ``only`` and ``except`` attributes say what the deck shows and for
    which frameworks."""

    classes: tuple[str, ...]
    attributes: dict[str, str]
    line: int
    end_line: int
    blocks: list = field(default_factory=list)

    @property
    def is_slide(self) -> bool:
        return "slide" in self.classes

    def for_tab(self, tab: str) -> bool:
        """Whether a slide is for ``tab`` (its ``only`` / ``except`` lists of frameworks)."""
        only, excluded = self.attributes.get("only"), self.attributes.get("except")
        if only is not None and tab not in _split_names(only):
            return False
        return excluded is None or tab not in _split_names(excluded)


@dataclass(eq=False)
class CellReference:
    """``@id`` on a line of its own in a slide: the code cell whose fence id is ``id``, shown there."""

    cell_id: str
    line: int


@dataclass(eq=False)
class Pause:
    """``. . .`` on a slide: what follows appears on the next step."""

    line: int


@dataclass(eq=False)
class Figure:
    """A paragraph that is an image ``![caption](path)``; ``path`` is as written."""

    caption: Inline
    path: str
    line: int
    label: str | None = None
    width: str | None = None


@dataclass(eq=False)
class Table:
    """A table; ``body`` is its Markdown, starting at its first row's line."""

    body: Inline
    line: int
    caption: Inline | None = None
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
    """Every work the book cites, listed where it stands: an ```eval_rst``` block holding
    ``.. bibliography::`` (d2l.ai's references page) or a paragraph ``:bibliography:`file.bib```
    (d2lbook's role, which also names the file)."""

    line: int
    path: str | None = None


@dataclass(eq=False)
class Prose:
    """Markdown shown as it is: paragraphs, lists, quotes, other fences.

    ``inline`` holds the text (mark lines blank, so every line keeps its
    number) and its spans; ``code_lines`` are the source lines of code blocks
    inside it, where nothing is a mark.
    """

    inline: Inline
    code_lines: frozenset[int] = frozenset()

    @property
    def line(self) -> int:
        return self.inline.line

    @property
    def text(self) -> str:
        return self.inline.text


@dataclass(eq=False)
class SlideMark:
    """A slide mark of a text cell (DIALECT 6): ``[**``/``(**`` keep their text in the
    book, ``[~~``/``(~~`` are slide-only. ``inline`` is the marked text, the
    book's structure marks (``:label:`` and the like) left out."""

    opener: str
    inline: Inline
    line: int

    @property
    def starts_slide(self) -> bool:
        return self.opener.startswith("[")

    @property
    def slide_only(self) -> bool:
        return self.opener.endswith("~~")


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
    item: object = None

    @property
    def title(self) -> Inline | None:
        item = self.item
        return item.title if isinstance(item, Heading) else getattr(item, "caption", None)


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
    ``blocks`` (the structure pass), ``slide_marks`` and ``text_line``, the
    line of their text's first line.
    """

    kind: str
    line: int
    end_line: int
    text: str = ""
    text_line: int = 0
    blocks: list = field(default_factory=list)
    slide_marks: list[SlideMark] = field(default_factory=list)
    fence_lines: frozenset[int] = frozenset()  # TEXT / TAB_TEXT: the lines of fences (as the line pass found them)
    id: str = ""
    tabs: tuple[str, ...] = ()
    hide: str | None = None
    # CODE: (line number, text) of each line after the tab mark and hide marks
    # are gone, dedented for the tab.selected branches around it; `only` maps
    # the number of a line inside branches to the tabs that keep it.
    code: list[tuple[int, str]] = field(default_factory=list)
    only: dict[int, frozenset[str]] = field(default_factory=dict)
    fence_id: str | None = None  # CODE: d2l-neu's `{.python .input #id}`, kept as the cell's id
    section: Heading | None = None
    _sources: dict | None = None  # tab (None when the same in every tab) -> its code, made once

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
        key = tab if self.only else None
        if self._sources is None:
            self._sources = {}
        source = self._sources.get(key)
        if source is None:
            source = self._sources[key] = "\n".join([text for _, text in self.lines_for(tab)])
        return source

    def shown_in(self, tab: str) -> bool:
        """Whether ``tab``'s view of the page has this cell (DIALECT 2): shared text,
        its tab prose, its non-empty code."""
        if self.kind == TEXT:
            return True
        return tab in self.tabs and (self.kind == TAB_TEXT or bool(self.source_for(tab)))


@dataclass
class Document:
    """Everything later stages need from one chapter file.

    ``tabs`` are the tabs converted now (the first is the default tab);
    ``cells`` are in source order; ``items`` are the headings, figures,
    tables and labelled equations of the text, in source order (what the book
    numbers); ``labels`` maps each label defined here to its :class:`Label`;
    ``references`` lists every role of the text a reader sees (book text and
    slide-only text), in order; ``tocs`` are the ```toc``` fences and ``toc``
    all their entries as (entry, line); ``required_libs`` comes from the
    selector cell. ``errors`` are misplaced marks (SourceErrors, not raised
    yet), ``slide_problems`` bad slide marks, ``warnings`` messages.
    """

    path: Path
    tabs: tuple[str, ...]
    dialect: str = D2LBOOK
    cells: list[Cell] = field(default_factory=list)
    items: list = field(default_factory=list)
    labels: dict[str, Label] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)
    tocs: list[Toc] = field(default_factory=list)
    images: list[tuple[str, int]] = field(default_factory=list)  # inline and raw <img> images: (path, line)
    required_libs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    slide_problems: list[SourceError] = field(default_factory=list)
    # tabs named by a tab mark or :begin_tab: other than through `all` (DIALECT 2)
    named_tabs: set[str] = field(default_factory=set)
    _views: dict = field(default_factory=dict, repr=False)
    _marks_read: bool = field(default=False, repr=False)

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
    def title(self) -> Inline | None:
        """The first heading's title: the page title."""
        return next((item.title for item in self.items if isinstance(item, Heading)), None)

    @property
    def has_code(self) -> bool:
        return any(cell.kind == CODE for cell in self.cells)

    def inlines(self):
        """Every text a reader sees, parsed: prose, titles, captions, tables, slide text (slides included)."""
        for cell in self.cells:
            for block in walk(cell.blocks, slides=True):
                if isinstance(block, Prose):
                    yield block.inline
                elif isinstance(block, Heading):
                    yield block.title
                elif isinstance(block, Figure):
                    yield block.caption
                elif isinstance(block, Table):
                    if block.caption is not None:
                        yield block.caption
                    yield block.body
            for mark in cell.slide_marks:
                yield mark.inline

    @property
    def has_slides(self) -> bool:
        """Slide marks (d2lbook) or ``.slide`` divs (d2l-neu): the page gets a deck."""
        return any(cell.slide_marks or any(isinstance(block, Div) and block.is_slide for block in _divs(cell.blocks)) for cell in self.cells)

    def raise_errors(self) -> None:
        """Raise the collected errors (all of them, in line order), if any."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise SourceErrors(sorted(self.errors, key=lambda e: e.line or 0))

    def read_marks(self) -> Document:
        """The inline pass: roles, math and code spans of every text a reader sees (``references``).

        Done once, and only when asked for: a notebook needs none of it (the
        converter stays as fast as it was), every view of the book does
        (``tabbook.book`` asks for it)."""
        if self._marks_read:
            return self
        self._marks_read = True
        displays = {item.display_line: item for item in self.items if isinstance(item, Equation)}
        for cell in self.cells:
            for block in walk(cell.blocks, slides=True):
                for inline in _Structure.inline_of(block, displays):
                    self.references.extend(inline.references)
            for mark in cell.slide_marks:
                if mark.slide_only:  # the book's own text holds the other marks' roles
                    self.references.extend(mark.inline.references)
        self.references.sort(key=lambda reference: reference.line)
        return self

    def notebook_tabs(self) -> list[str]:
        """The tabs that get a notebook for this file (DIALECT 2), in tab order:
        every tab when the file has no code; else the default tab when a code
        cell or tab prose is for it (untagged, ``all`` or named), and the other
        tabs a code cell or tab prose names explicitly (``all`` does not count)."""
        if self.dialect == D2L_NEU:  # d2l-neu's generator: the tabs some code or prose is for; none without code
            return [tab for tab in self.tabs if self.has_code and any(tab in cell.tabs for cell in self.cells if cell.kind != TEXT)]
        if not self.has_code:
            return list(self.tabs)
        default = self.tabs[0]
        has_default = any(default in cell.tabs for cell in self.cells if cell.kind != TEXT)
        return [tab for tab in self.tabs if (tab == default and has_default) or (tab != default and tab in self.named_tabs)]

    def cells_for(self, tab: str) -> list[Cell]:
        """``tab``'s view of the file: the cells of its notebook, of its slides and of its
        pane of the page (shared text, its tab prose, its non-empty code), computed once."""
        view = self._views.get(tab)
        if view is None:
            view = self._views[tab] = [cell for cell in self.cells if cell.shown_in(tab)]
        return view


def _divs(blocks):
    for block in blocks:
        if isinstance(block, Div):
            yield block
            yield from _divs(block.blocks)


def walk(blocks, slides: bool = False):
    """The blocks with every div's blocks in place of the div (and a slide div's too, with ``slides``)."""
    for block in blocks:
        if isinstance(block, Div):
            if slides or not block.is_slide:
                yield from walk(block.blocks, slides)
        else:
            yield block


def read_document(config, path, tabs=None, collect=False, marks=True) -> Document:
    """Read and parse one chapter with the book's tabs (or ``tabs``, e.g. from ``--tabs``).

    Tab names valid in marks are the converted tabs plus every framework the
    config knows (an ``[env-<name>]`` with a kernel), so narrowing ``--tabs``
    does not turn the other frameworks' cells into errors. With ``collect``,
    misplaced marks stay in ``Document.errors`` instead of being raised. Without
    ``marks`` the inline pass is left for later (:meth:`Document.read_marks`).
    """
    tabs = tuple(tabs or config.tabs)
    known = set(tabs) | {name for name, env in config.envs.items() if env.kernel}
    return parse_markdown(read_source(path), path, tabs, known, collect=collect, dialect=config.dialect, marks=marks)


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


def parse_markdown(text: str, path, tabs, known_tabs=None, collect=False, dialect: str = D2LBOOK, marks=True) -> Document:
    """Parse chapter Markdown ``text`` (from ``path``, for messages) for ``tabs``.

    ``tabs`` are the tabs being converted, the first being the default tab;
    ``known_tabs`` are all names allowed in tab marks (default: ``tabs``).
    Misplaced marks are raised together unless ``collect`` keeps them in
    ``Document.errors``.
    """
    doc = _Parser(Path(path), tuple(tabs), set(known_tabs or ()) | set(tabs), dialect).parse(text)
    if marks:
        doc.read_marks()
    if not collect:
        doc.raise_errors()
    return doc


def split_save_mark(line: str) -> tuple[str, bool]:
    """A code line without its ``#@save`` mark (DIALECT 7), and whether it had one."""
    if "@save" not in line:
        return line, False
    parts = _SAVE_MARK.split(line, maxsplit=1)
    return (parts[0].rstrip(), True) if len(parts) > 1 else (line, False)


def citation_keys(raw: str) -> tuple[str, ...]:
    """The keys of a citation role: separated by commas or spaces (one rule, DIALECT 5)."""
    return tuple(key for key in _KEY_SEPARATORS.split(raw.strip()) if key)


# -- the inline pass ----------------------------------------------------------------------


def read_inline(text: str, line: int, code_lines=frozenset(), displays=None) -> Inline:
    """``text`` (whose first line is ``line``) with its roles, math and code spans found.

    Nothing is looked for on ``code_lines`` (source line numbers of code
    blocks). ``displays`` maps the last line of a labelled display to its
    Equation. Every scan is linear in the text (a backtick run finds its
    closing run by bisection), whatever the input.
    """
    if not any(c in text for c in "`$:"):
        return Inline(text, line)
    spans: list[Span] = []
    newlines = [m.start() for m in re.finditer("\n", text)] if "\n" in text else []
    if not code_lines:
        _scan(text, 0, len(text), line, newlines, displays, spans)
        return Inline(text, line, tuple(spans))
    segment = None  # the offset where the current run of lines outside code starts
    for index, begin in enumerate([0, *(n + 1 for n in newlines)]):
        if line + index in code_lines:
            if segment is not None:
                _scan(text, segment, begin - 1, line, newlines, displays, spans)
                segment = None
        elif segment is None:
            segment = begin
    if segment is not None:
        _scan(text, segment, len(text), line, newlines, displays, spans)
    return Inline(text, line, tuple(spans))


def _line_at(offset: int, first: int, newlines: list[int]) -> int:
    return first + bisect.bisect_left(newlines, offset)


def _scan(text, start, end, first, newlines, displays, spans) -> None:
    """Find the spans of ``text[start:end]`` (no code lines inside), leftmost first, as CommonMark reads code spans."""
    runs: dict[int, list[int]] | None = None  # backtick run length -> their starts, for closing a code span
    no_display_after = end  # no "$$" closes a display at or after this offset
    position = start
    while True:
        match = _INLINE_START.search(text, position, end)
        if match is None:
            return
        at, token = match.start(), match.group(0)
        if match.group(1):  # a role: its argument is everything up to the next backtick
            close = text.find("`", match.end(), end)
            if close > match.end():
                role = match.group(1)
                argument = text[match.end() : close]
                targets = citation_keys(argument) if role in CITE_ROLES else (argument.strip(),)
                spans.append(Span(at, close + 1, Reference(role, targets, _line_at(at, first, newlines))))
                position = close + 1
            else:
                position = match.end() - 1  # no argument: the backtick may open a code span
            continue
        if token[0] == "`":
            opening = len(token)
            if at > 0 and text[at - 1] == "\\":  # an escaped backtick is text
                at, opening = at + 1, opening - 1
                if not opening:
                    position = match.end()
                    continue
            if runs is None:
                runs = {}
                for run in _BACKTICKS.finditer(text, start, end):
                    runs.setdefault(len(run.group(0)), []).append(run.start())
            starts = runs.get(opening, [])
            index = bisect.bisect_right(starts, at)
            if index < len(starts):
                close = starts[index]
                spans.append(Span(at, close + opening, Code(text[at + opening : close])))
                position = close + opening
            else:
                position = match.end()  # never closed: literal backticks
            continue
        if token == "\\$":
            position = match.end()
            continue
        if text.startswith("$$", at) and at + 3 < end and at < no_display_after:
            close = text.find("$$", at + 3, end)
            if close >= 0:
                line, end_line = _line_at(at, first, newlines), _line_at(close, first, newlines)
                equation = displays.get(end_line) if displays else None
                spans.append(Span(at, close + 2, Math(text[at + 2 : close], True, line, end_line, equation)))
                position = close + 2
                continue
            no_display_after = at
        # inline math: $x$, no space inside either end, not across a blank line, no $ inside
        if at + 1 < end and text[at + 1] not in " \t\n$":
            close = text.find("$", at + 1, end)
            if close > 0 and text[close - 1] not in " \t\n\\" and not _BLANK_LINE.search(text, at, close):
                line = _line_at(at, first, newlines)
                spans.append(Span(at, close + 1, Math(text[at + 1 : close], False, line, _line_at(close, first, newlines))))
                position = close + 1
                continue
        position = at + 1


# -- slide marks (DIALECT 6) ----------------------------------------------------------------


def _slide_marks(text: str, first: int) -> tuple[str, list[tuple[str, str, int, int]], tuple[int, str] | None]:
    """The book's text without slide marks, the marks (opener, text, line, offset), and the first problem.

    Marks pair up in order; they do not nest, and ``[**bold**](url)`` is a link.
    A problem (a mark closing nothing, or never closed) ends the scan: the marks
    read so far are stripped, the rest stays as written.
    """
    marks: list[tuple[str, str, int, int]] = []
    cuts: list[tuple[int, int, str]] = []  # (start, end, replacement) of the book's text
    opened: tuple[str, int, int, int] | None = None  # (opener, its offset, offset after it, line)
    problem = None
    for match in _SLIDE_TOKEN.finditer(text):
        token = match.group(0)
        line = first + text.count("\n", 0, match.start())
        link = token == "**]" and text.startswith("(", match.end())
        if token in _SLIDE_CLOSER:
            if opened is not None:
                problem = (opened[3], f"slide mark {opened[0]} is not closed before the {token} of line {line} (slide marks do not nest)")
                break
            opened = (token, match.start(), match.end(), line)
            continue
        if opened is None:
            continue  # a closer with nothing open is text: "(then **Swin**)" ends bold text, "[**x**](url)" a link
        if token != _SLIDE_CLOSER[opened[0]]:
            problem = (line, f"slide mark {opened[0]} (line {opened[3]}) is closed by {token}; expected {_SLIDE_CLOSER[opened[0]]}")
            break
        opener, begin, inside, mark_line = opened
        opened = None
        if link:
            continue  # [**bold**](url): a link, not a mark
        marks.append((opener, text[inside : match.start()], mark_line, inside))
        if opener.endswith("~~"):  # slide-only text leaves its line breaks, so later lines keep their numbers
            cuts.append((begin, match.end(), "\n" * text.count("\n", begin, match.end())))
        else:
            cuts.append((begin, inside, ""))
            cuts.append((match.start(), match.end(), ""))
    if opened is not None and problem is None:
        problem = (opened[3], f"slide mark {opened[0]} is never closed: no {_SLIDE_CLOSER[opened[0]]} after it before the next code cell")
    if not cuts:
        return text, marks, problem
    pieces, position = [], 0
    for begin, stop, replacement in cuts:
        pieces += [text[position:begin], replacement]
        position = stop
    pieces.append(text[position:])
    return "".join(pieces), marks, problem


def _slide_inline(text: str, line: int) -> Inline:
    """A slide mark's text as the slide shows it: the book's structure marks left out."""
    text = "\n".join("" if _STRUCT_MARK.match(part) else part for part in text.split("\n"))
    return read_inline(_STRUCT_ROLE.sub("", text), line)


# -- the line pass --------------------------------------------------------------------------


class _FenceCloser:
    """Where a fence closes, as d2lbook finds it.

    A line starting with N >= 3 backticks (or tildes) opens a fence closed by the
    first later line that is exactly those N characters; with none, by the first
    line of exactly N-1, ..., 3 of them (the info string then starts with the rest
    of the run); with none at all it is no fence. Lines inside a fence open nothing.

    Asked in file order. The common case, an exact closer, is one ``list.index``;
    a run known to be missing after some line is missing after every later one.
    Shorter runs are looked up in an index of the lines that are runs, made the
    first time it is needed: linear in the file whatever it holds.
    """

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.missing: set[str] = set()  # runs no line after the current one is
        self.runs: dict[str, list[int]] | None = None  # run -> the lines that are exactly it

    def close(self, index: int, run: str) -> tuple[int, str] | None:
        """(closing line index, the run that closes) for the fence ``run`` opens at ``index``, or None."""
        if run not in self.missing:
            try:
                return self.lines.index(run, index + 1), run
            except ValueError:
                self.missing.add(run)
        if self.runs is None:
            self.runs = {}
            for number, line in enumerate(self.lines):
                if line[:3] in ("```", "~~~") and line == line[0] * len(line):
                    self.runs.setdefault(line, []).append(number)
        shorter = sorted((other for other in self.runs if other[0] == run[0] and len(other) < len(run)), key=len, reverse=True)
        for other in shorter:
            candidates = self.runs[other]
            at = bisect.bisect_right(candidates, index)
            if at < len(candidates):
                return candidates[at], other
        return None


def _commonmark_fence(lines: list[str], fence: str, info: str) -> str:
    """A fence that CommonMark (markdown-it, Jupyter) closes where d2lbook does: longer than any
    run of its character inside, and of tildes when a backtick fence's info string holds a backtick."""
    char = "~" if fence[0] == "`" and "`" in info else fence[0]
    inside = [len(line.strip()) for line in lines if line.strip() and line.strip() == char * len(line.strip()) and len(line) - len(line.lstrip()) < 4]
    return char * max(len(fence) if char == fence[0] else 3, max(inside, default=0) + 1)


def _attributes(text: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """Pandoc attributes ``.class #id key="value" -``: (classes, {"id": ..., key: value})."""
    classes, values = [], {}
    for match in _ATTRIBUTE.finditer(text):
        if match.group(1) == ".":
            classes.append(match.group(2))
        elif match.group(1) == "#":
            values["id"] = match.group(2)
        elif match.group(7):
            classes.append("-")
        else:
            values[match.group(3)] = next(value for value in match.group(4, 5, 6) if value is not None)
    return tuple(classes), values


def _split_names(raw: str) -> list[str]:
    return [name for name in _KEY_SEPARATORS.split(raw.strip()) if name]


class _Parser:
    """The line pass. State: an open code cell, an open text fence, an open
    tab prose block, and the text lines collected since the last cell."""

    def __init__(self, path: Path, tabs: tuple[str, ...], known: set[str], dialect: str = D2LBOOK):
        self.path = path
        self.tabs = tabs
        self.known = known
        self.neu = dialect == D2L_NEU
        self.doc = Document(path=path, tabs=tabs, dialect=dialect)
        self.text: list[tuple[int, str, bool]] = []  # (line number, line, inside a text fence)
        self.prose_tabs: tuple[str, ...] | None = None  # open tab prose block
        self.prose_line = 0  # the open block's :begin_tab: line
        self.prose_cell_line = 0  # "line" of its next cell; 0 after a code cell interrupted it
        self.names_seen: dict[tuple[str, str], tuple[str, ...]] = {}  # (raw names, mark) -> its tabs

    def error(self, line, message):
        """A problem of this file: collected (the converters raise them all at the end), never fatal here,
        so a file with one mistake still has its labels and tocs and nothing downstream cascades."""
        self.doc.errors.append(SourceError(self.path, line, message))

    # -- the pass -------------------------------------------------------------

    def parse(self, text: str) -> Document:
        if text.startswith("\ufeff"):
            text = text[1:]  # a byte-order mark is not text
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")  # Windows and old Mac line ends
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if self.neu and lines[:1] == ["---"] and "---" in lines[1:]:
            end = lines.index("---", 1)
            lines[: end + 1] = [""] * (end + 1)  # Quarto's front matter: settings, not text
        closer = _FenceCloser(lines)
        numbered = enumerate(lines)
        for at, line in numbered:
            if not line.startswith(("```", "~~~")):
                if "_tab:" in line and line.lstrip()[:1] == ":" and self.tab_prose_mark(at + 1, line.strip()):
                    continue
                self.text.append((at + 1, line, False))
                continue
            number, run = at + 1, _FENCE_RUN.match(line).group(1)
            found = closer.close(at, run)
            if found is None or len(found[1]) < len(run):
                self.unclosed(number, run, line[len(run) :].strip())
            if found is None:
                self.text.append((number, line, False))
                continue
            close, marker = found
            info = line[len(marker) :].strip()
            body = lines[at + 1 : close]
            if marker[0] == "`" and _CODE_INFO.match(info):
                self.flush_text()
                fence_id = _FENCE_ID.search(info) if self.neu else None
                self.add_code_cell(number, close + 1, list(zip(range(at + 2, close + 1), body, strict=True)), fence_id and fence_id.group(1))
            else:
                shown = _commonmark_fence(body, marker, info)
                self.text.append((number, shown + line[len(marker) :], True))
                self.text.extend(zip(range(at + 2, close + 1), body, itertools.repeat(True)))
                self.text.append((close + 1, shown, True))
            next(itertools.islice(numbered, close - at - 1, None), None)  # on after the closing line
        if self.prose_tabs is not None:
            self.error(self.prose_line, ":begin_tab: is never closed by :end_tab:")
        self.flush_text()
        _Structure(self.doc).read()
        _assign_ids(self.doc.cells)
        return self.doc

    def unclosed(self, number: int, run: str, info: str) -> None:
        """A fence no line closes: an error where both readers see one (a code cell, or a fence CommonMark
        would open: a ```` ``` ```` line without backticks after it, or ``~~~``); inline code otherwise."""
        kind = "backticks" if run[0] == "`" else "tildes"
        if run[0] == "`" and _CODE_INFO.match(info):
            self.error(number, f"code cell is never closed: no line of exactly {len(run)} {kind} after it")
        elif run[0] == "~" or "`" not in info:
            self.error(number, f"code fence is never closed: no line of exactly {len(run)} {kind} after it")

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
            return True  # the line is dropped; the text around it stays as it is
        names = self.tab_names(number, match.group(2).strip(), ":begin_tab:")
        if self.prose_tabs is not None:
            warning = f"{self.path}:{number}: warning: :begin_tab: while the tab prose opened at line {self.prose_line} is still open; that block ends here"
            self.doc.warnings.append(warning)
            print(warning, file=sys.stderr)
        self.flush_text()
        self.prose_tabs, self.prose_line, self.prose_cell_line = names, number, number
        return True

    def tab_names(self, number, raw, mark) -> tuple[str, ...]:
        """Tab names of a mark, `all` expanded, checked against the known tabs (a bad name is an error and left out)."""
        cached = self.names_seen.get((raw, mark))
        if cached is not None:
            return cached
        names = _split_names(raw)
        if not names:
            self.error(number, f"{mark} names no tab; write e.g. {mark} pytorch, mxnet (or all)")
        for name in names:
            if name != "all" and name not in self.known:
                self.error(number, f"unknown tab '{name}' in {mark}; the configured tabs are: {', '.join(self.known_in_order())}")
        names = [name for name in names if name == "all" or name in self.known]
        if mark != "tab.selected()":  # only cell marks and tab prose make a notebook exist
            self.doc.named_tabs.update(name for name in names if name != "all")
        if "all" in names:
            result = self.tabs
        else:
            result = tuple(dict.fromkeys(names)) if names else (self.tabs[0],)
        self.names_seen[raw, mark] = result
        return result

    def known_in_order(self):
        return [*self.tabs, *sorted(self.known - set(self.tabs))]

    def flush_text(self, end_line=None):
        """Turn the collected text lines into a TEXT or TAB_TEXT cell, its slide marks read."""
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
        marks: list[SlideMark] = []
        problem = None
        text = "\n".join(map(itemgetter(1), body))
        fenced = frozenset(itertools.compress(map(itemgetter(0), body), map(itemgetter(2), body)))
        if not self.neu and ("**" in text or "~~" in text):
            # slide marks are read in prose only, not inside fences
            parts = []
            for inside, run in itertools.groupby(body, key=itemgetter(2)):
                run = list(run)
                chunk = "\n".join(map(itemgetter(1), run))
                if not inside and problem is None and ("**" in chunk or "~~" in chunk):
                    chunk, found, problem = _slide_marks(chunk, run[0][0])
                    marks += [SlideMark(opener, _slide_inline(mark, mark_line), mark_line) for opener, mark, mark_line, _ in found]
                parts.append(chunk)
            text = "\n".join(parts)
        if problem is not None:
            self.doc.slide_problems.append(SourceError(self.path, *problem))
        first_line = body[0][0]
        if prose is None:
            cell = Cell(TEXT, first_line, body[-1][0], text=text, text_line=first_line, slide_marks=marks, fence_lines=fenced)
        else:
            cell = Cell(TAB_TEXT, prose_line or first_line, end_line or body[-1][0], text=text, tabs=prose, text_line=first_line, slide_marks=marks, fence_lines=fenced)
        self.doc.cells.append(cell)

    # -- code cells -------------------------------------------------------------

    def add_code_cell(self, start, end, body, fence_id=None):
        """Build a CODE cell from the lines between the fences (or drop the selector cell)."""
        plain = "\n".join([line for _, line in body])
        if "d2lbook.tab" in plain and any("d2lbook.tab" in line and "%load_ext" in line for _, line in body):
            for number, line in body:
                match = _REQUIRED_LIBS.match(line)
                if match:
                    libs = [m.group(2) for m in _QUOTED.finditer(match.group(1))]
                    if not libs:
                        self.error(number, "#required_libs(...) lists no package; write e.g. #required_libs(\"pandas==2.2.3\")")
                    self.doc.required_libs.extend(libs)
            return
        tabs = self.tabs if self.neu else (self.tabs[0],)  # an untagged cell: every framework's in d2l-neu
        marks = []
        mentions = plain.count("@tab") + plain.count("%%tab")
        first = _TAB_MARK.match(body[0][1]) if mentions == 1 else None
        if first:  # the usual cell: one mark, on its first line
            tabs = self.tab_names(body[0][0], (first.group(3) or "").strip(), "#@tab" if first.group(1) else "%%tab")
            body = body[1:]
            plain = plain[plain.find("\n") + 1 :] if body else ""
        elif mentions:
            marks = [(index, match) for index, (_, line) in enumerate(body) if ("@tab" in line or "%%tab" in line) and (match := _TAB_MARK.match(line))]
        if marks:
            # the first #@tab mark decides, else the first %%tab (commented or not): d2lbook's order
            index, match = next(((index, match) for index, match in marks if match.group(1)), marks[0])
            tabs = self.tab_names(body[index][0], (match.group(3) or "").strip(), "#@tab" if match.group(1) else "%%tab")
            dropped = {index for index, _match in marks}
            body = [item for index, item in enumerate(body) if index not in dropped]  # every mark line goes
            plain = "\n".join([line for _, line in body])
        if "\t" not in plain and "@hide" not in plain and "tab.selected" not in plain:
            # the common case: the code is the same in every tab, as written
            self.doc.cells.append(Cell(CODE, start, end, tabs=tabs, code=body, fence_id=fence_id))
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
        cell = Cell(CODE, start, end, tabs=tabs, hide=hide, code=code, only=only, fence_id=fence_id)
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
    """Reads the blocks of every text cell, attaches the marks of DIALECT 4 to them, then reads their inline marks."""

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

    @staticmethod
    def inline_of(block, displays) -> list[Inline]:
        """Read the inline marks of a block's text (the inline pass); return its Inlines."""
        if isinstance(block, Prose):
            block.inline = read_inline(block.inline.text, block.inline.line, block.code_lines, displays)
            return [block.inline]
        if isinstance(block, Heading):
            block.title = read_inline(block.title.text, block.title.line)
            return [block.title]
        if isinstance(block, Figure):
            block.caption = read_inline(block.caption.text, block.caption.line)
            return [block.caption]
        if isinstance(block, Table):
            block.body = read_inline(block.body.text, block.body.line)
            if block.caption is not None:
                block.caption = read_inline(block.caption.text, block.caption.line)
                return [block.caption, block.body]
            return [block.body]
        return []

    def read_cell(self, cell: Cell) -> None:
        first = cell.text_line
        lines = cell.text.split("\n")
        fences = {number - first for number in cell.fence_lines}
        marks: dict[int, tuple[str, str]] = {}
        for index, line in enumerate(lines) if ":`" in cell.text else ():
            if index not in fences and ":`" in line:
                match = _STRUCT_MARK.match(line)
                if match:
                    marks[index] = (match.group(1), match.group(2).strip())
        trailing = {}  # index -> (label, the line without it): a display labelled on its own line
        for index, line in enumerate(lines) if ":eqlabel:" in cell.text else ():
            if index not in fences and index not in marks and ":eqlabel:" in line and "$$" in line:
                match = _TRAILING_EQLABEL.match(line)
                if match:
                    trailing[index] = (match.group(2).strip(), match.group(1))
        captions = {}
        for index, line in enumerate(lines) if cell.text.startswith(":") or "\n:" in cell.text else ():
            if index in fences or index in marks or not line.startswith(":"):
                continue
            match = _CAPTION_LINE.match(line)
            after = _next_content(lines, index, marks)
            if match and after is not None and lines[after].lstrip().startswith("|"):
                captions[index] = match.group(1)
        blanked = ["" if index in marks or index in captions else trailing[index][1] if index in trailing else line for index, line in enumerate(lines)]
        divs = self.divs(cell, lines, fences) if self.doc.dialect == D2L_NEU else []
        slide_pieces = {}  # index -> a CellReference or Pause, on a line of its own in a slide
        for start, end, div in divs:
            blanked[start] = blanked[end] = ""  # the fences themselves are no text
            if div.is_slide:
                for index in range(start + 1, end):
                    piece = lines[index].strip()
                    reference = _CELL_REFERENCE.match(piece) if piece.startswith("@") else None
                    if reference or _PAUSE.match(piece):
                        slide_pieces[index] = CellReference(reference.group(1), first + index) if reference else Pause(first + index)
                        blanked[index] = ""
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
        for index, (label, _display) in trailing.items():
            if not label:
                self.problem(first + index, ":eqlabel: needs a name in backticks")
            elif index not in owners:
                equation = Equation(label, first + index, first + index)
                self.doc.items.append(equation)
                self.define(Label(label, EQUATION, first + index, equation))
        structural = sorted(structural + [(index, index + 1, piece) for index, piece in slide_pieces.items()], key=lambda item: item[0])
        breaks = {index for start, end, _div in divs for index in (start, end)}
        cell.blocks = self.blocks_with_prose(blanked, structural, code_lines, first, breaks)
        if divs:
            cell.blocks = self.nest(cell.blocks, divs, first)
        for index, line in enumerate(blanked):
            if index not in code_lines and ("](" in line or "<img" in line.lower()) and not isinstance(owners.get(index), Figure):
                for path in _image_paths(line):
                    self.doc.images.append((path, first + index))

    def divs(self, cell: Cell, lines: list[str], fences: set[int]) -> list[tuple[int, int, Div]]:
        """Pandoc's fenced divs of a text cell (d2l-neu): (opening index, closing index, Div), outermost first.

        A fence with attributes (or a class word) opens a div; a bare ``:::`` closes
        the innermost open one, as Pandoc nests them."""
        first, found, stack = cell.text_line, [], []
        for index, line in enumerate(lines):
            if index in fences or not line.startswith(":::"):
                continue
            match = _DIV_FENCE.match(line)
            if match is None:
                continue
            if match.group(2) is not None or match.group(3):
                classes, attributes = _attributes(match.group(2) or "")
                if match.group(3):
                    classes = (match.group(3), *classes)
                stack.append((index, classes, attributes))
            elif stack:
                start, classes, attributes = stack.pop()
                found.append((start, index, Div(classes, attributes, first + start, first + index)))
            else:
                self.warn(first + index, "this ::: closes no fenced div; it is left out")
        for start, classes, attributes in stack:
            self.warn(first + start, "this fenced div is not closed before the next code cell; it ends there")
            found.append((start, len(lines) - 1, Div(classes, attributes, first + start, first + len(lines) - 1)))
        return sorted(found, key=lambda item: item[0])

    def nest(self, blocks: list, divs: list[tuple[int, int, Div]], first: int) -> list:
        """The cell's blocks with each div holding the blocks inside it; a slide's items are not the book's."""
        top: list = []
        open_divs: list[Div] = []
        events = sorted([(first + start, 0, div) for start, _end, div in divs] + [(first + end, 1, div) for _start, end, div in divs], key=lambda item: (item[0], item[1]))
        position = 0
        for block in blocks:
            line = block.line
            while position < len(events) and events[position][0] < line:
                _at, kind, div = events[position]
                if kind == 0:
                    (open_divs[-1].blocks if open_divs else top).append(div)
                    open_divs.append(div)
                elif div in open_divs:
                    open_divs.remove(div)
                position += 1
            (open_divs[-1].blocks if open_divs else top).append(block)
        for _at, kind, div in events[position:]:
            if kind == 0:
                (open_divs[-1].blocks if open_divs else top).append(div)
                open_divs.append(div)
            elif div in open_divs:
                open_divs.remove(div)
        hidden = {id(block) for div in (d for _s, _e, d in divs if d.is_slide) for block in walk(div.blocks, slides=True)}
        self.doc.items = [item for item in self.doc.items if id(item) not in hidden]
        return top

    def block_of(self, token, tokens, position, lines, start, end, first):
        """The structural block a top-level token starts, or None for prose."""
        line = first + start
        if token.type == "heading_open":
            content = tokens[position + 1].content.strip()
            numbered, anchor = True, None
            attributes = _HEADING_ATTRIBUTES.search(content) if self.doc.dialect == D2L_NEU and content.endswith("}") else None
            if attributes:
                classes, values = _attributes(attributes.group(1))
                numbered = not ({"unnumbered", "-"} & set(classes))
                anchor = values.get("id")
                content = content[: attributes.start()].rstrip()
            block = Heading(int(token.tag[1:]), Inline(content, line), line, numbered=numbered, anchor=anchor)
        elif token.type == "table_open":
            block = Table(Inline("\n".join(lines[start:end]), line), line)
        elif token.type == "paragraph_open":
            content = tokens[position + 1].content
            bibliography = _BIBLIOGRAPHY_ROLE.match(content.strip()) if content.startswith(":bibliography:") else None
            if bibliography:
                return Bibliography(line, bibliography.group(1).strip())
            figure = _figure_paragraph(content)
            if figure is None:
                return None
            caption, path, rest = figure
            if rest:
                self.warn(line, f"text after the figure on its line is not part of its caption: '{rest[:40]}'")
                return None
            block = Figure(Inline(caption, line), path, line)
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
        left_out = Prose(Inline("", line))  # the block's lines become nothing on the page
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
                table.caption = Inline(caption, first + index)
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
            below = starts.get(_next_content(blanked, index, marks))
            if kind == "label" and isinstance(below, Table) and after_caption:
                display = False  # a table's caption and label above it: not the display before them
            if kind == "eqlabel" or (display and not isinstance(owner, (Heading, Figure, Table))):
                if not display:
                    self.problem(line, f":{kind}:`{value}` must be on the line after a $$ ... $$ display")
                    continue
                if kind == "label":
                    self.warn(line, f":label:`{value}` after a display equation is read as :eqlabel:")
                if not touching:
                    self.warn(line, f":eqlabel:`{value}` is separated from its display by blank lines")
                labelled = next((item for item in self.doc.items if isinstance(item, Equation) and item.display_line == first + before), None)
                if labelled is not None:
                    self.problem(line, f"a second label for the same display equation (already '{labelled.label}')")
                    continue
                equation = Equation(value, line, first + before)
                self.doc.items.append(equation)
                self.define(Label(value, EQUATION, line, equation))
                continue
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
            self.define(Label(value, kind_of, line, target))

    def define(self, label: Label) -> None:
        first = self.label_lines.get(label.name)
        if first is not None:
            self.problem(label.line, f"label '{label.name}' is defined twice in this file: lines {first} and {label.line}")
            return
        self.label_lines[label.name] = label.line
        self.doc.labels[label.name] = label

    def blocks_with_prose(self, lines, structural, code_lines, first, breaks=frozenset()) -> list:
        """The cell's blocks in order: structural ones, and Prose for the lines between them (cut at ``breaks``)."""
        blocks: list = []
        position = 0

        def prose(start, end):
            cuts = [start, *sorted(index for index in breaks if start < index < end), end] if breaks else [start, end]
            for begin, stop in zip(cuts, cuts[1:], strict=False):
                while begin < stop and not lines[begin].strip():
                    begin += 1
                if begin < stop:
                    codes = frozenset(first + i for i in range(begin, stop) if i in code_lines)
                    blocks.append(Prose(Inline("\n".join(lines[begin:stop]), first + begin), codes))

        for start, end, block in structural:
            prose(position, start)
            blocks.append(block)
            position = end
        prose(position, len(lines))
        return blocks


def _image_paths(line: str) -> list[str]:
    """The paths of the Markdown images and ``<img>`` tags of one line, in order."""
    found = [(match.start(), match.group(1)) for match in _MARKDOWN_IMAGE.finditer(line)] if "](" in line else []
    tags = [match.start() for match in _IMG_TAG.finditer(line)]
    end = -1  # the '>' closing the current tag: found once, as tags come in order
    for number, start in enumerate(tags):
        if end < start:
            end = line.find(">", start)
            end = len(line) if end < 0 else end
        stop = min(end, tags[number + 1] if number + 1 < len(tags) else len(line))
        src = _IMG_SRC.search(line, start, stop)
        if src:
            found.append((start, src.group(1)))
    return [path for _start, path in sorted(found)]


def _figure_paragraph(content: str) -> tuple[str, str, str] | None:
    """(caption, path, text after it) of a paragraph that starts with an image ``![caption](path)``.

    The caption may hold brackets, balanced as CommonMark wants them, and math
    (``$[a, b)$`` included: what is inside ``$...$`` is not counted)."""
    if not content.startswith("!["):
        return None
    depth, index = 1, 2
    while index < len(content):
        char = content[index]
        if char == "\\":
            index += 2
            continue
        if char == "$":
            close = content.find("$", index + 1)
            if close > 0:
                index = close + 1
                continue
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                break
        index += 1
    else:
        return None
    target = _FIGURE_TARGET.match(content, index + 1)
    if target is None:
        return None
    return content[2:index].strip(), target.group("path"), target.group("rest").strip()


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
    named: dict[tuple[str, str], int] = {}  # (fence id, tab) -> cells so named
    for cell in cells:
        if cell.fence_id:
            count = max(named.get((cell.fence_id, tab), 0) for tab in cell.tabs)
            for tab in cell.tabs:
                named[cell.fence_id, tab] = count + 1
            cell.id = cell.fence_id + (f"-{count}" if count else "")
            continue
        if cell.kind == CODE:
            content = "\n".join([cell.hide or "", *cell.tabs, *(text for _, text in cell.code)])
        else:
            content = "\n".join([*cell.tabs, cell.text])
        digest = hashlib.sha1(f"{cell.kind}\0{content}".encode()).hexdigest()[:16]
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        cell.id = f"{cell.kind.replace('_', '-')}-{digest}" + (f"-{count}" if count else "")
