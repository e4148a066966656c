"""The whole book: page order, numbers, labels, and the checks that need every file.

The root page (``[build] index``) lists chapters in ```` ```toc ```` fences, a
chapter's index lists its sections, and so on (DIALECT section 9); that order
gives every page, heading, figure, captioned or labelled table and labelled
equation its number (chapter 1, section 1.2, figure 1.2.1, equation (1.2.3)).
Only pages under a ``:numbered:`` toc (and their descendants) are numbered, as
in the d2l.ai books, whose preface and references are not. The items come from
``tabbook.parse`` (``Document.items``); each gets a :class:`Target`, found
again by the item itself (``Page.target_of``), never by matching text or lines.

The errors of DIALECT section 10 "across the book" are found here: a reference
to an undefined label, a label defined in two places, an unknown citation key,
a missing figure file, an image outside the book. Every problem of the book is
collected (``Book.errors``, with each file's own), so that ``python -m tabbook
check`` reports them all in one run.
"""

from __future__ import annotations

import posixpath
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tabbook.errors import SourceError, SourceErrors
from tabbook.markdown import CITE_ROLES
from tabbook.parse import Equation, Figure, Heading, Table

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
    title: str = ""  # Markdown of a section's title or a figure's/table's caption

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
            return self.title
        if self.kind == "section":
            return f"{'Chapter' if len(self.number) == 1 else 'Section'} {self.number_text}"
        return f"{self.kind.capitalize()} {self.number_text}"

    def link(self, from_url: str | None = None) -> str:
        """Its URL relative to the page at ``from_url`` ("" for the site root); the page itself for its title."""
        url = self.page.url
        if from_url is not None:
            url = posixpath.relpath(url, posixpath.dirname(from_url) or ".")
        return url if self is self.page.targets[0] else f"{url}#{self.anchor}"


@dataclass
class Page:
    """One source file of the book, rendered as one HTML page."""

    source: Path
    rel: str  # path relative to the book root, e.g. chapter_mlp/mlp.md
    name: str  # rel without .md: the notebooks' name
    number: tuple[int, ...]  # () for the root page, (1,) for chapter 1, (1, 2) for its section 2
    parent: Page | None
    document: object = None  # the tabbook.parse.Document of the source
    title: str = ""  # Markdown of the first heading
    children: list[Page] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)  # in source order
    target_of: dict = field(default_factory=dict)  # item of the Document -> its Target

    @property
    def url(self) -> str:
        return self.name + ".html"

    @property
    def number_text(self) -> str:
        return ".".join(str(n) for n in self.number)

    def target(self, item) -> Target:
        """The numbered target of one of this page's items (a Heading, Figure, Table or Equation)."""
        return self.target_of[item]


@dataclass
class Book:
    config: object
    pages: list[Page]  # reading order; pages[0] is the root page
    labels: dict[str, Target]
    bibliography: object  # pybtex BibliographyData
    orphans: list[Path]  # chapter files no toc lists
    errors: list[SourceError] = field(default_factory=list)  # every problem, sorted by file and line
    warnings: list[str] = field(default_factory=list)
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


def slug(text: str) -> str:
    """An HTML id from a title: lower case words joined by hyphens."""
    text = re.sub(r"\$[^$]*\$|:\w+:`[^`]*`|[`*_\[\]()]", "", text)
    words = re.findall(r"[\w]+", text.lower())
    return "-".join(words) or "section"


def load_book(config, read=None) -> Book:
    """Read every page in toc order, number it, and check the whole book.

    Reading order comes from the ```toc``` fences, from the index page down;
    each page's number from its place in its parent's numbered tocs. Every
    problem found is collected in ``Book.errors`` (call
    :meth:`Book.raise_errors` to stop on them); only a missing index page or
    bibliography stops at once. ``read(path)`` reads one file's Document
    (default: ``read_document(config, path, collect=True)``); the live preview
    passes one that reuses the Documents of unchanged files.
    """
    from tabbook.parse import read_document

    read = read or (lambda path: read_document(config, path, collect=True))

    root = config.root.resolve()
    index = (root / f"{config.index}.md").resolve()
    if not index.is_file():
        raise SourceError(config.config_path, None, f"the book's index page {config.index}.md does not exist")
    errors: list[SourceError] = []
    warnings: list[str] = []
    documents: dict[Path, object] = {}

    def document(path: Path):
        """The file's Document (None when it cannot be read), its problems named relative to the book."""
        if path not in documents:
            rel = path.relative_to(root).as_posix()
            found: list[SourceError] = []
            try:
                documents[path] = read(path)
            except SourceErrors as exc:
                found, documents[path] = exc.errors, None
            except SourceError as exc:  # the file cannot be read at all: its page is left out
                found, documents[path] = [exc], None
            else:
                found = documents[path].errors
                warnings.extend(warning.replace(str(path), rel, 1) for warning in documents[path].warnings)
            for error in found:
                error.path = rel
            errors.extend(found)
        return documents[path]

    pages: list[Page] = []
    listed_at: dict[Path, tuple[str, int]] = {index: ("the root page", 0)}

    def visit(path: Path, number: tuple[int, ...], numbered: bool, parent):
        rel = path.relative_to(root).as_posix()
        page = Page(path, rel, rel[: -len(".md")], number, parent, document=document(path))
        pages.append(page)
        count = 0
        for toc in page.document.tocs:
            toc_numbered = numbered or toc.numbered
            for entry, line in toc.entries:
                child = (path.parent / f"{entry}.md").resolve()
                if not child.is_relative_to(root):
                    errors.append(SourceError(rel, line, f"toc entry '{entry}' is outside the book"))
                    continue
                if child in listed_at:
                    where, where_line = listed_at[child]
                    first = f"{where}:{where_line}" if where_line else where
                    errors.append(SourceError(rel, line, f"toc entry '{entry}' is already listed at {first}"))
                    continue
                listed_at[child] = (rel, line)
                if not child.is_file():
                    errors.append(SourceError(rel, line, f"toc entry '{entry}': no file {child.relative_to(root)}"))
                    continue
                if document(child) is None:
                    continue
                if toc_numbered:
                    count += 1
                page.children.append(visit(child, (*number, count) if toc_numbered else (), toc_numbered, page))
        return page

    if document(index) is None:
        raise SourceErrors(errors) if len(errors) > 1 else errors[0]
    visit(index, (), False, None)
    labels: dict[str, Target] = {}
    for page in pages:
        _structure(page, labels, errors)
    bibliography = load_bibliography(config.bibfile)
    from tabbook.slides import mark_errors

    for page in pages:
        _check_page(page, labels, bibliography, root, errors)
        errors.extend(mark_errors(page))
    listed = {page.source for page in pages}
    orphans = [path.resolve() for path in config.chapter_files() if path.resolve() not in listed]
    errors.sort(key=lambda error: (error.path, error.line or 0))
    return Book(config, pages, labels, bibliography, orphans, errors, warnings)


def _structure(page: Page, labels: dict[str, Target], errors: list) -> None:
    """Number the page's headings, figures, tables and equations; record its labels."""
    document = page.document
    page.title = document.title or page.source.stem
    counters = {"figure": 0, "table": 0, "equation": 0}
    heading_counters = [0] * _NUMBERED_HEADING_DEPTH
    first_heading = True
    for item in document.items:
        if isinstance(item, Heading):
            kind, label, title = "section", item.label, item.title
            number: tuple[int, ...] = ()
            if first_heading:
                number, first_heading = page.number, False
            else:
                depth = max(item.level - 1, 1)
                if page.number and depth <= _NUMBERED_HEADING_DEPTH:
                    heading_counters[depth - 1] += 1
                    heading_counters[depth:] = [0] * (_NUMBERED_HEADING_DEPTH - depth)
                    number = (*page.number, *heading_counters[:depth])
            anchor = label or slug(title)
        else:
            if isinstance(item, Figure):
                kind, label, title = "figure", item.label, item.caption
            elif isinstance(item, Table):
                if not (item.label or item.caption):
                    continue  # a plain table: no number, no caption
                kind, label, title = "table", item.label, item.caption or ""
            elif isinstance(item, Equation):
                kind, label, title = "equation", item.label, ""
            else:
                continue
            counters[kind] += 1
            number = (*page.number, counters[kind])
            anchor = label or f"{kind}-{counters[kind]}"
        target = Target(label, kind, number, page, anchor, item.line, (title or "").strip())
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


def _check_page(page: Page, labels, bibliography, root: Path, errors: list) -> None:
    for reference in page.document.references:
        for key in reference.targets:
            if reference.role in CITE_ROLES:
                if key not in bibliography.entries:
                    errors.append(SourceError(page.rel, reference.line, f"unknown citation key '{key}' (not in the bibliography)"))
                continue
            target = labels.get(key)
            if target is None:
                errors.append(SourceError(page.rel, reference.line, f":{reference.role}: refers to the undefined label '{key}'"))
            elif reference.role == "eqref" and target.kind != "equation":
                errors.append(
                    SourceError(page.rel, reference.line, f":eqref: needs an equation label, but '{key}' is a {target.kind} ({target.where})")
                )
    for figure in page.document.figures:
        problem = image_problem(page, figure.path, root)
        if problem:
            errors.append(SourceError(page.rel, figure.line, problem))
    for path, line in page.document.images:
        if not _URL.match(path):  # inline images may be on the web; never outside the book
            problem = image_problem(page, path, root, "image")
            if problem and "outside the book" in problem:
                errors.append(SourceError(page.rel, line, problem))


def load_bibliography(path: Path):
    """The BibTeX file of ``[html] bibfile``, parsed by pybtex."""
    from pybtex.database.input.bibtex import Parser  # by class: pybtex's plugin lookup is slow
    from pybtex.exceptions import PybtexError

    if not Path(path).is_file():
        raise SourceError(path, None, "the bibliography file ([html] bibfile in config.ini) does not exist")
    try:
        return Parser().parse_file(str(path))
    except PybtexError as exc:
        raise SourceError(path, getattr(exc, "lineno", None), f"cannot read the bibliography: {exc}") from None


def add_arguments(parser) -> None:
    parser.add_argument("--root", type=Path, default=None, help="the book's root (default: where config.ini is)")


def report(book: Book, out=None) -> str:
    """Every warning and error of the book, sorted by file and line, with their count."""
    lines = list(book.warnings)
    root = book.config.root
    for orphan in book.orphans:
        rel = orphan.relative_to(root.resolve()) if orphan.is_relative_to(root.resolve()) else orphan
        lines.append(f"{rel}: warning: no toc lists this file; it is not part of the book")
    lines += [str(error) for error in book.errors]
    return "\n".join(lines)


def run_command(args) -> int:
    from tabbook.config import load_config

    config = load_config(args.root)
    book = load_book(config)
    text = report(book)
    if text:
        print(text, file=sys.stderr)
    if book.errors:
        print(f"{len(book.errors)} error(s) in {len(book.pages)} pages", file=sys.stderr)
        return 1
    references = sum(len(page.document.references) for page in book.pages)
    print(f"{len(book.pages)} pages, {len(book.labels)} labels, {references} references and citations: all resolve")
    return 0
