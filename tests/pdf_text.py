"""Reading a printed book back with poppler (pdftotext, pdfinfo): for the PDF tests and the chapter's checks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# The contents start on page 2, after the title page; the book's pages follow them.
CONTENTS_PAGE = 2
_NUMBERED_LINE = re.compile(r"\d+(\.\d+)* \S.*")
_CONTENTS_LINE = re.compile(r"(?:(\d+(?:\.\d+)*) )?(.+) (\d+)")


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def body_text(pdf: Path, page: int) -> str:
    """The text of one page without its running head and page number (the top and bottom margins cut off)."""
    # A4 is 595 x 842 points; the margins are 24 mm (68 pt) at the top and 22 mm (62 pt) at the bottom.
    crop = ["-x", "0", "-y", "60", "-W", "595", "-H", "722"]
    args = ["pdftotext", "-layout", "-f", str(page), "-l", str(page), *crop, str(pdf), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def all_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def lines(text: str) -> list[str]:
    """The non-blank lines, each with its runs of spaces made one."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def heading_pages(pdf: Path) -> dict[str, int]:
    """Each numbered line of its own (a heading) -> the first page after the contents that shows it.

    A heading too long for one line is also found joined with its next line.
    """
    found = {}
    for number in range(CONTENTS_PAGE + 1, page_count(pdf) + 1):
        body = lines(body_text(pdf, number))
        for index, line in enumerate(body):
            if _NUMBERED_LINE.fullmatch(line):
                for heading in (line, " ".join(body[index : index + 2])):
                    found.setdefault(heading, number)
    return found


def contents(pdf: Path) -> dict[str, int]:
    """The table of contents: "number title" (or an unnumbered title) -> its page number. Fails on any other line."""
    found = lines(body_text(pdf, CONTENTS_PAGE))
    assert found[0] == "Contents", f"page {CONTENTS_PAGE} is not the contents: {found[:3]}"
    toc = {}
    for line in found[1:]:
        match = _CONTENTS_LINE.fullmatch(line)
        assert match, f"not a contents line: {line!r}"
        number, title, page = match.groups()
        toc[f"{number} {title}" if number else title] = int(page)
    return toc
