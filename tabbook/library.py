"""#@save blocks of the chapters -> ``d2l/_saved/<framework>.py`` (the ``lib`` command).

``python -m tabbook lib`` writes, for every tab, the code the chapters mark
with ``#@save`` (DIALECT 7) into that tab's ``lib_file`` from config.ini, in
book order (the ```toc``` fences from the index page). ``--check`` writes
nothing and exits 1 when a file is out of date.

The generated module imports the hand-written one as ``d2l`` (so saved code
can say ``d2l.Module``), and the hand-written ``d2l/<framework>.py`` ends with
``from d2l._saved.<framework> import *``: by then its own names exist, so the
circular import is safe. Each saved name is also set on the ``d2l`` module
right after its definition, so later saved code may refer to it as
``d2l.<name>`` even while the module is still loading.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from tabbook.config import BookConfig
from tabbook.errors import SourceError
from tabbook.parse import CODE, Document, split_save_mark

_MAGIC = ("%", "!")

# What every saved module imports: the names the chapters' code uses without
# importing them itself in a saved block.
_COMMON_IMPORTS = ["import collections", "import functools", "import inspect", "import math", "import os", "import random", "import re", "import time"]
FRAMEWORK_IMPORTS = {
    "pytorch": ["import numpy as np", "import torch", "from torch import nn", "from torch.nn import functional as F"],
    "mxnet": ["from mxnet import autograd, gluon, init, np, npx", "from mxnet.gluon import nn"],
    "jax": ["import jax", "import numpy as np", "import optax", "from flax import linen as nn", "from jax import numpy as jnp"],
    "tensorflow": ["import numpy as np", "import tensorflow as tf"],
}


@dataclass
class SavedBlock:
    """One top-level statement saved by ``#@save``.

    ``code`` has the marks removed; ``names`` are the names it defines for
    ``d2l`` users (none for a method attached with ``add_to_class``);
    ``attach_to`` is the class expression of an ``add_to_class`` decorator.
    """

    path: Path
    line: int
    end_line: int
    code: str
    names: list[str]
    attach_to: str | None
    section: str


def saved_blocks(doc: Document, tab: str) -> list[SavedBlock]:
    """The #@save blocks of ``doc`` in ``tab``'s code (tab.selected applied), in source order."""
    blocks = []
    for cell in doc.cells:
        if cell.kind != CODE or tab not in cell.tabs:
            continue
        lines = cell.lines_for(tab)
        marks = [i for i, (_, text) in enumerate(lines) if split_save_mark(text)[1]]
        if marks:
            blocks.extend(_blocks_of_cell(doc, cell, lines, marks))
    return blocks


def _blocks_of_cell(doc, cell, lines, marks) -> list[SavedBlock]:
    # Notebook magics (%..., !...) are not Python; blank them so the rest parses.
    code = "\n".join("" if text.lstrip().startswith(_MAGIC) else text for _, text in lines)
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        number = lines[min(max(exc.lineno or 1, 1), len(lines)) - 1][0]
        raise SourceError(doc.path, number, f"cannot save this cell's code: {exc.msg}") from None
    statements = []
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        statements.append((first, node.end_lineno, node))
    section = _section_name(cell.section)
    blocks = []
    for index in marks:
        mark_number, mark_text = lines[index]
        only_mark = not split_save_mark(mark_text)[0].strip()
        row = index + 1  # 1-based row in `code`
        if only_mark:
            chosen = next((s for s in statements if s[0] > row), None)
            if chosen is None:
                raise SourceError(doc.path, mark_number, "#@save on a line of its own, but no statement follows it in this cell")
        else:
            chosen = next((s for s in statements if s[0] == row or s[2].lineno == row), None)
            if chosen is None:
                raise SourceError(doc.path, mark_number, "#@save must be on the first line of a top-level statement (a def, a class, a decorator, an assignment), or on a line of its own before one")
        first, last, node = chosen
        text = "\n".join(split_save_mark(line)[0] for _, line in lines[first - 1 : last])
        attach_to = _add_to_class_target(node)
        blocks.append(
            SavedBlock(
                path=doc.path,
                line=lines[first - 1][0],
                end_line=lines[last - 1][0],
                code=text,
                names=[] if attach_to else _defined_names(node),
                attach_to=attach_to,
                section=section,
            )
        )
    return blocks


def _section_name(heading) -> str:
    if heading is None:
        return "before the first heading"
    return f'"{heading.title.text}"' + (f" ({heading.label})" if heading.label else "")


def _add_to_class_target(node) -> str | None:
    for decorator in getattr(node, "decorator_list", []):
        if isinstance(decorator, ast.Call) and decorator.args:
            func = decorator.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "add_to_class":
                return ast.unparse(decorator.args[0])
    return None


def _defined_names(node) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    names = []
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.append(sub.id)
    return names


def library_texts(config: BookConfig, book) -> dict[Path, str]:
    """lib_file -> the text it must have, for every tab of the book (pages in reading order, then the files no toc lists)."""
    docs = [document for _path, document in book.documents()]
    texts = {}
    for tab in config.tabs:
        lib_file = config.lib_files.get(tab)
        if lib_file is None:
            raise SourceError(config.config_path, None, f"tab '{tab}' has no [library-{tab}] lib_file")
        blocks = [block for doc in docs for block in saved_blocks(doc, tab)]
        texts[lib_file] = module_text(config, tab, blocks)
    return texts


def module_text(config: BookConfig, tab: str, blocks: list[SavedBlock]) -> str:
    """The generated module of ``tab`` holding ``blocks``."""
    module = config.lib_files[tab].stem
    package = config.library_package
    out = [
        f'"""Code the chapters save with #@save, for {tab}.\n',
        "Generated by `python -m tabbook lib` (`make lib`) from the chapters: do not edit.",
        f"{package}/{module}.py imports everything here at its end.",
        '"""',
        "# ruff: noqa",
        "",
        *_COMMON_IMPORTS,
        "",
        *FRAMEWORK_IMPORTS.get(tab, []),
        "",
        f"from {package} import {module} as d2l",
    ]
    defined: set[str] = set()
    exported: list[str] = []
    for block in blocks:
        attach = block.attach_to
        if attach and attach.isidentifier() and attach not in defined:
            raise SourceError(block.path, block.line, f"add_to_class({attach}): the class {attach} is not saved before this method; mark its definition with #@save too (or write d2l.{attach})")
        source = relative(config, block.path)
        # No line number: a prose edit above the block must not change d2l, whose
        # source is part of every notebook's cache key.
        out += ["", "", f"# {source}, section {block.section}", block.code]
        if block.names:
            out.append("")
        for name in block.names:
            out.append(f"d2l.{name} = {name}")
            defined.add(name)
            if name not in exported:
                exported.append(name)
    out += ["", "", "__all__ = [" + ", ".join(repr(name) for name in exported) + "]", ""]
    return "\n".join(out)


def relative(config: BookConfig, path: Path) -> str:
    path = Path(path).resolve()
    root = config.root.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def out_of_date(config: BookConfig, texts: dict[Path, str]) -> list[Path]:
    """The library files whose content differs from ``texts``."""
    stale = []
    for path, text in texts.items():
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            stale.append(path)
    return stale
