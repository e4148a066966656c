"""`tabbook` as an installed command: built as a wheel, installed into a fresh
virtual environment, and run from another book's root with no file of this
repository in that book (issue 9 item 7). The page templates, CSS and
JavaScript must come from the installed package.

The fresh environment gets the tool environment's third-party packages through
a path file (no download), but not this checkout: the tool environment's
editable install of it is a ``.pth`` hook that a path file does not run. pip
installs the wheel without an index, so a dependency that pyproject.toml does
not declare is caught when `tabbook` runs, and one it declares but the tool
environment lacks fails the install.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import site
import subprocess
import sys
import tomllib

import pytest
from conftest import FIXTURES, REPO

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The ``tabbook`` command of a fresh environment holding only the built wheel."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"  # setuptools builds in the source tree: not in this checkout
    for name in ("tabbook", "d2l"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", source)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "wheel"), str(source)],
        check=True, capture_output=True, timeout=240,
    )
    (wheel,) = (tmp / "wheel").glob("*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(purelib, "tool-env-packages.pth"), "w") as pth:
        pth.write("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", str(wheel)], check=True, timeout=120)
    return venv / "bin" / "tabbook"


def run(command, *args, cwd):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([str(command), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_installed_command_builds_another_book(installed, tmp_path):
    book = tmp_path / "book"
    shutil.copytree(FIXTURES / "html", book)
    assert not (book / "tabbook").exists() and not (book / "static" / "templates").exists()
    where = subprocess.run([str(installed.parent / "python"), "-c", "import tabbook; print(tabbook.__file__)"], cwd=book, capture_output=True, text=True)
    assert where.stdout.startswith(str(installed.parent.parent)), where.stdout + where.stderr

    result = run(installed, "check", cwd=book)
    assert result.returncode == 0, result.stderr
    result = run(installed, "notebooks", "--out", "nb", cwd=book)
    assert result.returncode == 0, result.stderr
    assert (book / "nb" / "jax" / "chapter_demo" / "first.ipynb").is_file()
    result = run(installed, "html", "--no-run", cwd=book)
    assert result.returncode == 0, result.stderr
    site_dir = book / "_build" / "html"
    assert 'data-tab="jax"' in (site_dir / "chapter_demo" / "first.html").read_text()  # page.html and cells.html
    packaged = installed.parent.parent.glob("lib/python*/site-packages/tabbook/static/js/tabbook.js")
    assert (site_dir / "_static" / "tabbook.js").read_text() == next(packaged).read_text()


def test_every_package_the_tool_imports_is_declared():
    """A fresh `pip install` gets only pyproject.toml's dependencies: each third-party
    module that tabbook imports must come from one of them."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~\[ ;]", spec)[0].lower().replace("_", "-") for spec in project["dependencies"]}
    declared |= {re.split(r"[<>=!~\[ ;]", spec)[0].lower() for extra in project["optional-dependencies"].values() for spec in extra}
    modules = set()
    for path in (REPO / "tabbook").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    # the frameworks and d2l are imported only by `tabbook bench`'s notebook workers
    third_party = modules - set(sys.stdlib_module_names) - {"tabbook", "d2l", "torch", "jax", "mxnet", "tensorflow"}
    distributions = importlib.metadata.packages_distributions()
    missing = {module for module in third_party if not {d.lower().replace("_", "-") for d in distributions.get(module, [module])} & declared}
    assert not missing, f"imported by tabbook but not in pyproject.toml's dependencies: {sorted(missing)}"
