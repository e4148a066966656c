"""Reading a printed book back with poppler (pdftotext, pdfinfo): for the PDF tests and the chapter's checks."""

from __future__ import annotations

import html
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


def running_head(pdf: Path, page: int) -> str:
    """The text above a page's body: its running head."""
    args = ["pdftotext", "-layout", "-f", str(page), "-l", str(page), "-x", "0", "-y", "0", "-W", "595", "-H", "60", str(pdf), "-"]
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


# A4 in points, and the page margins of print.css (24 mm above the body, 22 mm below it).
PAGE_HEIGHT, TOP_MARGIN, BOTTOM_MARGIN = 842, 68, 62


def body_fill(pdf: Path, page: int, dpi: int = 36) -> float | None:
    """How far down its body a page's ink reaches (0 at the top of the body, 1 at its foot), from the page
    rendered to an image (``pdftoppm``); None for a page with nothing in its body. The running head and the
    page number are in the margins, outside the body."""
    data = subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(pdf)],
                          capture_output=True, check=True).stdout
    magic, width, height, _maxval, pixels = data.split(maxsplit=4)
    assert magic == b"P5", "pdftoppm did not write a PGM image"
    width, height = int(width), int(height)
    scale = height / PAGE_HEIGHT
    top, bottom = round(TOP_MARGIN * scale), round((PAGE_HEIGHT - BOTTOM_MARGIN) * scale)
    inked = [row for row in range(top, bottom) if min(pixels[row * width : (row + 1) * width]) < 200]
    return (inked[-1] - top + 1) / (bottom - top) if inked else None


def short_pages(pdf: Path, least: float = 0.5) -> list[int]:
    """The pages after the contents whose body ends before ``least`` of its height (the last page aside)."""
    last = page_count(pdf)
    return [number for number in range(CONTENTS_PAGE + 1, last) if (body_fill(pdf, number) or 0) < least]


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
_EQUATION_NUMBER = re.compile(r"\(\d+(?:\.\d+)+\)")


def words(pdf: Path, page: int) -> list[tuple[float, float, float, float, str]]:
    """Every word of a page with its box (x0, y0, x1, y1, text), as ``pdftotext -bbox`` finds them."""
    args = ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"]
    found = _WORD.findall(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    return [(float(x0), float(y0), float(x1), float(y1), html.unescape(text)) for x0, y0, x1, y1, text in found]


def overlapping_equation_numbers(pdf: Path) -> list[str]:
    """Each equation number, "(1.2.3)", whose box meets the box of another word on its page: printed over its formula."""
    found = []
    for page in range(1, page_count(pdf) + 1):
        boxes = words(pdf, page)
        for box in boxes:
            if not _EQUATION_NUMBER.fullmatch(box[4]):
                continue
            for other in boxes:
                if other is not box and _overlap(box, other) > 0.5:
                    found.append(f"page {page}: {box[4]} over {other[4]!r}")
    return found


def _overlap(a, b) -> float:
    """The area, in square points, two boxes share."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0
