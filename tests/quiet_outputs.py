"""Finding stderr output in what the book publishes: pages, print documents, decks and notebooks.

For the chapter's check (tests/chapter/test_quiet_outputs.py) and its fault test
(tests/test_quiet_kernels.py). An output written to stderr shows in HTML as
``<pre class="output stream stderr">`` (``tabbook.outputs.OutputRenderer``) and
in a notebook as a ``stream`` output named ``stderr``. A block the book means to
show is listed as intended: (glob of where it is, tab or ``*``, a regular
expression its text matches).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser


@dataclass(frozen=True)
class Block:
    """One stderr output: the file (or page) it is in, its framework where known, its text."""

    where: str
    tab: str | None
    text: str

    def __str__(self) -> str:
        first = self.text.strip().splitlines()[0] if self.text.strip() else ""
        return f"{self.where} [{self.tab or '?'}]: {first[:160]}"


class _StderrParser(HTMLParser):
    """The text of each ``pre.output.stream.stderr``, with the ``data-tab`` of the pane around it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None, bool]] = []  # (tag, tab, is the stderr block)
        self.found: list[tuple[str | None, str]] = []
        self.text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        tab = attrs.get("data-tab") if "tabpane" in classes else None
        stderr = tag == "pre" and {"output", "stream", "stderr"} <= set(classes)
        if tag in ("br", "img", "meta", "link", "input", "hr", "wbr", "source"):
            return
        self.stack.append((tag, tab, stderr))
        if stderr:
            self.text = []

    def handle_endtag(self, tag):
        while self.stack:
            name, _tab, stderr = self.stack.pop()
            if stderr and self.text is not None:
                tabs = [t for _n, t, _s in self.stack if t]
                self.found.append((tabs[-1] if tabs else None, "".join(self.text)))
                self.text = None
            if name == tag:
                break

    def handle_data(self, data):
        if self.text is not None:
            self.text.append(data)


def html_stderr(where: str, html: str, tab: str | None = None) -> list[Block]:
    """Every stderr block of an HTML document; ``tab`` for a one-framework document (a deck, a print book)."""
    parser = _StderrParser()
    parser.feed(html)
    parser.close()
    return [Block(where, pane or tab, unescape(text)) for pane, text in parser.found]


def notebook_stderr(where: str, nb: dict, tab: str | None = None) -> list[Block]:
    """Every stderr stream output of a notebook (as JSON), joined per cell as Jupyter shows it."""
    blocks = []
    for cell in nb.get("cells", []):
        text = "".join(
            "".join(output.get("text", ""))
            for output in cell.get("outputs", [])
            if output.get("output_type") == "stream" and output.get("name") == "stderr"
        )
        if text.strip():
            blocks.append(Block(where, tab, text))
    return blocks


def file_stderr(where: str, data: bytes | str, tab: str | None = None) -> list[Block]:
    """Every stderr block of a published file: HTML and notebooks are read, anything else has none.

    A site's notebooks and decks are under ``notebooks/<tab>/`` and ``slides/<tab>/``: their tab is known."""
    parts = where.split("/")
    if tab is None and len(parts) > 2 and parts[0] in ("notebooks", "slides"):
        tab = parts[1]
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if where.endswith(".html"):
        return html_stderr(where, text, tab)
    if where.endswith(".ipynb"):
        return notebook_stderr(where, json.loads(text), tab)
    return []


def unintended(blocks: list[Block], intended) -> list[Block]:
    """The blocks no entry of ``intended`` ((where glob, tab or "*", regex)) accounts for."""
    def meant(block: Block) -> bool:
        return any(
            fnmatch.fnmatch(block.where, where) and tab in ("*", block.tab) and re.search(pattern, block.text)
            for where, tab, pattern in intended
        )

    return [block for block in blocks if not meant(block)]
