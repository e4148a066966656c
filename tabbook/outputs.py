"""Size limits on a notebook's outputs (``[build] max_output_mb``).

Why: one cell that prints 50 MB made a 58 MB notebook, store entry and page,
and turned a 1.5 s ``html --no-run`` into 20 s. No reader scrolls through that,
so an output over the limit is cut where it is made (before the notebook is
stored or written) and again where it is shown (for notebooks from elsewhere),
and a note says how much was cut and how to see it all.
"""

from __future__ import annotations

import copy

from tabbook.config import DEFAULT_MAX_OUTPUT_MB

__all__ = ["DEFAULT_MAX_OUTPUT_MB", "cut_output", "cut_outputs", "cut_note", "output_size"]


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


def cut_output(output, max_bytes: int) -> tuple[dict, int]:
    """``output`` within ``max_bytes`` (a new output, or the same one when it fits) and the bytes cut."""
    size = output_size(output)
    if size <= max_bytes:
        return output, 0
    cut = copy.deepcopy(output)
    kind = cut.get("output_type")
    if kind == "stream":
        head = _head(_text(cut.get("text", "")), max_bytes)
        cut["text"] = f"{head}\n{cut_note(size - _byte_size(head), max_bytes)}\n"
    elif kind == "error":
        traceback = "\n".join(cut.get("traceback") or [])
        head = _head(traceback, max_bytes)
        cut["traceback"] = [head, cut_note(size - _byte_size(head), max_bytes)]
    else:  # rich data: text shown as far as it fits, markup and images not at all (half a tag breaks the page)
        plain = _text(cut.get("data", {}).get("text/plain", ""))
        head = _head(plain, max_bytes)
        cut["data"] = {"text/plain": f"{head}\n{cut_note(size - _byte_size(head), max_bytes)}".lstrip("\n")}
        cut["metadata"] = {}
    return cut, size - output_size(cut)


def cut_outputs(nb, max_bytes: int) -> int:
    """Cut every code cell's outputs of ``nb`` to ``max_bytes`` each, in place; return the bytes cut."""
    total = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            kept, cut = cut_output(output, max_bytes)
            outputs.append(kept)
            total += max(cut, 0)
        cell["outputs"] = outputs
    return total
