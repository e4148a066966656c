"""Inline Markdown, math and roles -> HTML, on top of markdown-it-py.

``tabbook.parse`` has already read the structure of every text cell (headings,
figures, tables, labels, which lines are code): this module only renders. It
hides math and roles from markdown-it behind placeholders (so ``_`` and ``*``
inside ``$...$`` stay math), renders the Markdown, then puts MathML and
resolved links back in. Line counts are kept, so the line of anything found
is still its line in the source file.

What a label *means* (numbers, URLs) comes from a resolver object the caller
passes in (see ``tabbook.render.PageResolver``): this module knows only syntax.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass

from tabbook.errors import SourceError

ROLES = ("numref", "ref", "eqref", "cite", "citet", "citep")
CITE_ROLES = ("cite", "citet", "citep")

# One scanner for the inline pass and for finding roles: roles first, then code
# spans (whose content is left alone), escaped dollars, display and inline math.
# Inline math may wrap over lines but not over a blank line.
_INLINE = re.compile(
    r"(?P<role>:(?P<rname>" + "|".join(ROLES) + r"):`(?P<rarg>[^`]+)`)"
    r"|(?P<code>(?P<ticks>`+)[\s\S]*?(?<!`)(?P=ticks)(?!`))"
    r"|(?P<escaped>\\\$)"
    r"|(?P<display>\$\$(?P<dbody>[\s\S]+?)\$\$)"
    r"|(?P<inline>\$(?P<ibody>[^\s$](?:[^$\n]|\n(?![ \t]*\n))*?)(?<![\s\\])\$)"
)

# Placeholders: private-use characters markdown-it passes through untouched.
_PH_OPEN, _PH_CLOSE, _PH_LINE = "\ue000", "\ue001", "\ue002"
_PH = re.compile(_PH_OPEN + r"(\d+)" + _PH_CLOSE)


@dataclass
class Role:
    name: str
    targets: list[str]
    line: int


def _split_keys(arg: str) -> list[str]:
    return [key.strip() for key in arg.split(",") if key.strip()]


def _segments(lines: list[str], first_line: int, code_lines):
    """Runs of consecutive lines that are not code, as (index of first line, text)."""
    start = None
    for index in range(len(lines) + 1):
        code = index == len(lines) or (first_line + index) in code_lines
        if not code and start is None:
            start = index
        elif code and start is not None:
            yield start, "\n".join(lines[start:index])
            start = None


# -- math ---------------------------------------------------------------------------

_UNKNOWN_COMMAND = re.compile(r"<m[ion]>(\\[A-Za-z]+)")
# Environments MathML's converter lacks, mapped to ones it has.
_MATH_REWRITES = [
    (re.compile(r"\\begin\{aligned\}(\[[tcb]\])?"), r"\\begin{split}"),
    (re.compile(r"\\end\{aligned\}"), r"\\end{split}"),
    (re.compile(r"\\(label|nonumber|notag)(\{[^}]*\})?"), ""),
]


def to_mathml(latex: str, display: bool, path, line: int) -> str:
    """LaTeX -> MathML at build time, so the book needs no math script or network.

    Anything the converter cannot typeset fails the build with FILE:LINE rather
    than leaving raw ``$`` in the page.
    """
    mathml, reason = _convert_math(latex, display)
    if reason:
        raise SourceError(path, line, reason)
    return mathml


@functools.lru_cache(maxsize=8192)
def _convert_math(latex: str, display: bool) -> tuple[str, str | None]:
    """(MathML, None), or ("", why it cannot be typeset); cached, as books repeat their formulas."""
    from latex2mathml.converter import convert

    source = latex.strip()
    for pattern, replacement in _MATH_REWRITES:
        source = pattern.sub(replacement, source)
    shown = " ".join(latex.split())
    try:
        mathml = convert(source, display="block" if display else "inline")
    except Exception as exc:  # the converter raises many private error types
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return "", f"cannot typeset the math ${shown}$ ({reason})"
    unknown = _UNKNOWN_COMMAND.search(mathml)
    if unknown:
        return "", f"cannot typeset the math ${shown}$ (unknown command {unknown.group(1)})"
    return mathml.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', ""), None


# -- rendering ----------------------------------------------------------------------


@functools.cache
def _lexer(language: str):
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language or "text")
    except ClassNotFound:
        return get_lexer_by_name("text")


@functools.cache
def _formatter():
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True)


@functools.lru_cache(maxsize=4096)
def highlight(code: str, language: str) -> str:
    """Code as HTML with Pygments classes (plain escaped text for an unknown language).

    Cached: a cell shared by every tab is highlighted once."""
    from pygments import highlight as pygments_highlight

    body = pygments_highlight(code, _lexer(language), _formatter())
    return f'<pre class="highlight"><code>{body}</code></pre>'


class Markdown:
    """markdown-it-py set up for the dialect. One instance renders the whole book.

    A resolver (per page) says what labels mean; it provides
    ``equation(item) -> (anchor, number)``, ``role(role) -> html`` and
    ``path`` (for errors).
    """

    def __init__(self):
        from markdown_it import MarkdownIt

        # Raw HTML is allowed in the chapters' own text: the authors are trusted,
        # and notebook outputs never pass through here.
        self.md = MarkdownIt("commonmark", {"html": True})
        self.md.enable(["table", "strikethrough"])
        # Rules called as rule(tokens, idx, options, env); set directly so they stay bound to self.
        self.md.renderer.rules["fence"] = self._fence

    def _fence(self, tokens, idx, options, env):
        info = tokens[idx].info.strip()
        return highlight(tokens[idx].content, info.split()[0] if info else "")

    def render(self, text: str, first_line: int, resolver, code_lines=frozenset(), equations=None) -> str:
        """Markdown whose first line is ``first_line`` -> HTML.

        ``code_lines`` (source line numbers) are code: no math or roles there;
        ``equations`` maps the last line of a labelled display to its equation.
        """
        placeholders: list[str] = []
        protected = self._protect(text.split("\n"), first_line, code_lines, resolver, placeholders, equations or {})
        return _restore(self.md.render(protected), placeholders)

    def render_inline(self, text: str, line: int, resolver) -> str:
        """One line of Markdown (a title, a caption) -> inline HTML, math and roles included."""
        placeholders: list[str] = []
        protected = self._protect([" ".join(text.split("\n"))], line, frozenset(), resolver, placeholders, {})
        return _restore(self.md.renderInline(protected), placeholders)

    def _protect(self, lines, first_line, code_lines, resolver, placeholders, equations) -> str:
        """Replace roles and math outside code with placeholders, keeping every line."""
        out = list(lines)
        for start, segment in _segments(lines, first_line, code_lines):
            pieces = []
            position = 0
            for match in _INLINE.finditer(segment):
                kind = next(k for k in ("role", "code", "escaped", "display", "inline") if match.group(k) is not None)
                if kind in ("code", "escaped"):
                    continue
                line = first_line + start + segment.count("\n", 0, match.start())
                if kind == "role":
                    role = Role(match.group("rname"), _split_keys(match.group("rarg")), line)
                    fragment = resolver.role(role)
                else:
                    display = kind == "display"
                    body = match.group("dbody" if display else "ibody")
                    mathml = to_mathml(body, display, resolver.path, line)
                    if display:
                        equation = equations.get(line + match.group(0).count("\n"))
                        fragment = self._equation_html(mathml, equation, resolver)
                    else:
                        fragment = mathml
                pieces.append(segment[position : match.start()])
                pieces.append(_placeholder(len(placeholders)))
                # Keep the line count: markdown-it's line map must still match the source.
                pieces.append(("\n" + _PH_LINE) * match.group(0).count("\n"))
                placeholders.append(fragment)
                position = match.end()
            pieces.append(segment[position:])
            new_lines = "".join(pieces).split("\n")
            out[start : start + len(new_lines)] = new_lines
        return "\n".join(out)

    @staticmethod
    def _equation_html(mathml, equation, resolver) -> str:
        if equation is None:
            return f'<span class="eqn">{mathml}</span>'
        anchor, number = resolver.equation(equation)
        return f'<span class="eqn" id="{html.escape(anchor)}">{mathml}<span class="eqno">({html.escape(number)})</span></span>'


def _placeholder(index: int) -> str:
    return f"{_PH_OPEN}{index}{_PH_CLOSE}"


def _restore(out: str, placeholders: list[str]) -> str:
    out = out.replace("\n" + _PH_LINE, "").replace(_PH_LINE, "")
    return _PH.sub(lambda match: placeholders[int(match.group(1))], out)


def replace_roles(text: str, first_line: int, replace, code_lines=frozenset()) -> str:
    """``text`` with every role outside code replaced by ``replace(role) -> str`` (Markdown for notebooks)."""
    lines = text.split("\n")
    out = list(lines)
    for start, segment in _segments(lines, first_line, code_lines):
        pieces, position = [], 0
        for match in _INLINE.finditer(segment):
            if match.group("role") is None:
                continue
            line = first_line + start + segment.count("\n", 0, match.start())
            pieces += [segment[position : match.start()], replace(Role(match.group("rname"), _split_keys(match.group("rarg")), line))]
            position = match.end()
        pieces.append(segment[position:])
        new_lines = "".join(pieces).split("\n")
        out[start : start + len(new_lines)] = new_lines
    return "\n".join(out)
