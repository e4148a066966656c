"""The search index: one entry per section of every page, as plain text read from the model.

The browser's search (``static/js/tabbook.js``) loads ``_static/searchindex.js``:
a list of ``{"u": url, "t": title, "x": text}``. The text is what a reader
reads in the section, from the parsed book, not from the rendered HTML: math
is its letters ("$K$-Fold" is found by "K-fold"), a reference is what the page
shows ("Section 1.2", "Nair and Hinton, 2010"), and every block and cell is
separated by a space, so words never run together. Code of every framework is
included (once per distinct cell); outputs, toc lists and tab names are not.
"""

from __future__ import annotations

import json

from tabbook.book import Book, Page, plain_text
from tabbook.markdown import code_span_text
from tabbook.parse import CODE, Code, Figure, Heading, Math, Prose, Table, tex_words, walk


def _shown(book: Book):
    """How each span reads in plain text."""

    def show(mark) -> str:
        if isinstance(mark, Math):
            return tex_words(mark.tex)
        if isinstance(mark, Code):
            return code_span_text(mark.text)
        if mark.is_citation:
            known = [key for key in mark.targets if key in book.bibliography]
            return book.bibliography.cite_text(known, textual=mark.role == "citet")
        names = []
        for label in mark.targets:
            target = book.labels.get(label)
            if target is not None:
                names.append(plain_text(target.title) if mark.role == "ref" and target.kind == "section" and target.title else target.name(mark.role == "eqref"))
        return ", ".join(names)

    return show


def page_entries(book: Book, page: Page, markdown=None) -> list[dict]:
    """The search entries of one page: the page itself, then one per section below its title.

    ``markdown`` (``tabbook.markdown.Markdown``) is the parser that rendered the page: its words are reused."""
    shown = _shown(book)

    def plain(inline):
        return plain_text(inline, shown, markdown)

    title = " ".join(filter(None, [page.number_text, plain(page.title)]))
    entries = [{"u": page.url, "t": title, "x": []}]
    seen_code: set[str] = set()
    for cell in page.document.cells:
        if cell.kind == CODE:
            for tab in book.config.tabs:
                source = cell.source_for(tab) if tab in cell.tabs and cell.hide not in ("cell", "code") else ""
                if source and source not in seen_code:
                    seen_code.add(source)
                    entries[-1]["x"].append(source)
            continue
        for block in walk(cell.blocks):
            if isinstance(block, Heading):
                target = page.target(block)
                if target is page.targets[0]:
                    continue  # the page's own title: its text joins the page's entry
                heading = " ".join(filter(None, [target.number_text, plain(block.title)]))
                entries.append({"u": f"{page.url}#{target.anchor}", "t": heading, "x": []})
            elif isinstance(block, Prose):
                entries[-1]["x"].append(plain(block.inline))
            elif isinstance(block, Figure):
                entries[-1]["x"].append(plain(block.caption))
            elif isinstance(block, Table):
                if block.caption is not None:
                    entries[-1]["x"].append(plain(block.caption))
                entries[-1]["x"].append(plain(block.body))
    for entry in entries:
        entry["x"] = " ".join(" ".join(entry["x"]).split())
    return [entry for entry in entries if entry["x"] or entry["t"]]


def search_index(entries: list[dict]) -> str:
    """``_static/searchindex.js``: the entries as a script that sets ``window.TABBOOK_SEARCH``."""
    data = json.dumps(entries, ensure_ascii=False).replace("</", "<\\/")
    return f"window.TABBOOK_SEARCH = {data};\n"
