"""The whole book: page order, numbers, labels, and the checks that need every file.

The root page (``[build] index``) lists chapters in ```` ```toc ```` fences, a
chapter's index lists its sections, and so on (DIALECT section 9); that order
gives every page, heading, figure, labelled table and labelled equation its
number (chapter 1, section 1.2, figure 1.2.1, equation (1.2.3)). The root page
itself is not numbered. Pages are read through ``tabbook.parse.read_document``.

The errors of DIALECT section 10 "across the book" are found here: a reference
to an undefined label, a label defined in two places, an unknown citation key,
a missing figure file. ``python -m tabbook check`` runs just these checks.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tabbook.errors import SourceError
from tabbook.markdown import CITE_ROLES, Figure, Heading, Table

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

    @property
    def url(self) -> str:
        return self.name + ".html"

    @property
    def number_text(self) -> str:
        return ".".join(str(n) for n in self.number)

    def find(self, kind: str, item, first_line: int | None = None, last_line: int | None = None) -> Target:
        """The target of a heading/figure/table of this page, as seen again in a notebook cell.

        Matched by label, else by source line; a cell whose lines moved (text
        rewritten by the converter) still finds its item by content within the cell.
        """
        candidates = [t for t in self.targets if t.kind == kind]
        label = getattr(item, "label", None)
        if label:
            for target in candidates:
                if target.label == label:
                    return target
        title = _title_of(item).strip()
        for target in candidates:
            if target.line == item.line:
                return target
        if first_line is not None:
            near = [t for t in candidates if first_line <= t.line <= (last_line or t.line) and t.title == title]
            if len(near) == 1:
                return near[0]
        raise SourceError(self.rel, item.line, f"this {kind} is not in the book's structure: the executed notebook is out of date with its source; run `python -m tabbook run`")


def _title_of(item) -> str:
    if isinstance(item, Heading):
        return item.title
    if isinstance(item, Figure):
        return item.caption
    if isinstance(item, Table):
        return item.caption or ""
    return ""


@dataclass
class Book:
    config: object
    pages: list[Page]  # reading order; pages[0] is the root page
    labels: dict[str, Target]
    bibliography: object  # pybtex BibliographyData
    orphans: list[Path]  # chapter files no toc lists

    @property
    def root_page(self) -> Page:
        return self.pages[0]

    def page_of(self, source: Path) -> Page:
        source = Path(source).resolve()
        for page in self.pages:
            if page.source.resolve() == source:
                return page
        raise KeyError(source)


def slug(text: str) -> str:
    """An HTML id from a title: lower case words joined by hyphens."""
    text = re.sub(r"\$[^$]*\$|:\w+:`[^`]*`|[`*_\[\]()]", "", text)
    words = re.findall(r"[\w]+", text.lower())
    return "-".join(words) or "section"


def load_book(config) -> Book:
    """Read every page in toc order, number it, and check the whole book.

    Reading order comes from ``tabbook.parse.toc_order``; each page's number
    from its place in its parent's toc fences (the root page has none)."""
    from tabbook.parse import toc_order

    root = config.root.resolve()
    documents: dict[Path, object] = {}
    order = toc_order(config, documents)
    index = (root / f"{config.index}.md").resolve()
    if not index.is_file():
        raise SourceError(config.config_path, None, f"the book's index page {config.index}.md does not exist")
    listed_at: dict[Path, tuple[Path, int]] = {}
    for path in order:
        rel = path.relative_to(root).as_posix()
        if path not in documents:  # a file no toc lists: toc_order did not need to read it
            continue
        for entry, line in documents[path].toc:
            child = (path.parent / f"{entry}.md").resolve()
            if not child.is_relative_to(root):
                raise SourceError(rel, line, f"toc entry '{entry}' is outside the book")
            if child in listed_at or child == index:
                other, other_line = listed_at.get(child, (None, None))
                first = f"{other.relative_to(root)}:{other_line}" if other else "the root page"
                raise SourceError(rel, line, f"toc entry '{entry}' is already listed at {first}")
            listed_at[child] = (path, line)

    pages: list[Page] = []

    def visit(path: Path, number, parent):
        rel = path.relative_to(root).as_posix()
        page = Page(path, rel, rel[: -len(".md")], number, parent, document=documents[path])
        pages.append(page)
        for count, (entry, _line) in enumerate(page.document.toc, 1):
            child = visit((path.parent / f"{entry}.md").resolve(), (*number, count), page)
            page.children.append(child)
        return page

    visit(index, (), None)
    labels: dict[str, Target] = {}
    for page in pages:
        _structure(page, labels)
    bibliography = load_bibliography(config.bibfile)
    for page in pages:
        _check_page(page, labels, bibliography, root)
    listed = {page.source for page in pages}
    orphans = [path for path in order if path not in listed]
    return Book(config, pages, labels, bibliography, orphans)


def _structure(page: Page, labels: dict[str, Target]) -> None:
    """Number the page's headings, figures, labelled tables and equations; record its labels."""
    document = page.document
    page.title = document.title or page.source.stem
    items = [("section", h.line, h.label, h.title) for h in document.headings]
    items += [("figure", f.line, f.label, f.caption) for f in document.figures]
    items += [(lab.kind, lab.line, lab.name, lab.title or "") for lab in document.labels.values() if lab.kind in ("table", "equation")]
    items.sort(key=lambda item: item[1])
    counters = {"figure": 0, "table": 0, "equation": 0}
    heading_counters = [0] * _NUMBERED_HEADING_DEPTH
    headings = iter(document.headings)
    first_heading = next(headings, None)
    for kind, line, label, title in items:
        title = (title or "").strip()
        if kind == "section":
            heading = next(h for h in document.headings if h.line == line)
            number: tuple[int, ...] = ()
            if heading is first_heading:
                number = page.number
            else:
                depth = max(heading.level - 1, 1)
                if page.number and depth <= _NUMBERED_HEADING_DEPTH:
                    heading_counters[depth - 1] += 1
                    heading_counters[depth:] = [0] * (_NUMBERED_HEADING_DEPTH - depth)
                    number = (*page.number, *heading_counters[:depth])
            anchor = label or slug(title)
        else:
            counters[kind] += 1
            number = (*page.number, counters[kind])
            anchor = label or f"{kind}-{counters[kind]}"
        target = Target(label, kind, number, page, anchor, line, title)
        page.targets.append(target)
        if label:
            if label in labels:
                other = labels[label]
                raise SourceError(page.rel, line, f"label '{label}' is already defined at {other.where}")
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


def _check_page(page: Page, labels, bibliography, root: Path) -> None:
    for reference in page.document.references:
        for key in reference.targets:
            if reference.role in CITE_ROLES:
                if key not in bibliography.entries:
                    raise SourceError(page.rel, reference.line, f"unknown citation key '{key}' (not in the bibliography)")
                continue
            target = labels.get(key)
            if target is None:
                raise SourceError(page.rel, reference.line, f":{reference.role}: refers to the undefined label '{key}'")
            if reference.role == "eqref" and target.kind != "equation":
                raise SourceError(
                    page.rel, reference.line, f":eqref: needs an equation label, but '{key}' is a {target.kind} ({target.where})"
                )
    for figure in page.document.figures:
        if re.match(r"^[a-z][a-z0-9+.-]*:", figure.path, re.I):
            raise SourceError(page.rel, figure.line, f"figure '{figure.path}' is not a local file (the book works offline)")
        path = (page.source.parent / figure.path).resolve()
        if not path.is_relative_to(root):
            raise SourceError(page.rel, figure.line, f"figure file '{figure.path}' is outside the book")
        if not path.is_file():
            raise SourceError(page.rel, figure.line, f"missing figure file '{figure.path}'")


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


def run_command(args) -> int:
    from tabbook.config import load_config

    config = load_config(args.root)
    book = load_book(config)
    for orphan in book.orphans:
        print(f"{orphan.relative_to(config.root)}: warning: no toc lists this file; it is not part of the book", file=sys.stderr)
    references = sum(len(page.document.references) for page in book.pages)
    print(f"{len(book.pages)} pages, {len(book.labels)} labels, {references} references and citations: all resolve")
    return 0
