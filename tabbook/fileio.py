"""Atomic, deterministic file writing, shared by every stage.

A reader (or a crashed run) never sees half a file: data goes to a temporary
file in the same directory, which then replaces the target in one rename.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from tabbook.errors import SourceError


def atomic_write(path: Path | str, data: str | bytes) -> None:
    """Write ``data`` to ``path`` all at once, creating parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which would
# race with threads creating files.
_UMASK = _read_umask()


def read_notebook_json(path: Path | str) -> dict:
    """An executed notebook read back as plain JSON (fast: no nbformat), checked for the shape the
    HTML build relies on; a damaged file is a SourceError naming it and what to do, never a traceback."""
    path = Path(path)

    def bad(problem: str) -> SourceError:
        return SourceError(path, None, f"{problem}: not an executed notebook; run `python -m tabbook run` to rebuild it")

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise bad("not UTF-8") from None
    except ValueError as exc:
        raise bad(f"not valid JSON, perhaps cut short ({exc})") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list) or not isinstance(data.get("metadata"), dict):
        raise bad("no cells or metadata")
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata"), dict) or "cell_type" not in cell:
            raise bad(f"cell {number} is damaged")
        if not isinstance(cell.get("source", ""), str | list) or not isinstance(cell.get("outputs", []), list):
            raise bad(f"cell {number} is damaged")
    return data


def notebook_text(nb) -> str:
    """A notebook as JSON text, byte-identical for identical content."""
    import nbformat

    return nbformat.writes(nb, version=4) + "\n"


def write_notebook(nb, path: Path | str) -> None:
    """Validate ``nb`` as nbformat 4 and write it atomically."""
    import nbformat

    nbformat.validate(nb)
    atomic_write(path, notebook_text(nb))
