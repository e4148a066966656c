"""A small mutation pass: do the tool's tests notice when its code is wrong?

For each module of ``tabbook/`` that has a mirror test file (``tests/test_<module>.py``),
a few mutants are made (seeded, so a rerun makes the same ones): a comparison
flipped (``==``/``!=``, ``<``/``>=``, ``in``/``not in``, ``is``/``is not``), ``and``
and ``or`` swapped, an ``if`` condition negated, a number moved by one, ``True`` and
``False`` swapped, a return value replaced by ``None``. Each mutant replaces the
module in a copy of the repository and its test file runs (the fast tests: no
browser, no kernels); a mutant that file misses then meets the whole fast suite
(many modules are also guarded by the tests of the views that use them). A
mutant the tests fail on is killed; one that passes every fast test survives
and is listed: a place where a test could be added (or one only the slow and
browser tests guard).

    python scripts/mutation_pass.py [--per-module 8] [--modules parse,book] [--seed 0]
"""

from __future__ import annotations

import argparse
import ast
import copy
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


def candidates(tree: ast.AST) -> list[tuple[int, str, object]]:
    """(index in the walk, what the mutation does, how) for every place that can be mutated."""
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _FLIP:
            found.append((index, f"line {node.lineno}: {type(node.ops[0]).__name__} -> {_FLIP[type(node.ops[0])].__name__}", "compare"))
        elif isinstance(node, ast.BoolOp):
            found.append((index, f"line {node.lineno}: {type(node.op).__name__} -> {'Or' if isinstance(node.op, ast.And) else 'And'}", "boolop"))
        elif isinstance(node, ast.If | ast.While | ast.IfExp):
            found.append((index, f"line {node.lineno}: condition negated", "negate"))
        elif isinstance(node, ast.Constant) and type(node.value) is int and not isinstance(node.value, bool):
            found.append((index, f"line {node.lineno}: {node.value} -> {node.value + 1}", "number"))
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            found.append((index, f"line {node.lineno}: {node.value} -> {not node.value}", "bool"))
        elif isinstance(node, ast.Return) and node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            found.append((index, f"line {node.lineno}: return None", "return"))
    return found


def mutate(tree: ast.AST, index: int, how: str) -> str:
    tree = copy.deepcopy(tree)
    node = list(ast.walk(tree))[index]
    if how == "compare":
        node.ops[0] = _FLIP[type(node.ops[0])]()
    elif how == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif how == "negate":
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
    elif how == "number":
        node.value += 1
    elif how == "bool":
        node.value = not node.value
    elif how == "return":
        node.value = ast.Constant(value=None)
    return ast.unparse(ast.fix_missing_locations(tree))


def run_tests(copy_root: Path, tests: list[str], timeout: int) -> bool:
    """Whether the fast tests in ``tests`` pass (the mutant survives them)."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider", "-m", "not browser and not slow"],
            cwd=copy_root,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-module", type=int, default=8)
    parser.add_argument("--modules", help="comma-separated module names (default: every module with a mirror test file)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args()
    modules = sorted(path.stem for path in (ROOT / "tabbook").glob("*.py") if (ROOT / "tests" / f"test_{path.stem}.py").is_file())
    if args.modules:
        modules = [name for name in args.modules.split(",") if name in modules]
    with tempfile.TemporaryDirectory(prefix="tabbook-mutation-") as tmp:
        copy_root = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy_root, symlinks=True, ignore=shutil.ignore_patterns("_build", ".git", "__pycache__", "node_modules"))
        (copy_root / "scripts" / "js" / "node_modules").symlink_to(ROOT / "scripts" / "js" / "node_modules")
        totals = [0, 0]
        for name in modules:
            source = copy_root / "tabbook" / f"{name}.py"
            original = source.read_text(encoding="utf-8")
            tree = ast.parse(original)
            places = candidates(tree)
            chosen = random.Random(f"{args.seed}-{name}").sample(places, min(args.per_module, len(places)))
            survivors, by_mirror = [], 0
            for index, description, how in chosen:
                source.write_text(mutate(tree, index, how), encoding="utf-8")
                if not run_tests(copy_root, [f"tests/test_{name}.py"], args.timeout):
                    by_mirror += 1
                elif run_tests(copy_root, ["tests", "--ignore=tests/d2l", "--ignore=tests/chapter"], args.timeout * 4):
                    survivors.append(description)
                source.write_text(original, encoding="utf-8")
            totals[0] += len(chosen) - len(survivors)
            totals[1] += len(chosen)
            print(f"{name:<12} {len(chosen) - len(survivors)}/{len(chosen)} killed ({by_mirror} by tests/test_{name}.py)", flush=True)
            for description in survivors:
                print(f"    survived: {description}", flush=True)
        print(f"all: {totals[0]}/{totals[1]} mutants killed")


if __name__ == "__main__":
    main()
