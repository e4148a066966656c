"""Notebook outputs: their size limits (``[build] max_output_mb``) and their HTML.

Outputs come from running code, so they are untrusted: HTML, SVG and Markdown
outputs are sanitized (``tabbook.sanitize``) and text is escaped before any
view (page, print book, deck) shows them.

Why limits: one cell that prints 50 MB made a 58 MB notebook, store entry and page,
and turned a 1.5 s ``html --no-run`` into 20 s. No reader scrolls through that,
so an output over the limit is cut where it is made (before the notebook is
stored or written) and again where it is shown (for notebooks from elsewhere),
and a note says how much was cut and how to see it all.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import html
import importlib.util
import re
from pathlib import Path

from markupsafe import Markup

from tabbook import sanitize
from tabbook.config import DEFAULT_MAX_OUTPUT_MB

# Where the images of outputs go in a site (named by content).
OUTPUT_DIR = "_static/outputs"
# The images a notebook cell may carry, best first, with their files' extensions.
_IMAGE_TYPES = {"image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif"}


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def cut_note(cut_bytes: int, max_bytes: int) -> str:
    """What a reader sees where an output was cut."""
    return (
        f"[output cut: {_size(cut_bytes)} more than the {_size(max_bytes)} limit ([build] max_output_mb in config.ini) "
        "was left out]"
    )


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


def _byte_size(text: str) -> int:
    return len(text.encode("utf-8", errors="replace"))


def _head(text: str, max_bytes: int) -> str:
    """The start of ``text`` within ``max_bytes`` UTF-8 bytes, ending at a line break when there is one."""
    head = text.encode("utf-8", errors="replace")[:max_bytes].decode("utf-8", errors="ignore")
    line_end = head.rfind("\n")
    return head[: line_end + 1] if line_end > len(head) // 2 else head


def output_size(output) -> int:
    """The bytes an output carries: its text, traceback or data."""
    kind = output.get("output_type")
    if kind == "stream":
        return _byte_size(_text(output.get("text", "")))
    if kind == "error":
        return _byte_size("\n".join(output.get("traceback") or []))
    return sum(_byte_size(_text(value)) for value in (output.get("data") or {}).values())


def budget_cut_note(max_notebook_bytes: int):
    """The note of an output cut because its notebook's outputs reached their budget."""
    return lambda cut_bytes, _room: (
        f"[output cut: {_size(cut_bytes)} left out, past the {_size(max_notebook_bytes)} the notebook's outputs may "
        "take together ([build] max_notebook_output_mb in config.ini)]"
    )


def cut_output(output, max_bytes: int, note=cut_note) -> tuple[dict, int]:
    """``output`` within ``max_bytes`` (a new output, or the same one when it fits) and the bytes cut;
    ``note(bytes cut, max_bytes)`` says so where the cut is."""
    size = output_size(output)
    if size <= max_bytes:
        return output, 0
    cut = copy.deepcopy(output)
    kind = cut.get("output_type")
    if kind == "stream":
        head = _head(_text(cut.get("text", "")), max_bytes)
        cut["text"] = f"{head}\n{note(size - _byte_size(head), max_bytes)}\n"
    elif kind == "error":
        traceback = "\n".join(cut.get("traceback") or [])
        head = _head(traceback, max_bytes)
        cut["traceback"] = [head, note(size - _byte_size(head), max_bytes)]
    else:  # rich data: text shown as far as it fits, markup and images not at all (half a tag breaks the page)
        plain = _text(cut.get("data", {}).get("text/plain", ""))
        head = _head(plain, max_bytes)
        cut["data"] = {"text/plain": f"{head}\n{note(size - _byte_size(head), max_bytes)}".lstrip("\n")}
        cut["metadata"] = {}
    return cut, size - output_size(cut)


def cut_lines(output, max_lines: int) -> tuple[dict, int]:
    """A stream output within ``max_lines`` lines: its first and last lines kept, a note between them."""
    text = _text(output.get("text", ""))
    ends = text.endswith("\n")
    lines = (text[:-1] if ends else text).split("\n")
    if len(lines) <= max_lines:
        return output, 0
    head, tail = lines[: max_lines // 2], lines[len(lines) - (max_lines - max_lines // 2) :]
    left_out = "\n".join(lines[len(head) : len(lines) - len(tail)])
    note = (
        f"[output cut: {len(lines) - max_lines:,} lines ({_size(_byte_size(left_out))}) left out here, more than the "
        f"{max_lines:,} lines a stream may show ([build] max_output_lines in config.ini)]"
    )
    cut = type(output)({**output, "text": "\n".join([*head, note, *tail]) + ("\n" if ends else "")})  # a NotebookNode stays one
    return cut, output_size(output) - output_size(cut)


def _merged_streams(outputs: list) -> list:
    """Consecutive stream outputs of one stream (a long log arrives in pieces) as one output."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            isinstance(output, dict) and isinstance(previous, dict)
            and output.get("output_type") == previous.get("output_type") == "stream"
            and output.get("name") == previous.get("name")
        ):  # fmt: skip
            merged[-1] = type(previous)({**previous, "text": _text(previous.get("text", "")) + _text(output.get("text", ""))})
        else:
            merged.append(output)
    return merged


def budget_note(max_notebook_bytes: int, left_out: int) -> dict:
    """The output that stands for what a notebook over its budget left out of one cell."""
    return {
        "output_type": "stream",
        "name": "stdout",
        "text": (
            f"[output cut: {_size(left_out)} left out of this cell; the notebook's outputs reached the "
            f"{_size(max_notebook_bytes)} budget ([build] max_notebook_output_mb in config.ini)]\n"
        ),
    }


def cut_outputs(nb, max_bytes: int, max_notebook_bytes: int | None = None, max_lines: int | None = None) -> int:
    """Bound ``nb``'s outputs, in place; return the bytes cut.

    Each output to ``max_bytes``; each run of one stream's outputs in a cell (merged into one
    output when it is too long) to ``max_lines`` lines; and all outputs of the notebook together
    to ``max_notebook_bytes``: what comes after the budget is spent is left out, with a note in
    each cell that lost outputs. One pass over the outputs (linear in their size)."""
    total = used = 0
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        outputs, left_out = [], 0
        raw = cell.get("outputs", [])
        if max_lines is not None and sum(_text(o.get("text", "")).count("\n") for o in raw if isinstance(o, dict) and o.get("output_type") == "stream") > max_lines:
            raw = _merged_streams(raw)
        for output in raw:
            if not isinstance(output, dict):
                outputs.append(output)
                continue
            kept, cut = output, 0
            if max_lines is not None and kept.get("output_type") == "stream":
                kept, cut = cut_lines(kept, max_lines)  # first: a log's last lines matter
            kept, cut_more = cut_output(kept, max_bytes)
            cut += cut_more
            size = output_size(kept)
            # An error (the reason a notebook failed) is always shown; it counts against the budget all the same.
            if max_notebook_bytes is not None and used + size > max_notebook_bytes and kept.get("output_type") != "error":
                room = max_notebook_bytes - used
                if room >= 1000:  # enough for a useful head: cut it there
                    kept, cut_more = cut_output(kept, room, budget_cut_note(max_notebook_bytes))
                    cut += cut_more
                    size = output_size(kept)
                else:
                    left_out += size
                    cut += size
                    continue
            used += size
            outputs.append(kept)
            total += max(cut, 0)
        if left_out:
            outputs.append(type(cell)(budget_note(max_notebook_bytes, left_out)))
            total += left_out
        cell["outputs"] = outputs
    return total


def output_limits(config):
    """``cut_outputs`` with the book's limits (``[build] max_output_mb``, ``max_notebook_output_mb``,
    ``max_output_lines``): where outputs are made (``tabbook.record``) and where they are shown."""
    limits = (int(config.max_output_mb * 1e6), int(config.max_notebook_output_mb * 1e6), config.max_output_lines)
    return lambda nb: cut_outputs(nb, *limits)


# -- framework noise on stderr ([env-*] drop_stderr) -------------------------------


def drop_stderr(nb, patterns) -> int:
    """Drop the stderr lines of ``nb``'s outputs that match one of ``patterns``, in place; return how many.

    For start-up noise a framework writes whatever its settings say (TensorFlow's
    C++ logging before absl is initialized): the lines are dropped where a run is
    recorded, so no view (page, print book, deck, reader notebook) shows them.
    Adjacent stderr outputs are joined first, so a line written in pieces is
    matched whole; a stderr output left empty goes. Everything else stays,
    a reader's own warnings included.
    """
    expressions = [re.compile(pattern) for pattern in patterns]
    if not expressions:
        return 0
    dropped = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            if _is_stderr(output) and outputs and _is_stderr(outputs[-1]):
                outputs[-1] = {**outputs[-1], "text": _text(outputs[-1].get("text", "")) + _text(output.get("text", ""))}
            else:
                outputs.append(output)
        kept, here = [], 0
        for output in outputs:
            if _is_stderr(output):
                left, count = drop_matching_lines(_text(output.get("text", "")), expressions)
                here += count
                if not left.strip():
                    continue
                output = {**output, "text": left}
            kept.append(output)
        if here:  # a cell with nothing to drop keeps its outputs exactly as they were
            cell["outputs"] = [_as_node(output) for output in kept]
            dropped += here
    return dropped


def drop_matching_lines(text: str, patterns) -> tuple[str, int]:
    """``text`` without its lines that one of ``patterns`` (strings or compiled) matches, and how many
    went: the line filter of :func:`drop_stderr`, for any stream of a framework's process."""
    expressions = [re.compile(pattern) for pattern in patterns]
    lines = text.splitlines(keepends=True)
    left = [line for line in lines if not any(e.search(line.rstrip("\r\n")) for e in expressions)]
    return "".join(left), len(lines) - len(left)


def _is_stderr(output) -> bool:
    return isinstance(output, dict) and output.get("output_type") == "stream" and output.get("name") == "stderr"


def _as_node(output):
    """An output as the notebook's own kind of dict (nbformat's NotebookNode where the notebook has them)."""
    from nbformat import from_dict

    return from_dict(output)


# -- outputs as HTML ---------------------------------------------------------------

_SVG_TAG = re.compile(r"<svg\b[^>]*>", re.S)
_SVG_LENGTH = r'\s{}\s*=\s*["\']\s*([0-9.]+)\s*(px|pt)?\s*["\']'
_POINTS_TO_PIXELS = 4 / 3


def svg_size(svg: str) -> tuple[int, int] | None:
    """The pixel size an SVG file asks for (matplotlib writes points), or None."""
    tag = _SVG_TAG.search(svg)
    if not tag:
        return None
    size = []
    for name in ("width", "height"):
        match = re.search(_SVG_LENGTH.format(name), tag.group(0))
        if not match:
            return None
        scale = _POINTS_TO_PIXELS if match.group(2) == "pt" else 1
        size.append(round(float(match.group(1)) * scale))
    return (size[0], size[1]) if all(size) else None


# The sanitizer writes HTML: a standalone SVG file needs its namespaces back.
_SVG_ROOT = re.compile(r"^<svg\b")
_SVG_NAMESPACES = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@functools.cache
def _ansi2html():
    """nbconvert's ``ansi2html`` filter, loaded from its own file.

    ``import nbconvert.filters.ansi`` first imports all of nbconvert (most of a
    second); the filter's module needs only ``re`` and ``markupsafe``.
    """
    package = importlib.util.find_spec("nbconvert")
    path = Path(package.origin).parent / "filters" / "ansi.py"
    spec = importlib.util.spec_from_file_location("_tabbook_nbconvert_ansi", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ansi2html


def terminal_text(text: str) -> str:
    """What a terminal ends up showing of ``text``: a progress bar redraws its line with ``\r``,
    so of each line only what follows its last lone ``\r`` stays (``\r\n`` is a line end).

    One pass over the text: the regular expression this replaces backtracked over each long
    line once per character (1.5 MB of output took longer than 300 s)."""
    if "\r" not in text:
        return text
    lines = text.split("\n")
    last = len(lines) - 1
    for index, line in enumerate(lines):
        ends_crlf = index < last and line.endswith("\r")
        body = line[:-1] if ends_crlf else line
        redrawn = body.rfind("\r")
        if redrawn >= 0:
            lines[index] = body[redrawn + 1 :] + ("\r" if ends_crlf else "")
    return "\n".join(lines)


class OutputRenderer:
    """Notebook outputs -> HTML. Text is escaped (ANSI colours kept); HTML and Markdown outputs
    are untrusted and sanitized (``tabbook.sanitize``); outputs over the size limit are cut.

    Images become files of the site (added to ``files``, named by content under
    ``_static/outputs``) shown by ``<img loading="lazy">``: a plot in a hidden tab
    costs nothing until its tab is shown, and an SVG loaded as an image can run
    no script (it is sanitized all the same, for a reader who opens the file
    itself). ``root`` is the way from the page to the site's root.
    """

    def __init__(self, collapse_lines: int, max_output_mb: float = DEFAULT_MAX_OUTPUT_MB, files: dict | None = None, root: str = ""):
        self.ansi2html = _ansi2html()
        self.collapse_lines = collapse_lines
        self.max_bytes = int(max_output_mb * 1e6)
        self.files = {} if files is None else files
        self.root = root

    def render(self, outputs) -> Markup:
        parts = [self.render_one(output) for output in outputs]
        return Markup("".join(part for part in parts if part))

    def render_one(self, output) -> str:
        if not isinstance(output, dict):  # a damaged notebook: show nothing rather than fail the page
            return ""
        output, _cut = cut_output(output, self.max_bytes)
        kind = output.get("output_type")
        if kind == "stream":
            # a progress bar redraws its line with "\r": show only what a terminal would end up showing
            text = terminal_text(_text(output.get("text", "")))
            return self._text_block(text, f"output stream {output.get('name', 'stdout')}")
        if kind == "error":
            traceback = "\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"])
            return self._text_block(traceback, "output error")
        if kind in ("display_data", "execute_result"):
            return self._rich(output.get("data", {}), output.get("metadata", {}))
        return ""

    def _rich(self, data, metadata) -> str:
        for mime in _IMAGE_TYPES:
            if mime in data:
                size = metadata.get(mime) if isinstance(metadata, dict) else None
                return self._image(mime, _text(data[mime]), size if isinstance(size, dict) else {})
        if "text/html" in data:
            return f'<div class="output html">{sanitize.clean(_text(data["text/html"]))}</div>'
        if "text/markdown" in data:
            return f'<div class="output markdown">{sanitize.clean_markdown(_text(data["text/markdown"]))}</div>'
        if "text/plain" in data:
            return self._text_block(_text(data["text/plain"]), "output result")
        return ""

    def _image(self, mime: str, value: str, metadata: dict) -> str:
        if mime == "image/svg+xml":
            svg = _SVG_ROOT.sub(_SVG_NAMESPACES, sanitize.clean(value).strip(), count=1)
            data, size = svg.encode("utf-8"), svg_size(svg)
        else:
            try:
                data = base64.b64decode(value.replace("\n", ""), validate=True)
            except ValueError:  # a damaged output: show nothing rather than fail the page
                return ""
            size = png_size(data)
        if isinstance(metadata.get("width"), int) and isinstance(metadata.get("height"), int):
            size = (metadata["width"], metadata["height"])  # a retina PNG asks for half its pixels
        name = f"{OUTPUT_DIR}/{hashlib.sha256(data).hexdigest()[:20]}.{_IMAGE_TYPES[mime]}"
        self.files[name] = data
        # width and height reserve the image's space before it loads: nothing below it moves
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        return f'<div class="output image"><img src="{html.escape(self.root + name)}" alt="Output image" loading="lazy"{dims}></div>'

    def _text_block(self, text: str, css: str) -> str:
        if not text.strip():
            return ""
        body = f'<pre class="{css}">{self.ansi2html(text.rstrip())}</pre>'
        lines = text.rstrip().count("\n") + 1
        if lines > self.collapse_lines:
            return f'<details class="long-output"><summary>Output: {lines} lines (click to show)</summary>{body}</details>'
        return body
