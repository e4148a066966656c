"""The whole book, computed once: page order, numbers, labels, citations, each tab's view, and the checks.

The root page (``[build] index``) lists chapters in ```` ```toc ```` fences, a
chapter's index lists its sections, and so on (DIALECT section 9); that order
gives every page, heading, figure, captioned or labelled table and labelled
equation its number (chapter 1, section 1.2, figure 1.2.1, equation (1.2.3)).
Only pages under a ``:numbered:`` toc (and their descendants) are numbered, as
in the d2l.ai books, whose preface and references are not. The items come from
``tabbook.parse`` (``Document.items``); each gets a :class:`Target`, found
again by the item itself (``Page.target_of``), never by matching text or lines.

Every output is a view of this model: notebooks, HTML pages, the print book,
slide decks, reader notebooks, the search index and the live preview ask it
which pages there are, what each toc entry is (``Page.toc_pages``), which cells
a tab sees (``Page.cells``), what a label means and who cites what
(``Book.citations``). Nothing downstream reads a source file again.

The errors of DIALECT section 10 "across the book" are found here: a reference
to an undefined label, a label defined in two places, an unknown citation key,
a missing figure file, an image outside the book, a bad slide mark. Every
problem is collected (``Book.errors``, with each file's own), so that
``tabbook check`` reports them all in one run.
"""

from __future__ import annotations

import functools
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from tabbook import texmath
from tabbook.assets import css_length
from tabbook.bibliography import Bibliography
from tabbook.config import QUARTO_NAME
from tabbook.errors import SourceError, SourceErrors
from tabbook.markdown import Markdown, code_span_text
from tabbook.parse import (
    D2L_NEU,
    Code,
    Document,
    Equation,
    Figure,
    Heading,
    Inline,
    Math,
    RawHtml,
    Reference,
    Table,
    read_document,
    tex_words,
    walk,
)
from tabbook.parse import Bibliography as BibliographyBlock

# Headings are numbered down to this many levels below the page's own number.
_NUMBERED_HEADING_DEPTH = 2


@dataclass
class Target:
    """Something a label names: a section, a figure, a table or an equation."""

    label: str | None
    kind: str  # "section" | "figure" | "table" | "equation"
    number: tuple[int, ...]
    page: Page
    anchor: str
    line: int
    title: Inline | None = None  # a section's title or a figure's/table's caption
    level: int = 0  # a section's heading level

    @property
    def number_text(self) -> str:
        return ".".join(str(n) for n in self.number)

    @property
    def where(self) -> str:
        return f"{self.page.rel}:{self.line}"

    def name(self, bare_equation: bool = False) -> str:
        """How a reference shows it: "Section 1.2", "Figure 1.2.1", "(1.2.3)" (``:eqref:``)."""
        if self.kind == "equation":
            return f"({self.number_text})" if bare_equation else f"Equation ({self.number_text})"
        if not self.number:
            return plain_text(self.title) if self.title else ""
        if self.kind == "section":
            return f"{'Chapter' if len(self.number) == 1 else 'Section'} {self.number_text}"
        return f"{self.kind.capitalize()} {self.number_text}"

    def link(self, from_url: str | None = None) -> str:
        """Its URL relative to the page at ``from_url`` ("" for the site root); the page itself for its title."""
        url = self.page.url
        if from_url is not None:
            url = relative_url(url, from_url)
        return url if self is self.page.targets[0] else f"{url}#{self.anchor}"


@dataclass(eq=False)
class Page:
    """One source file of the book, rendered as one HTML page."""

    source: Path
    rel: str  # path relative to the book root, e.g. chapter_mlp/mlp.md
    name: str  # rel without .md: the notebooks' name
    number: tuple[int, ...]  # () for the root page, (1,) for chapter 1, (1, 2) for its section 2
    parent: Page | None
    document: Document
    children: list[Page] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)  # in source order
    target_of: dict = field(default_factory=dict)  # item of the Document -> its Target
    toc_pages: dict = field(default_factory=dict)  # Toc block -> the pages it lists, in order

    @property
    def url(self) -> str:
        return self.name + ".html"

    @property
    def number_text(self) -> str:
        return ".".join(str(n) for n in self.number)

    @property
    def title(self) -> Inline:
        """The page's title (Markdown): its first heading, or its file's name as plain text.

        A file name is not Markdown: every ASCII punctuation mark of it is
        backslash-escaped (CommonMark), so ``<img src=x onerror=…>.md`` is
        shown as those characters in the title, the sidebar and the search
        index, never as markup."""
        return self.document.title or Inline(markdown_escape(self.source.stem), 1)

    @property
    def tabs(self) -> list[str]:
        """The tabs that get a notebook of this page (DIALECT 2)."""
        return self.document.notebook_tabs()

    def cells(self, tab: str) -> list:
        """``tab``'s view of the page: the cells its notebook, its pane and its deck show."""
        return self.document.cells_for(tab)

    def target(self, item) -> Target:
        """The numbered target of one of this page's items (a Heading, Figure, Table or Equation)."""
        return self.target_of[item]


@dataclass(frozen=True)
class Citation:
    """One key cited by one role: where (page, line)."""

    key: str
    page: Page
    line: int


@dataclass
class Book:
    config: object
    pages: list[Page]  # reading order; pages[0] is the root page
    labels: dict[str, Target]
    bibliography: Bibliography
    orphans: list[Path]  # chapter files no toc lists
    title: str  # the book's title as plain text
    citations: list[Citation] = field(default_factory=list)  # every cited key, in reading order
    errors: list[SourceError] = field(default_factory=list)  # every problem, sorted by file and line
    warnings: list[str] = field(default_factory=list)
    read: object = None  # path -> Document, as load_book read them
    _by_source: dict | None = None

    def raise_errors(self) -> None:
        """Stop with every error of the book, if there is any."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise SourceErrors(self.errors)

    @property
    def root_page(self) -> Page:
        return self.pages[0]

    def page_of(self, source: Path) -> Page:
        """The page built from ``source`` (KeyError when no page is)."""
        if self._by_source is None:
            self._by_source = {page.source.resolve(): page for page in self.pages}
        return self._by_source[Path(source).resolve()]

    def documents(self, files=None) -> list[tuple[Path, Document]]:
        """(source, Document) of ``files`` (default: every page, then the orphans), each read once.

        A file that is not a page is read now (raising its errors); a page's
        errors are in ``errors`` already and are raised here too, as the
        converters need a readable file."""
        paths = [Path(path).resolve() for path in files] if files else [page.source for page in self.pages] + self.orphans
        result = []
        for path in paths:
            try:
                document = self.page_of(path).document
            except KeyError:
                if not path.is_file():
                    raise SourceError(path, None, "no such file") from None
                if path not in self.orphans:
                    raise SourceError(path, None, f"not a chapter of this book (its chapters are the files of [build] chapters under {self.config.root})") from None
                document = self.read(path).read_marks()
            document.raise_errors()
            result.append((path, document))
        return result

    def cited_keys(self) -> list[str]:
        """Every key the book cites that its bibliography has, once each, in reading order."""
        return list(dict.fromkeys(c.key for c in self.citations if c.key in self.bibliography))

    def cited_at(self, key: str) -> list[Citation]:
        """Where ``key`` is cited: the first citation on each page that cites it."""
        places: dict[Page, Citation] = {}
        for citation in self.citations:
            if citation.key == key and citation.page not in places:
                places[citation.page] = citation
        return list(places.values())


_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_escape(text: str) -> str:
    """``text`` as Markdown that reads as exactly this text: punctuation escaped, whitespace one space."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(text.split()))


def relative_url(url: str, from_url: str) -> str:
    """``url`` (relative to the site root) as seen from the page at ``from_url``."""
    return posixpath.relpath(url, posixpath.dirname(from_url) or ".")


@functools.cache
def _markdown() -> Markdown:
    return Markdown()


def _words(mark, source: str) -> str:
    if isinstance(mark, Math):
        return tex_words(mark.tex)
    if isinstance(mark, Code):
        return code_span_text(mark.text)
    return ""  # a role in a title has no words of its own here


def plain_text(inline: Inline, show=None, markdown: Markdown | None = None) -> str:
    """What a reader reads in ``inline``, as plain words: math as its letters, roles left out
    (or ``show(mark)`` for each span); ``markdown`` is the parser that rendered it, if any."""
    return (markdown or _markdown()).plain_text(inline, show or (lambda mark: _words(mark, "")))


def slug(title: Inline) -> str:
    """An HTML id from a title: its words in lower case, joined by hyphens ("$K$-Fold" -> "k-fold")."""
    words = re.findall(r"\w+", plain_text(title).lower())
    return "-".join(words) or "section"


def _quarto_entries(path: Path) -> list[tuple[int, str]]:
    """(line, file) of every chapter of a Quarto book (``book: chapters:``, parts included, then ``appendices:``)."""
    import yaml  # only d2l-neu books need it

    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise SourceError(path.name, line + 1 if line is not None else None, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None

    def value(mapping, key):
        if isinstance(mapping, yaml.MappingNode):
            for k, v in mapping.value:
                if k.value == key:
                    return v
        return None

    def files(sequence) -> list[tuple[int, str]]:
        found = []
        for item in sequence.value if isinstance(sequence, yaml.SequenceNode) else []:
            if isinstance(item, yaml.ScalarNode):
                found.append((item.start_mark.line + 1, item.value))
            elif isinstance(item, yaml.MappingNode):
                href = value(item, "href") or value(item, "file")
                if href is not None:
                    found.append((href.start_mark.line + 1, href.value))
                found += files(value(item, "chapters"))
        return found

    book = value(node, "book")
    return files(value(book, "chapters")) + files(value(book, "appendices"))


def toc_source(parent: Path, entry: str) -> Path:
    """The file a toc entry of the page at ``parent`` names (DIALECT 9: with or without ``.md``)."""
    name = entry[: -len(".md")] if entry.endswith(".md") else entry
    return (parent.parent / f"{name}.md").resolve()


def load_book(config, read=None, typeset: bool = False) -> Book:
    """Read every page in toc order, number it, and check the whole book.

    Reading order comes from the ```toc``` fences, from the index page down;
    each page's number from its place in its parent's numbered tocs. Every
    problem found is collected in ``Book.errors`` (call
    :meth:`Book.raise_errors` to stop on them); only a missing index page stops
    at once. ``read(path)`` reads one file's Document (default:
    ``read_document(config, path, collect=True)``); the live preview passes
    one that reuses the Documents of unchanged files. With ``typeset`` every
    formula is converted now, so that math the engine cannot typeset is one of
    the book's errors (``check`` and every view that shows math).
    """
    read = read or (lambda path: read_document(config, path, collect=True))
    root = config.root.resolve()
    index = (root / f"{config.index}.md").resolve()
    if not index.is_file():
        raise SourceError(config.config_path, None, f"the book's index page {config.index}.md does not exist")
    loader = _Loader(config, root, read)
    quarto = root / QUARTO_NAME
    if config.dialect == D2L_NEU and quarto.is_file():
        loader.visit_quarto(quarto)  # the d2l authors' 2026 sources: the order of _quarto.yml, not the tocs
    else:
        if loader.document(index) is None:
            errors = loader.errors
            raise SourceErrors(errors) if len(errors) > 1 else errors[0]
        loader.visit(index, (), False, None)
    pages = loader.pages
    labels: dict[str, Target] = {}
    for page in pages:
        _structure(page, labels, loader.errors)
    citations = [
        Citation(key, page, reference.line)
        for page in pages
        for reference in page.document.references
        if reference.is_citation
        for key in reference.targets
    ]
    listings = [(page, block) for page in pages for cell in page.document.cells for block in walk(cell.blocks) if isinstance(block, BibliographyBlock)]
    bibfile = config.bibfile
    named = [(page, block) for page, block in listings if block.path]
    if not config.bibfile_given and named:  # d2lbook's :bibliography:`file.bib` names the file
        bibfile = (named[0][0].source.parent / named[0][1].path).resolve()
    bibliography = Bibliography.load(bibfile, needed=bool(citations or listings))
    for page in pages:
        loader.errors.extend(_check_page(page, labels, bibliography, root))
    if typeset:
        loader.errors.extend(math_errors(pages))
    cited = list(dict.fromkeys(c.key for c in citations if c.key in bibliography))
    for key in cited:
        bibliography.reference_html(key)  # a reference the style cannot format is a warning now, in `check` too
    loader.errors.extend(_relative(bibliography.link_problems(cited), root))
    listed = {page.source for page in pages}
    orphans = [path.resolve() for path in config.chapter_files() if path.resolve() not in listed]
    errors = sorted(loader.errors, key=lambda error: (error.path, error.line or 0))
    title = config.project.get("title") or plain_text(pages[0].title)
    book = Book(config, pages, labels, bibliography, orphans, title, citations, errors, loader.warnings + bibliography.warnings, read)
    return book


class _Loader:
    """The toc walk: each file read once, each page placed and numbered by its parent's tocs."""

    def __init__(self, config, root: Path, read):
        self.config, self.root, self.read = config, root, read
        self.errors: list[SourceError] = []
        self.warnings: list[str] = []
        self.documents: dict[Path, Document | None] = {}
        self.pages: list[Page] = []
        self.listed_at: dict[Path, tuple[str, int]] = {}

    def document(self, path: Path) -> Document | None:
        """The file's Document (None when it cannot be read), its problems named relative to the book."""
        if path not in self.documents:
            rel = path.relative_to(self.root).as_posix()
            try:
                document = self.read(path).read_marks()
            except SourceErrors as exc:
                found, document = exc.errors, None
            except SourceError as exc:  # the file cannot be read at all: its page is left out
                found, document = [exc], None
            else:
                found = document.errors + document.slide_problems
                self.warnings.extend(warning.replace(str(path), rel, 1) for warning in document.warnings)
            for error in found:
                error.path = rel
            self.errors.extend(found)
            self.documents[path] = document
        return self.documents[path]

    def visit(self, path: Path, number: tuple[int, ...], numbered: bool, parent: Page | None) -> Page:
        rel = path.relative_to(self.root).as_posix()
        page = Page(path, rel, rel[: -len(".md")], number, parent, self.document(path))
        self.listed_at.setdefault(path, ("the root page", 0))
        self.pages.append(page)
        count = 0
        for toc in page.document.tocs:
            toc_numbered = numbered or toc.numbered
            page.toc_pages[toc] = []
            for entry, line in toc.entries:
                child = self.child(rel, path, entry, line)
                if child is None:
                    continue
                if toc_numbered:
                    count += 1
                child_page = self.visit(child, (*number, count) if toc_numbered else (), toc_numbered, page)
                page.children.append(child_page)
                page.toc_pages[toc].append(child_page)
        return page

    def visit_quarto(self, quarto: Path) -> None:
        """The pages in the order of ``_quarto.yml``'s ``book.chapters`` (and ``appendices``).

        The first file is the front page. A ``<folder>/index`` file opens a numbered
        chapter, and the files of that folder after it are its sections; any other
        file is a chapter of its own. A page whose first heading is ``{.unnumbered}``
        has no number. Parts only group files there: they have no page."""
        rel = QUARTO_NAME
        entries = _quarto_entries(quarto)
        if not entries:
            raise SourceError(rel, None, "lists no chapters (book: chapters:); the d2l-neu dialect takes the book's order from it")
        (line, first), rest = entries[0], entries[1:]
        front = self.quarto_file(first, line)
        if front is None or self.document(front) is None:
            raise SourceErrors(self.errors) if len(self.errors) > 1 else self.errors[0]
        self.listed_at[front] = ("the root page", 0)
        root = Page(front, front.relative_to(self.root).as_posix(), front.relative_to(self.root).as_posix()[: -len(".md")], (), None, self.document(front))
        self.pages.append(root)
        chapter, count = None, 0
        for line, entry in rest:
            path = self.quarto_file(entry, line)
            if path is None or path in self.listed_at or self.document(path) is None:
                if path in self.listed_at:
                    self.errors.append(SourceError(rel, line, f"'{entry}' is listed twice"))
                continue
            self.listed_at[path] = (rel, line)
            document = self.document(path)
            numbered = bool(document.headings) and document.headings[0].numbered
            section_of = chapter if chapter is not None and path.parent == chapter.source.parent and path.name != "index.md" else None
            if section_of is not None:
                number = (*section_of.number, len([c for c in section_of.children if c.number]) + 1) if numbered and section_of.number else ()
                parent = section_of
            else:
                count += numbered
                number = (count,) if numbered else ()
                parent = root
            page = Page(path, path.relative_to(self.root).as_posix(), path.relative_to(self.root).as_posix()[: -len(".md")], number, parent, document)
            parent.children.append(page)
            self.pages.append(page)
            if path.name == "index.md":
                chapter = page
            elif section_of is None:
                chapter = None
        for page in self.pages:  # a page's ```toc``` fences are stale there: each shows the page's sections
            for toc in page.document.tocs:
                page.toc_pages[toc] = list(page.children)

    def quarto_file(self, entry: str, line: int) -> Path | None:
        """The source of a _quarto.yml entry: its ``.md`` (the source of truth) for a ``.qmd``."""
        path = (self.root / entry).resolve()
        if path.suffix == ".qmd" and path.with_suffix(".md").is_file():
            path = path.with_suffix(".md")
        if not path.is_relative_to(self.root) or not path.is_file():
            self.errors.append(SourceError(QUARTO_NAME, line, f"'{entry}': no such file in the book"))
            return None
        return path

    def child(self, rel: str, path: Path, entry: str, line: int) -> Path | None:
        """The readable, not yet listed file of a toc entry, or None (with the error recorded)."""
        child = toc_source(path, entry)
        if not child.is_relative_to(self.root):
            self.errors.append(SourceError(rel, line, f"toc entry '{entry}' is outside the book"))
            return None
        if child in self.listed_at:
            where, where_line = self.listed_at[child]
            first = f"{where}:{where_line}" if where_line else where
            self.errors.append(SourceError(rel, line, f"toc entry '{entry}' is already listed at {first}"))
            return None
        self.listed_at[child] = (rel, line)
        if not child.is_file():
            self.errors.append(SourceError(rel, line, f"toc entry '{entry}': no file {child.relative_to(self.root)}"))
            return None
        return child if self.document(child) is not None else None


def _structure(page: Page, labels: dict[str, Target], errors: list) -> None:
    """Number the page's headings, figures, tables and equations; record its labels."""
    document = page.document
    counters = {"figure": 0, "table": 0, "equation": 0}
    heading_counters = [0] * _NUMBERED_HEADING_DEPTH
    first_heading = True
    for item in document.items:
        if isinstance(item, Heading):
            kind, label, title = "section", item.label, item.title
            number: tuple[int, ...] = ()
            if first_heading:
                number, first_heading = page.number, False
            elif not item.numbered:
                number = ()  # d2l-neu's {.unnumbered}
            else:
                depth = max(item.level - 1, 1)
                if page.number and depth <= _NUMBERED_HEADING_DEPTH:
                    heading_counters[depth - 1] += 1
                    heading_counters[depth:] = [0] * (_NUMBERED_HEADING_DEPTH - depth)
                    number = (*page.number, *heading_counters[:depth])
            anchor = label or item.anchor or slug(title)
        else:
            if isinstance(item, Figure):
                kind, label, title = "figure", item.label, item.caption
            elif isinstance(item, Table):
                if not (item.label or item.caption):
                    continue  # a plain table: no number, no caption
                kind, label, title = "table", item.label, item.caption
            elif isinstance(item, Equation):
                kind, label, title = "equation", item.label, None
            else:
                continue
            counters[kind] += 1
            number = (*page.number, counters[kind])
            anchor = label or f"{kind}-{counters[kind]}"
        target = Target(label, kind, number, page, anchor, item.line, title, item.level if isinstance(item, Heading) else 0)
        page.targets.append(target)
        page.target_of[item] = target
        if label:
            if label in labels:
                other = labels[label]
                errors.append(SourceError(page.rel, document.labels[label].line, f"label '{label}' is already defined at {other.where}"))
                continue
            labels[label] = target
    _unique_anchors(page)


def _unique_anchors(page: Page) -> None:
    """Two headings with the same title get distinct ids (title, title-2, ...)."""
    used: dict[str, int] = {}
    for target in page.targets:
        count = used.get(target.anchor, 0) + 1
        used[target.anchor] = count
        if count > 1:
            target.anchor = f"{target.anchor}-{count}"


_URL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def image_problem(page: Page, path: str, root: Path, what: str = "figure") -> str | None:
    """Why an image path of ``page`` cannot be in the book (None when it can)."""
    if _URL.match(path):
        return f"{what} '{path}' is not a local file (the book works offline)"
    resolved = (page.source.parent / path).resolve()
    if not resolved.is_relative_to(root):
        return f"{what} file '{path}' is outside the book"
    if not resolved.is_file():
        return f"missing {what} file '{path}'"
    return None


def raw_html(page: Page, block: RawHtml, root: Path) -> str:
    """The HTML file an ``eval_rst`` ``.. raw:: html`` block includes (the author's own markup),
    or a ``FILE:LINE`` error: a file outside the book, or one that is not UTF-8."""
    path = (page.source.parent / block.path).resolve()
    if not path.is_relative_to(root.resolve()):
        raise SourceError(page.rel, block.line, f"the included HTML file '{block.path}' is outside the book")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(page.rel, block.line, f"the included HTML file '{block.path}' is not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise SourceError(page.rel, block.line, f"the included HTML file '{block.path}' cannot be read ({exc.strerror})") from None


def reference_problem(reference: Reference, key: str, labels: dict[str, Target], bibliography: Bibliography) -> str | None:
    """Why one target of a role resolves to nothing (None when it resolves): the one rule of every view."""
    if reference.is_citation:
        return None if key in bibliography else f"unknown citation key '{key}' (not in the bibliography)"
    target = labels.get(key)
    if target is None:
        return f":{reference.role}: refers to the undefined label '{key}'"
    if reference.role == "eqref" and target.kind != "equation":
        return f":eqref: needs an equation label, but '{key}' is a {target.kind} ({target.where})"
    return None


def _check_page(page: Page, labels, bibliography: Bibliography, root: Path) -> list[SourceError]:
    errors = []
    for reference in page.document.references:
        for key in reference.targets:
            problem = reference_problem(reference, key, labels, bibliography)
            if problem:
                errors.append(SourceError(page.rel, reference.line, problem))
    for figure in page.document.figures:
        problem = image_problem(page, figure.path, root)
        if problem:
            errors.append(SourceError(page.rel, figure.line, problem))
        if figure.width is not None and css_length(figure.width) is None:
            errors.append(SourceError(page.rel, figure.line, f":width:`{figure.width}` is not a CSS length (such as 400px, 80% or 12em)"))
    for block in (block for cell in page.document.cells for block in cell.blocks if isinstance(block, RawHtml)):
        try:
            raw_html(page, block, root)
        except SourceError as exc:
            errors.append(exc)
    for path, line in page.document.images:
        if not _URL.match(path):  # inline images may be on the web; never outside the book
            problem = image_problem(page, path, root, "image")
            if problem and "outside the book" in problem:
                errors.append(SourceError(page.rel, line, problem))
    return errors


def _relative(errors: list[SourceError], root: Path) -> list[SourceError]:
    """Errors named relative to the book, as every page's are."""
    for error in errors:
        path = Path(error.path)
        if path.is_absolute() and path.resolve().is_relative_to(root):
            error.path = path.resolve().relative_to(root).as_posix()
    return errors


def math_errors(pages: list[Page]) -> list[SourceError]:
    """Every formula of the pages that the math engine cannot typeset, converted in one round trip."""
    found = [(page.rel, math) for page in pages for inline in page.document.inlines() for math in inline.math]
    results = texmath.to_mathml_many([(math.tex, math.display) for _rel, math in found])
    return [SourceError(rel, math.line, str(result)) for (rel, math), result in zip(found, results, strict=True) if isinstance(result, texmath.MathError)]


def report(book: Book) -> str:
    """Every warning and error of the book, sorted by file and line, with their count."""
    lines = list(book.warnings)
    root = book.config.root.resolve()
    for orphan in book.orphans:
        rel = orphan.relative_to(root) if orphan.is_relative_to(root) else orphan
        lines.append(f"{rel}: warning: no toc lists this file; it is not part of the book")
    lines += [str(error) for error in book.errors]
    return "\n".join(lines)
