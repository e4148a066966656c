"""Document -> one Jupyter notebook per tab (the ``notebooks`` command).

``python -m tabbook notebooks [FILE.md ...] [--tabs a,b,c] [--out DIR]``
writes ``DIR/<tab>/<name>.ipynb`` for every file and every tab that gets a
notebook (DIALECT 2). All files are converted before anything is written, so
bad input anywhere leaves no output at all.

Speed (issue 2 item 7: 200 files x 4 tabs in well under a second) shapes two
choices here. Cells are plain dicts, and a cell that is the same in several
tabs (shared text, code without ``tab.selected``) is one dict, validated
against the nbformat 4.5 schema and serialized to JSON once for all tabs.
The JSON text is byte-identical to ``nbformat.writes`` (a test holds it to
that), so the files are what Jupyter itself would write.

Outside a book (no ``config.ini`` here or above), ``--tabs`` is required,
tab ``t`` gets the kernel ``d2l-t``, and tab marks may name the ``--tabs`` and
the frameworks of the d2l.ai books (D2L_FRAMEWORKS), so that ``--tabs pytorch``
converts a d2l.ai section that also has MXNet, JAX and TensorFlow cells.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from tabbook.config import BookConfig
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write
from tabbook.parse import CODE, TEXT, Document, read_document

NBFORMAT, NBFORMAT_MINOR = 4, 5
D2L_FRAMEWORKS = ("pytorch", "mxnet", "jax", "tensorflow", "paddle")
_encode_string = json.encoder.encode_basestring  # the C encoder json.dumps uses with ensure_ascii=False


def build_notebooks(config: BookConfig, doc: Document, tabs=None) -> dict:
    """The notebooks of one Document: tab -> nbformat.NotebookNode, validated, only for
    the tabs that get one (of ``tabs``, default all), in ``config.tabs`` order."""
    import nbformat

    notebooks = {tab: nb for tab, nb in notebook_dicts(config, doc).items() if tabs is None or tab in tabs}
    validate_notebooks(notebooks)
    return {tab: nbformat.from_dict(nb) for tab, nb in notebooks.items()}


def notebook_dicts(config: BookConfig, doc: Document) -> dict[str, dict]:
    """The notebooks of ``doc`` as plain dicts (tab -> notebook).

    A cell that is identical in several tabs is the same dict object in each
    notebook; :func:`notebook_json` relies on that to serialize it once.
    """
    tabs = doc.notebook_tabs()
    active = config.tabs
    shared: dict[int, dict] = {}  # id(Cell) -> its dict, for cells alike in every tab
    notebooks = {}
    source = source_name(config, doc.path)
    for tab in tabs:
        cells = []
        for cell in doc.cells_for(tab):
            key = id(cell)
            if not cell.same_in_all_tabs:
                code = cell.source_for(tab)
                if not code:
                    continue
                cached = shared.get(key)
                if cached is None or cached["source"] != code:
                    cached = shared[key] = _cell_dict(cell, code, active)
            else:
                cached = shared.get(key)
                if cached is None:
                    text = cell.text if cell.kind != CODE else cell.source_for(tab)
                    if not text:
                        continue
                    cached = shared[key] = _cell_dict(cell, text, active)
            cells.append(cached)
        notebooks[tab] = {
            "cells": cells,
            "metadata": {
                "kernelspec": {"display_name": f"Python 3 (d2l, {tab})", "language": "python", "name": kernel_name(config, tab)},
                "language_info": {"name": "python"},
                "tabbook": {
                    "required_libs": list(doc.required_libs),
                    "source": source,
                    "tab": tab,
                    "tabs": list(tabs),
                },
            },
            "nbformat": NBFORMAT,
            "nbformat_minor": NBFORMAT_MINOR,
        }
    return notebooks


def _cell_dict(cell, source: str, active_tabs) -> dict:
    meta = {"end_line": cell.end_line, "kind": cell.kind, "line": cell.line}
    if cell.kind != TEXT:
        meta["tabs"] = [tab for tab in active_tabs if tab in cell.tabs]
    if cell.hide:
        meta["hide"] = cell.hide
    if cell.kind == CODE:
        return {
            "cell_type": "code",
            "execution_count": None,
            "id": cell.id,
            "metadata": {"tabbook": meta},
            "outputs": [],
            "source": source,
        }
    return {"cell_type": "markdown", "id": cell.id, "metadata": {"tabbook": meta}, "source": source}


def attach_outputs(nb, executed) -> list[str]:
    """Give ``nb``'s code cells the outputs of ``executed``'s cells with the same id.

    The one way outputs travel: from the kernel's notebook into the store, from
    the store onto a notebook converted from newer prose, and onto the page.
    Ids come from each cell's content (``tabbook.parse``), so a prose edit
    keeps every output. Returns the ids of the code cells that differ between
    the two (changed, added or removed): empty when the outputs are current.
    """
    done = {cell.get("id"): cell for cell in executed.get("cells", []) if cell.get("cell_type") == "code"}
    missing = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        old = done.pop(cell["id"], None)
        if old is None:
            missing.append(cell["id"])
            continue
        cell["outputs"] = old.get("outputs", [])
        cell["execution_count"] = old.get("execution_count")
    for name in ("language_info", "tabbook_execution"):
        if name in executed.get("metadata", {}):
            nb["metadata"][name] = executed["metadata"][name]
    return missing + list(done)


def kernel_name(config: BookConfig, tab: str) -> str:
    env = config.envs.get(tab)
    return env.kernel if env and env.kernel else f"d2l-{tab}"


def in_book(config: BookConfig, path) -> bool:
    """Whether ``path`` belongs to the book of ``config`` (a real config.ini at its root)."""
    if not config.config_path.is_file():
        return False
    return Path(path).resolve().is_relative_to(config.root.resolve())


def source_name(config: BookConfig, path) -> str:
    """The file as the notebooks' metadata names it: relative to the book root,
    or just the file name outside the book."""
    path = Path(path)
    if in_book(config, path):
        return path.resolve().relative_to(config.root.resolve()).as_posix()
    return path.name


def notebook_name(config: BookConfig, path) -> str:
    """``<tab>/<name>.ipynb``'s name: the book-relative path without ``.md``, or the stem."""
    return config.notebook_name(path) if in_book(config, path) else Path(path).stem


# -- validation and JSON ------------------------------------------------------------


def validate_notebooks(notebooks: dict[str, dict]) -> None:
    """Validate every notebook of one file against the nbformat 4.5 schema.

    Each distinct cell is checked once against the schema of its cell type
    (cells shared by several tabs are one object), each notebook's metadata
    with the whole-notebook schema, and cell ids must be unique in a notebook.
    Raises nbformat.ValidationError: a bug here, never bad input.
    """
    import fastjsonschema
    from nbformat import ValidationError

    validators = _validators()
    seen = set()
    try:
        for nb in notebooks.values():
            validators["notebook"](dict(nb, cells=[]))
            ids = set()
            for cell in nb["cells"]:
                ids.add(cell["id"])
                if id(cell) not in seen:
                    seen.add(id(cell))
                    validators[cell["cell_type"]](cell)
            if len(ids) != len(nb["cells"]):
                raise ValidationError(f"duplicate cell ids in the {nb['metadata']['tabbook']['tab']} notebook")
    except fastjsonschema.JsonSchemaException as exc:
        raise ValidationError(f"not a valid nbformat {NBFORMAT}.{NBFORMAT_MINOR} notebook: {exc}") from None


@functools.cache
def _validators() -> dict:
    """Compiled validators (fastjsonschema, nbformat's own choice) for a whole
    notebook and for each cell type, from nbformat's 4.5 schema."""
    import fastjsonschema
    import nbformat.v4

    schema_file = Path(nbformat.v4.__file__).parent / nbformat.v4.nbformat_schema[(NBFORMAT, NBFORMAT_MINOR)]
    schema = json.loads(schema_file.read_text(encoding="utf-8"))

    def definition(name):
        return fastjsonschema.compile({"$schema": schema["$schema"], "definitions": schema["definitions"], "$ref": f"#/definitions/{name}"})

    return {"notebook": fastjsonschema.compile(schema), "code": definition("code_cell"), "markdown": definition("markdown_cell")}


def notebook_json(nb: dict, chunks: dict | None = None) -> str:
    """``nb`` as the text ``nbformat.writes`` gives (plus a final newline).

    ``chunks`` (id(cell) -> text) lets the notebooks of one file share the
    text of their shared cells.
    """
    chunks = {} if chunks is None else chunks
    parts = []
    for cell in nb["cells"]:
        text = chunks.get(id(cell))
        if text is None:
            out = ["  "]
            _encode(dict(cell, source=cell["source"].splitlines(True)), 2, out)
            text = chunks[id(cell)] = "".join(out)
        parts.append(text)
    cells = "[\n" + ",\n".join(parts) + "\n ]" if parts else "[]"
    out = ['{\n "cells": ', cells, ',\n "metadata": ']
    _encode(nb["metadata"], 1, out)
    out.append(f',\n "nbformat": {nb["nbformat"]},\n "nbformat_minor": {nb["nbformat_minor"]}\n}}\n')
    return "".join(out)


def _encode(value, level: int, out: list) -> None:
    """json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False), for JSON-native values."""
    kind = type(value)
    if kind is str:
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif kind is bool:
        out.append("true" if value else "false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float:  # an executed notebook's run time (tabbook_execution.seconds)
        out.append(json.dumps(value))
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        inner = ",\n" + " " * (level + 1)
        out.append("{" + inner[1:])
        for i, key in enumerate(sorted(value)):
            item = value[key]
            if i:
                out.append(inner)
            if type(item) is str:
                out.append(_encode_string(key) + ": " + _encode_string(item))
            else:
                out.append(_encode_string(key) + ": ")
                _encode(item, level + 1, out)
        out.append("\n" + " " * level + "}")
    elif kind is list:
        if not value:
            out.append("[]")
            return
        inner = ",\n" + " " * (level + 1)
        if all(type(item) is str for item in value):
            out.append("[" + inner[1:] + inner.join(map(_encode_string, value)) + "\n" + " " * level + "]")
            return
        out.append("[" + inner[1:])
        for i, item in enumerate(value):
            if i:
                out.append(inner)
            _encode(item, level + 1, out)
        out.append("\n" + " " * level + "]")
    else:
        raise TypeError(f"cannot write {kind.__name__} into a notebook")


# -- converting many files ---------------------------------------------------------------


def convert_file(config: BookConfig, path) -> dict[str, str]:
    """One file's notebooks as JSON text: tab -> text. Raises SourceError."""
    doc = read_document(config, path, marks=False)  # a notebook needs no role or math found
    notebooks = notebook_dicts(config, doc)
    validate_notebooks(notebooks)
    chunks: dict = {}
    return {tab: notebook_json(nb, chunks) for tab, nb in notebooks.items()}


def convert_files(config: BookConfig, paths) -> list[tuple[Path, str, dict[str, str]]]:
    """Convert every file first: [(path, notebook name, {tab: text})]. Two files
    that would write the same notebook are an error."""
    converted = []
    names: dict[str, Path] = {}
    for path in paths:
        path = Path(path)
        texts = convert_file(config, path)
        name = notebook_name(config, path)
        if name in names:
            raise SourceError(path, None, f"would overwrite the notebooks of {names[name]} (both are named '{name}'); convert them separately")
        names[name] = path
        converted.append((path, name, texts))
    return converted


def write_converted(config: BookConfig, converted, out_dir: Path) -> int:
    """Write the notebooks atomically (unchanged files are left alone) and
    remove notebooks of tabs that no longer get one. Returns how many were written."""
    written = 0
    for _path, name, texts in converted:
        for tab in config.tabs:
            target = out_dir / tab / f"{name}.ipynb"
            text = texts.get(tab)
            if text is None:
                if target.exists():
                    target.unlink()
                continue
            data = text.encode("utf-8")
            try:
                if target.read_bytes() == data:
                    continue
            except FileNotFoundError:
                pass
            atomic_write(target, data)
            written += 1
    return written
