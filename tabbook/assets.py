"""The tool's own files: templates, CSS, JavaScript, the math font and the vendored browser libraries.

Every view (the HTML pages, the print book, the decks, the live preview) takes
them from here, so that a page and its print look alike and a change to a
style sheet reaches every output.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from tabbook import texmath
from tabbook.errors import SourceError

STATIC = Path(__file__).resolve().parent / "static"  # package data: templates, css, js
VENDORED = Path(__file__).resolve().parent.parent / "scripts" / "js" / "node_modules"  # `make setup` (npm ci)
PAGED_JS = VENDORED / "pagedjs" / "dist" / "paged.polyfill.js"
REVEAL = VENDORED / "reveal.js" / "dist"

STATIC_DIR = "_static"  # the site's folder for the tool's files
# The OpenType math font MathML is set in, served by the site itself (scripts/system-deps.sh installs it).
MATH_FONT = Path("/usr/share/texmf/fonts/opentype/public/lm-math/latinmodern-math.otf")
MATH_FONT_URL = f"{STATIC_DIR}/fonts/latinmodern-math.woff2"

_MATH_ELEMENT = re.compile(r"<math\b.*?</math>", re.S)

TAB_TITLES = {"pytorch": "PyTorch", "mxnet": "MXNet", "jax": "JAX", "tensorflow": "TensorFlow"}


def tab_title(tab: str) -> str:
    """How a framework's name is written: "PyTorch" for the tab ``pytorch``."""
    return TAB_TITLES.get(tab, tab)


# A figure's ``:width:``: one CSS length (or a bare number of pixels), nothing a style could load or run.
_CSS_LENGTH = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(px|%|em|rem|ex|ch|vw|vh|vmin|vmax|cm|mm|in|pt|pc)?")


def css_length(value) -> str | None:
    """``value`` as a CSS length ("400px", "80%", "12em"; "400" means pixels), or None when it is not one."""
    if not isinstance(value, str):
        return None
    match = _CSS_LENGTH.fullmatch(value.strip())
    if not match:
        return None
    return match.group(0) if match.group(2) else f"{match.group(1)}px"


def vendored(path: Path) -> Path:
    """A file of the vendored browser libraries, or a clear error saying how to get it."""
    if not path.is_file():
        raise SourceError(path, None, "missing vendored browser library: run `make setup` (npm ci in scripts/js)")
    return path


@functools.cache
def templates():
    """The Jinja2 environment of ``static/templates``: every value is escaped unless marked safe."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(STATIC / "templates")), autoescape=True, undefined=StrictUndefined)
    env.globals["tab_title"] = tab_title
    env.filters["css_length"] = css_length  # a template never writes a width it has not checked
    return env


@functools.cache
def pygments_css(selector: str = ".highlight", style: str = "default") -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style=style).get_style_defs(selector)


_CSS_COMMENT = re.compile(r"/\*.*?\*/\s*", re.S)


def style_sheet(name: str) -> str:
    """A style sheet of ``static/css`` with the code highlighting it needs (light; the site's also dark).

    Served without comments (ours are for the people editing the sheet, Pygments' name
    each token type): a quarter of its bytes, on every page's weight. Neither holds
    ``/*`` inside a string."""
    css = (STATIC / "css" / name).read_text(encoding="utf-8") + "\n" + pygments_css()
    if name == "tabbook.css":
        css += "\n" + pygments_css('[data-theme="dark"] .highlight', "github-dark")
    return _CSS_COMMENT.sub("", css)


def math_font(pages) -> bytes:
    """The math font as WOFF2, only the glyphs (and their stretched forms) of the MathML in ``pages``.

    Cached by the characters it keeps: a site whose math uses the same glyphs gets the same file."""
    if not MATH_FONT.is_file():
        raise SourceError(MATH_FONT, None, "the math font is missing: run `make setup` (it installs Debian's fonts-lmodern)")
    fragments = tuple(sorted({fragment for page in pages for fragment in _MATH_ELEMENT.findall(page)}))
    return _subset(fragments)


@functools.lru_cache(maxsize=4)
def _subset(fragments: tuple[str, ...]) -> bytes:
    return texmath.subset_math_font(MATH_FONT, fragments)  # on disk too, by its characters (texmath.use_disk_cache)


def site_files(pages=()) -> dict[str, bytes | str]:
    """The tool's files every HTML site holds: style sheet, script, and the math font its ``pages`` (HTML) need."""
    return {
        MATH_FONT_URL: math_font(pages),
        f"{STATIC_DIR}/tabbook.css": style_sheet("tabbook.css"),
        f"{STATIC_DIR}/tabbook.js": (STATIC / "js" / "tabbook.js").read_text(encoding="utf-8"),
    }
