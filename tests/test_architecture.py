"""ARCHITECTURE.md stays true: the modules it names exist, the layers hold, one module reads the dialect."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "tabbook"
MAP = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
MODULES = {path.stem: path for path in PACKAGE.glob("*.py")}


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(tabbook module, imported inside a function?) for every import of ``path``."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom) and child.module and child.module.split(".")[0] == "tabbook":
                names = [child.module.split(".")[1]] if "." in child.module else [alias.name for alias in child.names]
                found.extend((name, inside) for name in names if name in MODULES)
            elif isinstance(child, ast.Import):
                found.extend((alias.name.split(".")[1], inside) for alias in child.names if alias.name.startswith("tabbook."))
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


GRAPH = {name: {module for module, _inside in imports_of(path) if module != name} for name, path in MODULES.items()}


def test_every_module_named_in_the_map_exists_and_every_module_is_named():
    named = set(re.findall(r"`(\w+)\.py`", MAP))
    assert named - set(MODULES) == set(), "ARCHITECTURE.md names modules that no longer exist"
    assert set(MODULES) - named - {"__init__", "__main__"} == set(), "modules ARCHITECTURE.md does not describe"


def test_the_import_graph_has_no_circle():
    def reaches(start, goal, seen):
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in GRAPH[start])

    circles = sorted(name for name in GRAPH if reaches(name, name, {name}))
    assert circles == [], f"modules on an import circle: {circles}"


def test_only_the_command_line_imports_stages_inside_functions():
    """An import inside a function hides an upward dependency; only cli.py defers its stages' imports (start-up time)."""
    hidden = sorted((name, module) for name, path in MODULES.items() if name != "cli" for module, inside in imports_of(path) if inside)
    assert hidden == []


def test_the_layers_of_the_map_hold():
    layers = {}
    for number, line in enumerate(re.findall(r"^\d+\. (.+)$", MAP.split("## Layers")[1].split("##")[0], re.M), 1):
        for name in re.findall(r"`(\w+)`", line):
            layers[name] = number
    assert set(layers) == set(MODULES), "every module has a layer"
    upward = [(name, module) for name, modules in GRAPH.items() for module in modules if layers[module] > layers[name]]
    assert upward == []


# Tokens of the dialect that only parse.py may look for in text.
DIALECT_TOKENS = (":numref:", ":ref:", ":eqref:", ":cite", ":label:", ":eqlabel:", ":width:", ":begin_tab:", "%%tab", "@tab", "@save", "@hide", r"\[\*\*", r"\(\*\*", "~~", r"\$\$", "tab.selected")


def test_no_module_but_parse_has_a_regular_expression_for_the_dialect():
    offenders = []
    for name, path in MODULES.items():
        if name == "parse":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("compile", "search", "match", "sub", "finditer", "findall", "split", "fullmatch"):
                if getattr(node.func.value, "id", None) == "re" and node.args and isinstance(node.args[0], ast.Constant):
                    pattern = str(node.args[0].value)
                    offenders += [(name, pattern) for token in DIALECT_TOKENS if token in pattern]
    assert offenders == []
