"""Read and check ``config.ini``: the one place that says what the book is.

Standard library only: the environment setup reads it before any virtual
environment exists.
"""

from __future__ import annotations

import configparser
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tabbook.errors import SourceError

CONFIG_NAME = "config.ini"

# section -> {key: required?}. Sections named "<prefix>-<tab>" are checked
# against the per-tab schemas below.
_SCHEMA = {
    "project": {"name": True, "title": True, "author": True, "copyright": True, "release": True},
    "build": {
        "index": True,
        "chapters": True,
        "exclusions": False,
        "tabs": True,
        "cell_timeout": True,
        "jobs": True,
        "build_dir": False,
        "gpus": False,
        "cpu_only": False,
    },
    "html": {"bibfile": True, "collapse_lines": False},
    "library": {"package": True},
}
_LIBRARY_TAB_SCHEMA = {"lib_file": True}
_ENV_SCHEMA = {"requirements": True, "kernel": False}


@dataclass(frozen=True)
class EnvSpec:
    """One virtual environment: its pinned requirements and, for a framework, its kernel."""

    name: str
    requirements: Path
    kernel: str | None


@dataclass(frozen=True)
class BookConfig:
    root: Path
    project: dict[str, str]
    index: str
    chapter_globs: tuple[str, ...]
    exclusions: tuple[str, ...]
    tabs: tuple[str, ...]
    cell_timeout: int
    jobs: int
    build_dir: Path
    bibfile: Path
    collapse_lines: int
    library_package: str
    lib_files: dict[str, Path] = field(default_factory=dict)
    envs: dict[str, EnvSpec] = field(default_factory=dict)
    gpus: tuple[str, ...] | None = None  # None: whatever nvidia-smi lists (tabbook.schedule)
    cpu_only: tuple[str, ...] = ()  # sources whose notebooks never need a GPU

    @property
    def default_tab(self) -> str:
        return self.tabs[0]

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    def with_tabs(self, tabs) -> BookConfig:
        """The same book with another tab list (``--tabs``); its first tab is the default."""
        from dataclasses import replace

        return replace(self, tabs=tuple(tabs))

    def chapter_files(self) -> list[Path]:
        """Every source file of the book: the index page and the chapters, sorted."""
        files = set()
        index = self.root / f"{self.index}.md"
        if index.exists():
            files.add(index)
        for pattern in self.chapter_globs:
            for path in self.root.glob(pattern):
                rel = path.relative_to(self.root).as_posix()
                if not any(fnmatch.fnmatch(rel, ex) or fnmatch.fnmatch(path.name, ex) for ex in self.exclusions):
                    files.add(path)
        return sorted(files)

    def notebook_name(self, source: Path) -> str:
        """The notebook's name: path relative to the book root without ``.md``,
        or the file's stem for a file outside the book."""
        source = Path(source).resolve()
        try:
            rel = source.relative_to(self.root.resolve())
        except ValueError:
            return source.stem
        return rel.with_suffix("").as_posix()


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in re.split(r"[,\n]", value) if item.strip())


def _line_numbers(text: str) -> dict[tuple[str, str | None], int]:
    """Line of each section header and key, for error messages."""
    lines: dict[tuple[str, str | None], int] = {}
    section = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        header = re.match(r"\[(.+)\]$", stripped)
        if header:
            section = header.group(1).strip()
            lines.setdefault((section, None), number)
        elif section is not None and not line[0].isspace():
            key = re.split(r"[=:]", stripped, maxsplit=1)[0].strip().lower()
            lines.setdefault((section, key), number)
    return lines


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` that holds ``config.ini``."""
    here = Path(start or os.getcwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    raise SourceError(here / CONFIG_NAME, None, "no config.ini here or in any parent directory; run from the book's root")


def load_config(root: Path | None = None) -> BookConfig:
    """Parse and validate ``config.ini``; any problem is a SourceError with its line."""
    root = find_root(root)
    path = root / CONFIG_NAME
    text = path.read_text(encoding="utf-8")
    lines = _line_numbers(text)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        raise SourceError(path, line, f"not a valid INI file: {exc.message if hasattr(exc, 'message') else exc}") from None

    def fail(section, key, message):
        raise SourceError(path, lines.get((section, key)) or lines.get((section, None)), message)

    sections = {}
    for section in parser.sections():
        if section in _SCHEMA:
            schema = _SCHEMA[section]
        elif section.startswith("library-"):
            schema = _LIBRARY_TAB_SCHEMA
        elif section.startswith("env-"):
            schema = _ENV_SCHEMA
        else:
            known = ", ".join([*_SCHEMA, "library-<tab>", "env-<name>"])
            fail(section, None, f"unknown section [{section}]; known sections: {known}")
        values = dict(parser.items(section))
        for key in values:
            if key not in schema:
                fail(section, key, f"unknown key '{key}' in [{section}]; known keys: {', '.join(schema)}")
        for key, required in schema.items():
            if required and not values.get(key, "").strip():
                fail(section, None, f"[{section}] is missing the required key '{key}'")
        sections[section] = values
    for section in _SCHEMA:
        if section not in sections:
            raise SourceError(path, None, f"missing required section [{section}]")

    build = sections["build"]
    tabs = _split_list(build["tabs"])
    if not tabs:
        fail("build", "tabs", "[build] tabs lists no framework")

    def integer(section, key, default=None):
        raw = sections[section].get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            fail(section, key, f"[{section}] {key} must be a whole number, not '{raw}'")
        if value < 0:
            fail(section, key, f"[{section}] {key} must not be negative")
        return value

    from tabbook.schedule import parse_gpus_setting

    try:
        gpus = parse_gpus_setting(build.get("gpus", "auto"))
    except ValueError as exc:
        fail("build", "gpus", f"[build] gpus: {exc}")

    lib_files = {}
    envs = {}
    for tab in tabs:
        if f"library-{tab}" not in sections:
            fail("build", "tabs", f"tab '{tab}' has no [library-{tab}] section")
        if f"env-{tab}" not in sections:
            fail("build", "tabs", f"tab '{tab}' has no [env-{tab}] section")
        if not sections[f"env-{tab}"].get("kernel"):
            fail(f"env-{tab}", None, f"[env-{tab}] is missing the required key 'kernel'")
    for section, values in sections.items():
        if section.startswith("library-"):
            lib_files[section[len("library-"):]] = root / values["lib_file"]
        elif section.startswith("env-"):
            name = section[len("env-"):]
            envs[name] = EnvSpec(name, root / values["requirements"], values.get("kernel") or None)

    return BookConfig(
        root=root,
        project=dict(sections["project"]),
        index=build["index"],
        chapter_globs=_split_list(build["chapters"]),
        exclusions=_split_list(build.get("exclusions", "")),
        tabs=tabs,
        cell_timeout=integer("build", "cell_timeout"),
        jobs=integer("build", "jobs") or os.cpu_count() or 1,
        build_dir=root / build.get("build_dir", "_build"),
        bibfile=root / sections["html"]["bibfile"],
        collapse_lines=integer("html", "collapse_lines", 40),
        library_package=sections["library"]["package"],
        lib_files=lib_files,
        envs=envs,
        gpus=gpus,
        cpu_only=_split_list(build.get("cpu_only", "")),
    )
