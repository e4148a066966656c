"""The dialect's Markdown -> HTML: marks, roles and math on top of markdown-it-py.

Two passes run over a piece of text, both keeping its line count, so that the
line of anything found is still the line in the source file:

1. ``scan_marks`` finds the line-level structure of DIALECT section 4 in a
   notebook cell (headings, figures, tables and the ``:label:``/``:width:``/
   ``:eqlabel:``/``:Caption`` lines after them) and blanks the mark lines. Each
   item is then matched, by label or source line, with the numbered item that
   ``tabbook.book`` found in the whole file (``Page.find``).
2. ``Markdown.render`` hides math and roles from markdown-it behind placeholders
   (so ``_`` and ``*`` inside ``$...$`` stay math), renders the Markdown, then puts
   MathML and resolved links back in.

What a label *means* (numbers, URLs) comes from a resolver object the caller
passes in (see ``tabbook.render.PageResolver``): this module knows only syntax.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass, field

from tabbook.errors import SourceError

ROLES = ("numref", "ref", "eqref", "cite", "citet", "citep")
CITE_ROLES = ("cite", "citet", "citep")

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*(.*?)\s*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FIGURE = re.compile(r"^\s*!\[(?P<caption>.*)\]\((?P<path>[^)\s]+)(?:\s+\"[^\"]*\")?\)\s*$")
_MARK = re.compile(r"^\s*:(label|width|eqlabel):`([^`]*)`\s*$")
_CAPTION = re.compile(r"^\s*:(?!\w+:`)(\S.*?)\s*$")
_TABLE_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")

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
_PH_BLOCK = re.compile(r"<p>" + _PH_OPEN + r"(\d+)" + _PH_CLOSE + r"\s*</p>")


@dataclass
class Heading:
    level: int
    title: str  # Markdown source of the title
    line: int
    label: str | None = None


@dataclass
class Figure:
    caption: str
    path: str
    line: int
    label: str | None = None
    width: str | None = None


@dataclass
class Table:
    line: int  # the header row
    caption: str | None = None
    label: str | None = None


@dataclass
class Equation:
    label: str
    line: int  # the :eqlabel: line


@dataclass
class Role:
    name: str
    targets: list[str]
    line: int


@dataclass
class Marks:
    """What ``scan_marks`` found in a piece of text, and the text without its mark lines."""

    lines: list[str]
    in_fence: list[bool]
    headings: list[Heading] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    equations: list[Equation] = field(default_factory=list)
    items: list = field(default_factory=list)  # all of the above, in source order


def _split_keys(arg: str) -> list[str]:
    return [key.strip() for key in arg.split(",") if key.strip()]


def _fences(lines: list[str]):
    """Each fenced block as (index of its opening line, index of its last line, info string).

    An unclosed fence runs to the end of the text (the converter reports it)."""
    index = 0
    while index < len(lines):
        match = _FENCE_OPEN.match(lines[index])
        if not match or (match.group(1)[0] == "`" and "`" in match.group(2)):
            index += 1
            continue
        ticks = match.group(1)
        closing = re.compile(r"^ {0,3}" + re.escape(ticks[0]) + "{" + str(len(ticks)) + r",}\s*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        yield index, min(end, len(lines) - 1), match.group(2)
        index = end + 1


def fence_mask(lines: list[str]) -> list[bool]:
    """For each line: is it part of a fenced block (fence lines included)?"""
    mask = [False] * len(lines)
    for start, end, _info in _fences(lines):
        mask[start : end + 1] = [True] * (end + 1 - start)
    return mask


def _segments(lines: list[str], in_fence: list[bool]):
    """Runs of consecutive lines outside fences, as (index of first line, text)."""
    start = None
    for index, fenced in enumerate([*in_fence, True]):
        if not fenced and start is None:
            start = index
        elif fenced and start is not None:
            yield start, "\n".join(lines[start:index])
            start = None


def scan_marks(text: str, path, first_line: int = 1) -> Marks:
    """Find headings, figures, tables and equation labels, with their source lines.

    Mark lines (``:label:``, ``:width:``, ``:eqlabel:``, a table's ``:Caption``)
    are blanked in ``Marks.lines``; a figure line becomes an empty line too (the
    renderer puts the figure there). A mark that follows nothing it can belong
    to is an error.
    """
    lines = text.split("\n")
    in_fence = fence_mask(lines)
    marks = Marks(lines=list(lines), in_fence=in_fence)
    owner = None  # the heading/figure/table a following mark line belongs to
    index = 0
    while index < len(lines):
        line = lines[index]
        number = first_line + index
        if in_fence[index]:
            owner = None
            index += 1
            continue
        mark = _MARK.match(line)
        if mark:
            kind, value = mark.groups()
            _attach_mark(marks, owner, kind, value, path, number, lines, index)
            marks.lines[index] = ""
            index += 1
            continue
        heading = _HEADING.match(line)
        figure = _FIGURE.match(line)
        if heading:
            owner = Heading(len(heading.group(1)), heading.group(2).strip(), number)
            marks.headings.append(owner)
            marks.items.append(owner)
        elif figure:
            owner = Figure(figure.group("caption").strip(), figure.group("path"), number)
            marks.figures.append(owner)
            marks.items.append(owner)
            marks.lines[index] = ""
        elif _starts_table(lines, in_fence, index):
            owner = Table(number, caption=_table_caption(marks, index))
            marks.tables.append(owner)
            marks.items.append(owner)
            while index + 1 < len(lines) and lines[index + 1].strip() and not in_fence[index + 1] and not _MARK.match(lines[index + 1]):
                index += 1
        elif line.strip():
            owner = ("text", line)
        index += 1
    return marks


def _attach_mark(marks, owner, kind, value, path, number, lines, index):
    value = value.strip()
    if not value:
        raise SourceError(path, number, f":{kind}: needs a value between the backticks")
    if kind == "eqlabel":
        previous = lines[index - 1].rstrip() if index else ""
        if not previous.endswith("$$"):
            raise SourceError(path, number, ":eqlabel: must be on the line right after a $$ display equation")
        equation = Equation(value, number)
        marks.equations.append(equation)
        marks.items.append(equation)
        return
    if kind == "width":
        if not isinstance(owner, Figure):
            raise SourceError(path, number, ":width: must follow a figure line ![caption](path)")
        owner.width = value
        return
    if not isinstance(owner, (Heading, Figure, Table)):
        raise SourceError(path, number, ":label: must be on the line after a heading, a figure or a table")
    if owner.label is not None:
        raise SourceError(path, number, f"a second :label: for the same {type(owner).__name__.lower()} (already '{owner.label}')")
    owner.label = value


def _starts_table(lines, in_fence, index) -> bool:
    return (
        lines[index].lstrip().startswith("|")
        and index + 1 < len(lines)
        and not in_fence[index + 1]
        and bool(_TABLE_DELIMITER.match(lines[index + 1]))
        and (index == 0 or not lines[index - 1].lstrip().startswith("|"))
    )


def _table_caption(marks: Marks, index: int) -> str | None:
    """A ``:Caption`` line before the table (blank lines may sit between); blanked."""
    before = index - 1
    while before >= 0 and not marks.lines[before].strip() and not marks.in_fence[before]:
        before -= 1
    if before < 0 or marks.in_fence[before]:
        return None
    caption = _CAPTION.match(marks.lines[before])
    if not caption:
        return None
    marks.lines[before] = ""
    return caption.group(1)


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
    from latex2mathml.converter import convert

    source = latex.strip()
    for pattern, replacement in _MATH_REWRITES:
        source = pattern.sub(replacement, source)
    shown = " ".join(latex.split())
    try:
        mathml = convert(source, display="block" if display else "inline")
    except Exception as exc:  # the converter raises many private error types
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise SourceError(path, line, f"cannot typeset the math ${shown}$ ({reason})") from None
    unknown = _UNKNOWN_COMMAND.search(mathml)
    if unknown:
        raise SourceError(path, line, f"cannot typeset the math ${shown}$ (unknown command {unknown.group(1)})")
    return mathml.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "")


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

    A resolver (per page) turns structure into HTML; it provides:
    ``heading(item) -> (anchor, number)``, ``figure(item) -> (anchor, caption_prefix)``,
    ``table(item) -> (anchor, caption_prefix)``, ``equation(label) -> (anchor, number)``,
    ``role(role) -> html``, ``toc(fence_content, line) -> html``, ``path`` (for errors).
    """

    def __init__(self):
        from markdown_it import MarkdownIt

        # Raw HTML is allowed in the chapters' own text: the authors are trusted,
        # and notebook outputs never pass through here.
        self.md = MarkdownIt("commonmark", {"html": True})
        self.md.enable(["table", "strikethrough"])
        # Rules called as rule(tokens, idx, options, env); set directly so they stay bound to self.
        rules = self.md.renderer.rules
        rules["heading_open"] = self._heading_open
        rules["heading_close"] = self._heading_close
        rules["table_open"] = self._table_open
        rules["table_close"] = self._table_close
        rules["fence"] = self._fence

    # markdown-it render rules: ``env`` carries the piece being rendered.
    def _heading_open(self, tokens, idx, options, env):
        token = tokens[idx]
        heading = env["headings"].get(env["first_line"] + token.map[0]) if token.map else None
        if heading is None:
            env["anchor"] = None
            return f"<{token.tag}>"
        anchor, number = env["resolver"].heading(heading)
        env["anchor"] = anchor
        number_html = f'<span class="secnum">{html.escape(number)}</span> ' if number else ""
        return f'<{token.tag} id="{html.escape(anchor)}">{number_html}'

    def _heading_close(self, tokens, idx, options, env):
        anchor = env.pop("anchor", None)
        link = f'<a class="headerlink" href="#{html.escape(anchor)}" aria-label="Link to this section">#</a>' if anchor else ""
        return f"{link}</{tokens[idx].tag}>\n"

    def _table_open(self, tokens, idx, options, env):
        token = tokens[idx]
        table = env["tables"].get(env["first_line"] + token.map[0]) if token.map else None
        if table is not None and not (table.label or table.caption):
            table = None  # a plain table: no number, no caption
        env.setdefault("open_tables", []).append(table is not None)
        if table is None:
            return "<table>\n"
        anchor, prefix = env["resolver"].table(table)
        caption = self.render_inline(table.caption or "", table.line - 1, env["resolver"])
        text = f"{prefix}: {caption}" if prefix and caption else prefix or caption
        anchor_attr = f' id="{html.escape(anchor)}"' if anchor else ""
        return f'<figure class="table"{anchor_attr}><figcaption>{text}</figcaption>\n<table>\n'

    def _table_close(self, tokens, idx, options, env):
        return "</table></figure>\n" if env["open_tables"].pop() else "</table>\n"

    def _fence(self, tokens, idx, options, env):
        token = tokens[idx]
        info = token.info.strip()
        if info == "toc":
            return env["resolver"].toc(token.content, env["first_line"] + token.map[0])
        if info.startswith("eval_rst"):
            return ""  # Sphinx directives: nothing to show in this book
        return highlight(token.content, info.split()[0] if info else "")

    def render(self, text: str, first_line: int, resolver) -> str:
        """A Markdown cell (or any piece of a page) whose first line is ``first_line`` -> HTML."""
        marks = scan_marks(text, resolver.path, first_line)
        placeholders: list[str] = []
        blocks: set[int] = set()
        lines = list(marks.lines)
        for figure in marks.figures:
            blocks.add(len(placeholders))
            lines[figure.line - first_line] = _placeholder(len(placeholders))
            placeholders.append(self._figure_html(figure, resolver))
        equation_lines = {eq.line: eq.label for eq in marks.equations}
        text = self._protect(lines, marks.in_fence, first_line, resolver, placeholders, equation_lines)
        env = {
            "resolver": resolver,
            "first_line": first_line,
            "headings": {h.line: h for h in marks.headings},
            "tables": {t.line: t for t in marks.tables},
        }
        out = self.md.render(text, env)
        return _restore(out, placeholders, blocks)

    def render_inline(self, text: str, line: int, resolver) -> str:
        """One line of Markdown (a title, a caption) -> inline HTML, math and roles included."""
        placeholders: list[str] = []
        protected = self._protect([text], [False], line, resolver, placeholders, {})
        return _restore(self.md.renderInline(protected), placeholders, set())

    def _protect(self, lines, in_fence, first_line, resolver, placeholders, equation_lines) -> str:
        """Replace roles and math outside code with placeholders, keeping every line."""
        out = list(lines)
        for start, segment in _segments(lines, in_fence):
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
                        end_line = line + match.group(0).count("\n")
                        label = equation_lines.get(end_line + 1)
                        fragment = self._equation_html(mathml, label, resolver)
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
    def _equation_html(mathml, label, resolver) -> str:
        if label is None:
            return f'<span class="eqn">{mathml}</span>'
        anchor, number = resolver.equation(label)
        return f'<span class="eqn" id="{html.escape(anchor)}">{mathml}<span class="eqno">({html.escape(number)})</span></span>'

    def _figure_html(self, figure: Figure, resolver) -> str:
        anchor, prefix = resolver.figure(figure)
        caption = self.render_inline(figure.caption, figure.line, resolver)
        style = f' style="width: {html.escape(figure.width)}"' if figure.width else ""
        anchor_attr = f' id="{html.escape(anchor)}"' if anchor else ""
        return (
            f'<figure class="figure"{anchor_attr}><img src="{html.escape(figure.path)}" alt="{html.escape(figure.caption)}"{style}>'
            f"<figcaption><span class=\"caption-number\">{html.escape(prefix)}:</span> {caption}</figcaption></figure>"
        )


def _placeholder(index: int) -> str:
    return f"{_PH_OPEN}{index}{_PH_CLOSE}"


def _restore(out: str, placeholders: list[str], blocks: set[int]) -> str:
    out = out.replace("\n" + _PH_LINE, "").replace(_PH_LINE, "")

    def block(match):
        index = int(match.group(1))
        return placeholders[index] if index in blocks else match.group(0)

    out = _PH_BLOCK.sub(block, out)
    return _PH.sub(lambda match: placeholders[int(match.group(1))], out)
