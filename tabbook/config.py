"""Read and check ``config.ini``: the one place that says what the book is.

Standard library only: the environment setup reads it before any virtual
environment exists.
"""

from __future__ import annotations

import configparser
import difflib
import fnmatch
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tabbook.errors import SourceError

CONFIG_NAME = "config.ini"
QUARTO_NAME = "_quarto.yml"  # the d2l authors' 2026 sources keep their book's structure there
# The largest output a cell may keep, in MB ([build] max_output_mb); larger ones are cut.
DEFAULT_MAX_OUTPUT_MB = 4.0
# The most output one notebook may keep, in MB ([build] max_notebook_output_mb): 40 outputs
# of 3.9 MB each made a 156 MB store entry and page; the outputs past this budget are cut.
DEFAULT_MAX_NOTEBOOK_OUTPUT_MB = 20.0
# The most lines one stream of a cell may show ([build] max_output_lines): a 200,000-line
# log arrived as 16 stream outputs, each under the size limit. The first and last lines stay.
DEFAULT_MAX_OUTPUT_LINES = 10_000
# Any size setting above this (a typo, or 'inf') is refused rather than trusted.
_LARGEST_MB = 100_000.0
# The schemes a link of the book's pages may have (besides a relative path): nothing that runs script.
LINK_SCHEMES = ("http", "https", "mailto")

# section -> {key: meaning}. Every key is optional: a missing one takes the
# default of a d2lbook book (see load_config). Sections named "<prefix>-<tab>"
# are checked against the per-tab schemas below. Some d2lbook keys are other
# names for ours: [build] notebooks = chapters, [build] output_dir = build_dir,
# [pdf] bibfile = [html] bibfile.
_SCHEMA = {
    "project": {"name", "title", "author", "copyright", "release"},
    "build": {
        "index",
        "chapters",
        "notebooks",
        "exclusions",
        "tabs",
        "cell_timeout",
        "jobs",
        "build_dir",
        "output_dir",
        "resources",
        "eval_notebook",
        "max_output_mb",
        "max_notebook_output_mb",
        "max_output_lines",
        "gpus",
        "cpu_only",
        "data",
        "dialect",
    },
    "html": {"bibfile", "collapse_lines", "header_links", "favicon", "html_logo", "include_css"},
    "pdf": {"bibfile"},
    "library": {"package"},
    # where the book is published: launch, discussion and edit links (all optional)
    "publish": {"site_url", "notebooks_repo", "notebooks_branch", "source_repo", "source_branch", "discussions"},
}
_LIBRARY_TAB_SCHEMA = {"lib_file"}
_ENV_SCHEMA = {"requirements", "kernel", "no_deps", "drop_stderr"}

# d2lbook 1.0.3's keys that this tool does not use: every key of its
# d2lbook/config_default.ini that is not in _SCHEMA, and the alias keys its
# library.replace_alias reads from [library-<tab>]. A book's config.ini may
# hold them (it is then still a valid d2lbook config); they get one warning.
D2LBOOK_UNUSED = {
    "project": {"lang"},
    "translation": {"origin_repo", "origin_lang", "translator", "terminology"},
    "build": {
        "rsts",
        "non-notebooks",
        "dependencies",
        "source_dir",
        "warning_is_error",
        "sphinx_extensions",
        "sphinx_configs",
        "origin_repo",
    },
    "html": {"include_js"},
    "pdf": {"main_font", "sans_font", "mono_font", "post_latex", "latex_logo", "latex_url", "style"},
    "library": {"save_filename", "save_mark", "save_patterns", "version", "version_file", "root_dir"},
    "library-<tab>": {"lib_name", "simple_alias", "fluent_alias", "args_alias", "alias", "reverse_alias"},
    "deploy": {"google_analytics_tracking_id", "github_repo", "s3_bucket", "other_file_s3urls"},
    "colab": {"github_repo", "exclusions", "libs", "libs_header", "gpu_pattern", "replace_svg_url"},
    "sagemaker": {"github_repo", "kernel", "libs", "libs_header"},
    "slides": {"top_left", "top_right", "github_repo"},
}
# The kernel of a tab without an [env-<tab>] section: the Python the tool runs
# in, as d2lbook runs every tab in the Python it was started from.
DEFAULT_KERNEL = "python3"
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}
_warned: set[str] = set()  # config files whose warnings were printed


@dataclass(frozen=True)
class HeaderLink:
    """One link of the page header (``[html] header_links``: name, URL, Font Awesome icon)."""

    name: str
    url: str
    icon: str


@dataclass(frozen=True)
class Publish:
    """``[publish]``: where the book lives online. Empty values mean "no such links"."""

    site_url: str = ""  # the published HTML book, for links in downloaded notebooks
    notebooks_repo: str = ""  # owner/name on GitHub holding `tabbook publish-notebooks`' tree
    notebooks_branch: str = "main"
    source_repo: str = ""  # owner/name of this book's sources: "Edit on GitHub", and d2l for Colab
    source_branch: str = "main"
    discussions: tuple[tuple[str, str], ...] = ()  # (page name, URL) of each section's discussion

    def discussion(self, name: str) -> str | None:
        return dict(self.discussions).get(name)


@dataclass(frozen=True)
class EnvSpec:
    """One virtual environment: its pinned requirements and, for a framework, its kernel."""

    name: str
    requirements: Path
    kernel: str | None
    # install exactly the requirements file, not their dependencies (it pins them all)
    no_deps: bool = False
    # regular expressions, one a line: stderr lines of its kernels that match one are dropped
    # from the recorded outputs (framework start-up noise that no setting silences)
    drop_stderr: tuple[str, ...] = ()


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
    # d2lbook's settings for the site: files and folders copied into it as they are
    # (glob patterns relative to the root), the header's links, favicon, logo, extra CSS
    resources: tuple[str, ...] = ()
    eval_notebook: bool = True  # False: the notebooks are never executed (d2lbook's eval_notebook)
    header_links: tuple[HeaderLink, ...] = ()
    favicon: Path | None = None
    html_logo: Path | None = None
    include_css: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    publish: Publish = Publish()
    bibfile_given: bool = True  # False: config.ini names none, and a page's :bibliography:`file` may (tabbook.book)
    # "d2lbook" (the d2l.ai books) or "d2l-neu" (the d2l authors' 2026 sources, with a _quarto.yml): tabbook.parse
    dialect: str = "d2lbook"
    max_output_mb: float = DEFAULT_MAX_OUTPUT_MB
    max_notebook_output_mb: float = DEFAULT_MAX_NOTEBOOK_OUTPUT_MB
    max_output_lines: int = DEFAULT_MAX_OUTPUT_LINES
    gpus: tuple[str, ...] | None = None  # None: whatever nvidia-smi lists (tabbook.schedule)
    cpu_only: tuple[str, ...] = ()  # sources whose notebooks never need a GPU
    # glob patterns (relative to the root, $VARIABLES expanded) of data files the notebooks read:
    # their content is part of every notebook's cache key (tabbook.plan)
    data: tuple[str, ...] = ()

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
                if path.is_relative_to(self.build_dir) or not path.is_file():
                    continue
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

    def resource_files(self) -> list[Path]:
        """The files ``[build] resources`` names, as d2lbook finds them: each entry
        a glob pattern, a folder meaning every file under it; missing ones skipped."""
        files = set()
        for pattern in self.resources:
            for path in self.root.glob(pattern.rstrip("/")):
                if path.is_dir():
                    files.update(child for child in path.rglob("*") if child.is_file())
                elif path.is_file():
                    files.add(path)
        return sorted(files)


def _words(value: str) -> tuple[str, ...]:
    """A list of globs or paths, separated by spaces, commas or newlines (d2lbook uses spaces)."""
    return tuple(word for word in re.split(r"[,\s]+", value) if word)


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


def _suggestion(word: str, known) -> str:
    """' (did you mean 'x'?)' when ``word`` is close to one of ``known``."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _schema_of(section: str) -> tuple[set[str], set[str]] | None:
    """(our keys, d2lbook keys we ignore) of a section, None for an unknown section."""
    if section.startswith("library-"):
        return _LIBRARY_TAB_SCHEMA, D2LBOOK_UNUSED["library-<tab>"]
    if section.startswith("env-"):
        return _ENV_SCHEMA, set()
    if section in _SCHEMA or section in D2LBOOK_UNUSED:
        return _SCHEMA.get(section, set()), D2LBOOK_UNUSED.get(section, set())
    return None


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(path, line, f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded; save config.ini as UTF-8") from None


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` that holds ``config.ini``."""
    here = Path(start or os.getcwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    raise SourceError(here / CONFIG_NAME, None, "no config.ini here or in any parent directory; run from the book's root")


class _Sections:
    """The parsed sections of one config.ini, with the line of every key for messages."""

    def __init__(self, path: Path, text: str, values: dict[str, dict[str, str]], lines):
        self.path, self.text, self.values, self.lines = path, text, values, lines

    def fail(self, section, key, message):
        raise SourceError(self.path, self.lines.get((section, key)) or self.lines.get((section, None)), message)

    def get(self, section, key, default=None):
        return self.values.get(section, {}).get(key, default)

    def either(self, section, key, other_section, other_key, default):
        """Our key or its d2lbook name; both at once is an error."""
        value, other = self.get(section, key), self.get(other_section, other_key)
        if value is not None and other is not None:
            self.fail(other_section, other_key, f"[{other_section}] {other_key} is d2lbook's name for [{section}] {key}; give only one of them")
        return value if value is not None else other if other is not None else default

    def integer(self, section, key, default):
        raw = self.get(section, key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.fail(section, key, f"[{section}] {key} must be a whole number, not '{raw}'")
        if value < 0:
            self.fail(section, key, f"[{section}] {key} must not be negative")
        return value

    def boolean(self, section, key, default):
        raw = self.get(section, key)
        if raw is None or not raw.strip():
            return default
        if raw.strip().lower() not in _TRUE | _FALSE:
            self.fail(section, key, f"[{section}] {key} must be True or False, not '{raw}'")
        return raw.strip().lower() in _TRUE

    def words(self, section, key, default="") -> tuple[str, ...]:
        return _words(self.get(section, key, default))


def _read_sections(path: Path) -> tuple[_Sections, list[str]]:
    """config.ini's known sections and keys, and a warning for each key this tool does not know."""
    text = _decode(path)
    lines = _line_numbers(text)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        raise SourceError(path, line, f"not a valid INI file: {exc.message if hasattr(exc, 'message') else exc}") from None
    values: dict[str, dict[str, str]] = {}
    ignored: dict[str, list[str]] = {}
    warnings = []
    known_sections = [*_SCHEMA, *D2LBOOK_UNUSED, "env-<name>"]
    for section in parser.sections():
        schema = _schema_of(section)
        where = f"{path}:{lines.get((section, None))}"
        if schema is None:
            hint = _suggestion(section, known_sections)
            warnings.append(f"{where}: warning: unknown section [{section}]{hint}, ignored; known sections: {', '.join(known_sections)}")
            continue
        ours, unused = schema
        section_values = dict(parser.items(section))
        for key in section_values:
            if key in unused and key not in ours:
                ignored.setdefault(section, []).append(key)
            elif key not in ours:
                hint = _suggestion(key, ours | unused)
                warnings.append(f"{path}:{lines.get((section, key))}: warning: unknown key '{key}' in [{section}]{hint}, ignored; known keys: {', '.join(sorted(ours))}")
        values[section] = {key: value for key, value in section_values.items() if key in ours}
    if ignored:
        names = "; ".join(f"[{section}] {', '.join(keys)}" for section, keys in ignored.items())
        warnings.insert(0, f"{path}: warning: d2lbook settings this tool does not use, ignored: {names}")
    return _Sections(path, text, values, lines), warnings


def load_config(root: Path | None = None) -> BookConfig:
    """Parse and validate ``config.ini``; any problem is a SourceError with its line.

    Our own keys and d2lbook's are both accepted (README, "Building an existing
    d2lbook book"); a missing key takes the default of a d2lbook book. A key or
    section this tool does not know is a warning (d2lbook ignores them too), which
    ``tabbook check --strict`` turns into an error.
    """
    root = find_root(root)
    path = root / CONFIG_NAME
    config, warnings = _read_sections(path)

    tabs = _tab_list(config.get("build", "tabs", ""), lambda message: config.fail("build", "tabs", message))
    build_dir = config.either("build", "build_dir", "build", "output_dir", "_build").strip()
    if not build_dir:
        key = "build_dir" if config.get("build", "build_dir") is not None else "output_dir"
        config.fail("build", key, f"[build] {key} is empty; name the folder for built files, e.g. {key} = _build")
    try:
        gpus = parse_gpus_setting(config.get("build", "gpus", "auto"))
    except ValueError as exc:
        config.fail("build", "gpus", f"[build] gpus: {exc}")

    lib_files, envs = _libraries_and_envs(config, root, tabs)
    package = _library_package(config.get("library", "package"), lib_files, root, lambda message: config.fail("library", "package", message))
    index = config.get("build", "index", "index").strip()
    index = index[: -len(".md")] if index.endswith(".md") else index
    _inside_the_book(config, root, "build", "index", [f"{index}.md"])
    _inside_the_book(config, root, "html", "favicon", [config.get("html", "favicon", "").strip()])
    _inside_the_book(config, root, "html", "html_logo", [config.get("html", "html_logo", "").strip()])
    _inside_the_book(config, root, "html", "include_css", config.words("html", "include_css"))
    # A missing title is the index page's first heading (tabbook.book), as d2lbook takes it.
    project = {"name": root.name, "title": "", "author": "The contributors", "copyright": "", "release": "0.0.1"}
    project.update({key: value for key, value in config.values.get("project", {}).items() if value.strip()})
    if warnings and str(path) not in _warned:
        _warned.add(str(path))
        print("\n".join(warnings), file=sys.stderr)

    favicon, logo = config.get("html", "favicon", "").strip(), config.get("html", "html_logo", "").strip()
    bibfile = (config.either("html", "bibfile", "pdf", "bibfile", "") or "").strip()
    # A book with a _quarto.yml (the d2l authors' 2026 sources) is read in their dialect unless config.ini says otherwise.
    dialect = config.get("build", "dialect", "d2l-neu" if (root / QUARTO_NAME).is_file() else "d2lbook").strip()
    if dialect not in ("d2lbook", "d2l-neu"):
        config.fail("build", "dialect", f"[build] dialect must be d2lbook or d2l-neu, not '{dialect}'{_suggestion(dialect, ('d2lbook', 'd2l-neu'))}")
    return BookConfig(
        root=root,
        project=project,
        index=index,
        chapter_globs=_words(config.either("build", "chapters", "build", "notebooks", "**/*.md")),
        exclusions=config.words("build", "exclusions"),
        tabs=tabs,
        cell_timeout=config.integer("build", "cell_timeout", 1200),
        jobs=config.integer("build", "jobs", 0) or os.cpu_count() or 1,
        build_dir=root / build_dir,
        bibfile=root / (bibfile or "references.bib"),
        bibfile_given=bool(bibfile),
        dialect=dialect,
        collapse_lines=config.integer("html", "collapse_lines", 40),
        library_package=package,
        lib_files=lib_files,
        envs=envs,
        resources=config.words("build", "resources"),
        eval_notebook=config.boolean("build", "eval_notebook", True),
        header_links=_header_links(config.get("html", "header_links", ""), config.text, config.lines.get(("html", "header_links")), path),
        favicon=root / favicon if favicon else None,
        html_logo=root / logo if logo else None,
        include_css=tuple(root / name for name in config.words("html", "include_css")),
        warnings=tuple(warnings),
        publish=_publish(config.values.get("publish", {}), config.fail),
        max_output_mb=_megabytes(config, "max_output_mb", DEFAULT_MAX_OUTPUT_MB),
        max_notebook_output_mb=_megabytes(config, "max_notebook_output_mb", DEFAULT_MAX_NOTEBOOK_OUTPUT_MB),
        max_output_lines=config.integer("build", "max_output_lines", DEFAULT_MAX_OUTPUT_LINES) or DEFAULT_MAX_OUTPUT_LINES,
        gpus=gpus,
        cpu_only=config.words("build", "cpu_only"),
        data=config.words("build", "data"),
    )


def _libraries_and_envs(config: _Sections, root: Path, tabs) -> tuple[dict[str, Path], dict[str, EnvSpec]]:
    """``[library-<tab>] lib_file`` of each tab, and every ``[env-<name>]`` (a tab without one runs in the tool's Python)."""
    lib_files, envs = {}, {}
    for section, values in config.values.items():
        if section.startswith("library-") and values.get("lib_file", "").strip():
            lib_files[section[len("library-"):]] = root / values["lib_file"].strip()
        elif section.startswith("env-"):
            name = section[len("env-"):]
            if not values.get("requirements", "").strip():
                config.fail(section, None, f"[{section}] is missing the required key 'requirements'")
            drop = _patterns(values.get("drop_stderr", ""), config, section)
            envs[name] = EnvSpec(name, root / values["requirements"], values.get("kernel") or None, config.boolean(section, "no_deps", False), drop)
    for tab in tabs:
        if tab not in envs:
            # no environment of ours: the tab's code runs in the tool's own Python, as in d2lbook
            envs[tab] = EnvSpec(tab, None, DEFAULT_KERNEL)
        elif not envs[tab].kernel:
            config.fail(f"env-{tab}", None, f"[env-{tab}] is missing the required key 'kernel'")
    return lib_files, envs


def _patterns(raw: str, config: _Sections, section: str) -> tuple[str, ...]:
    """``[env-*] drop_stderr``: one regular expression a line, each checked here (an error names its line)."""
    patterns = tuple(line.strip() for line in raw.splitlines() if line.strip())
    key_line = config.lines.get((section, "drop_stderr"))
    lines = config.text.splitlines()
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            number = next((n for n in range(key_line or 1, len(lines) + 1) if pattern in lines[n - 1]), key_line)
            raise SourceError(config.path, number, f"[{section}] drop_stderr: '{pattern}' is not a regular expression: {exc}") from None
    return patterns


def parse_gpus_setting(value: str) -> tuple[str, ...] | None:
    """``[build] gpus``: ``auto`` (None: ask nvidia-smi), ``none`` (()), or device ids/UUIDs."""
    value = value.strip()
    if value in ("", "auto"):
        return None
    if value == "none":
        return ()
    ids = tuple(item.strip() for item in re.split(r"[,\s]+", value) if item.strip())
    for item in ids:
        if not re.fullmatch(r"\d+|(GPU|MIG)-[0-9A-Za-z/-]+", item):
            raise ValueError(f"'{item}' is not a GPU index or UUID; use auto, none or a list such as 0, 1")
    return ids


def _publish(values: dict[str, str], fail) -> Publish:
    """``[publish]``, checked: repositories as owner/name, URLs as http(s), discussions one per line."""
    values = {key: value.strip() for key, value in values.items()}
    for key in ("notebooks_repo", "source_repo"):
        if values.get(key) and not re.fullmatch(r"[\w.-]+/[\w.-]+", values[key]):
            fail("publish", key, f"[publish] {key} must be a GitHub repository as owner/name, not '{values[key]}'")
    if values.get("site_url") and not re.match(r"https?://", values["site_url"]):
        fail("publish", "site_url", f"[publish] site_url must start with http:// or https://, not '{values['site_url']}'")
    discussions = []
    for line in values.get("discussions", "").splitlines():
        if line.strip():
            parts = line.split()
            if len(parts) != 2 or not re.match(r"https?://", parts[1]):
                fail("publish", "discussions", f"[publish] discussions: each line is 'page URL' (e.g. chapter_mlp/mlp https://...), not '{line.strip()}'")
            discussions.append((parts[0].removesuffix(".md"), parts[1]))
    return Publish(
        site_url=values.get("site_url", ""),
        notebooks_repo=values.get("notebooks_repo", ""),
        notebooks_branch=values.get("notebooks_branch") or "main",
        source_repo=values.get("source_repo", ""),
        source_branch=values.get("source_branch") or "main",
        discussions=tuple(discussions),
    )


def parse_tabs(raw: str) -> list[str]:
    """``--tabs a,b,c``: the names, in order, none twice; an empty list is an error."""
    tabs = list(dict.fromkeys(tab.strip() for tab in raw.split(",") if tab.strip()))
    if not tabs:
        raise SourceError("--tabs", None, "names no tab; write e.g. --tabs pytorch,mxnet")
    return tabs


def check_tabs(config: BookConfig, tabs) -> list[str]:
    """``tabs`` (default: every tab of the book), each one of the book's; one message for an unknown one."""
    if not tabs:
        return list(config.tabs)
    unknown = [tab for tab in tabs if tab not in config.tabs]
    if unknown:
        raise SourceError(config.config_path, None, f"unknown tab '{unknown[0]}' (--tabs); the book's tabs are: {', '.join(config.tabs)}")
    return list(tabs)


def _tab_list(raw: str, fail) -> tuple[str, ...]:
    """``[build] tabs``: names separated by commas, none empty, none twice."""
    if not raw.strip():
        fail("[build] tabs lists no framework; write e.g. tabs = pytorch, mxnet (the first is the default)")
    names = [name.strip() for name in raw.replace("\n", ",").split(",")]
    if not names[-1]:
        names.pop()  # a trailing comma, as in d2lbook's multi-line lists
    if "" in names:
        fail(f"[build] tabs has an empty name (two commas in a row?): '{raw.strip()}'")
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][\w-]*", name):
            fail(f"[build] tabs: '{name}' is not a tab name (letters, digits, '_' and '-')")
    seen = set()
    for name in names:
        if name in seen:
            fail(f"[build] tabs names '{name}' twice")
        seen.add(name)
    return tuple(names)


def _library_package(raw: str | None, lib_files: dict[str, Path], root: Path, fail) -> str:
    """``[library] package``: the book's Python package, which holds every lib_file.
    Without the key, the folder the lib_files share (``d2l`` in the d2l.ai books)."""
    tops = {path.relative_to(root).parts[0] for path in lib_files.values() if path.is_relative_to(root) and len(path.relative_to(root).parts) > 1}
    if raw is None or not raw.strip():
        return tops.pop() if len(tops) == 1 else "d2l"
    package = raw.strip()
    if not package.isidentifier():
        fail(f"[library] package '{package}' is not a Python package name")
    for tab, path in lib_files.items():
        if not path.is_relative_to(root / package):
            where = path.relative_to(root) if path.is_relative_to(root) else path
            fail(f"unknown [library] package '{package}': [library-{tab}] lib_file {where} is not inside it{_suggestion(package, tops)}")
    return package


def _header_links(raw: str, text: str, key_line: int | None, path: Path) -> tuple[HeaderLink, ...]:
    """``[html] header_links``: one ``name, URL, icon`` triple per line, as d2lbook reads it."""
    links = []
    lines = text.splitlines()
    search_from = key_line or 1
    for item in raw.split("\n"):
        parts = [part.strip() for part in item.split(",") if part.strip()]
        if not parts:
            continue
        number = next((n for n in range(search_from, len(lines) + 1) if item.strip() and item.strip() in lines[n - 1]), key_line)
        search_from = number or search_from
        if len(parts) != 3:
            raise SourceError(path, number, f"[html] header_links: each line is 'name, URL, icon', not '{item.strip()}'")
        problem = link_problem(parts[1])
        if problem:
            raise SourceError(path, number, f"[html] header_links: {problem}")
        links.append(HeaderLink(*parts))
    return tuple(links)


def _megabytes(config: _Sections, key: str, default: float) -> float:
    """A ``[build]`` size in MB: a positive, finite number (``inf`` or ``1e400`` would overflow every byte count)."""
    raw = config.get("build", key)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value) and value <= _LARGEST_MB):
        config.fail("build", key, f"[build] {key} must be a positive number of megabytes up to {_LARGEST_MB:,.0f}, not '{raw.strip()}'")
    return value


def _inside_the_book(config: _Sections, root: Path, section: str, key: str, names) -> None:
    """Files a key names must be the book's own: a path that leaves the book is an error at the key's line."""
    book = root.resolve()
    for name in names:
        if name and not (root / name).resolve().is_relative_to(book):
            config.fail(section, key, f"[{section}] {key}: '{name}' is outside the book; name a file inside {root}")


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def link_problem(url: str) -> str | None:
    """Why ``url`` may not be a link of the book's pages (None when it may).

    Allowed: ``http``, ``https`` and ``mailto`` URLs and relative paths. A
    browser drops tabs and newlines inside a URL and spaces around it
    (``java\tscript:`` is ``javascript:``), so no URL may hold a space or a
    control character at all."""
    if any(ord(char) <= 0x20 or 0x7F <= ord(char) <= 0x9F for char in url):
        return f"the URL {url!r} holds a space or a control character"
    scheme = _SCHEME.match(url)
    if scheme and scheme.group(1).lower() not in LINK_SCHEMES:
        return f"the URL '{url}' has the scheme '{scheme.group(1)}:'; a link may only be http, https, mailto or a relative path"
    return None
