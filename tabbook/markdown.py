"""Parsed text (``tabbook.parse.Inline``) -> HTML or plain text, on top of markdown-it-py.

``tabbook.parse`` has already found every role, math span and code span of a
text: this module only renders. It puts a placeholder where each span is (so
``_`` and ``*`` inside ``$...$`` stay math and markdown-it never sees the
dialect), renders the Markdown, then puts each span's HTML back in. Line
counts are kept, so markdown-it's line map still matches the source.

What a role *means* (numbers, URLs) comes from a resolver object the caller
passes in (see ``tabbook.render.PageResolver``); MathML comes from
``tabbook.texmath`` (Temml). This module knows no dialect syntax.
"""

from __future__ import annotations

import functools
import html

from tabbook import texmath
from tabbook.errors import SourceError
from tabbook.parse import D2L_NEU, D2LBOOK, Code, Inline, Reference

# Placeholders are made of private-use characters markdown-it passes through untouched;
# a text that holds one itself gets others (see _placeholder_chars).
_PRIVATE_USE = range(0xE000, 0xF900)


# -- code ---------------------------------------------------------------------------


@functools.cache
def _lexer(language: str, every_token: bool = False):
    """The language's Pygments lexer; unless ``every_token``, its names, punctuation and
    spaces read as plain text.

    Neither highlighting style (light, or github-dark on the dark theme) gives those
    a look of their own (github-dark's colour for them is its text colour), so a
    ``<span>`` around each was markup that changed nothing: more than half the
    bytes of a page of code, 98 KB of house-prices.html's 264 KB. The print book
    keeps every token in its own element: Paged.js, splitting a ``<pre>`` over two
    pages, repeats lines when a text node runs over several lines."""
    from pygments.filter import simplefilter
    from pygments.lexers import get_lexer_by_name
    from pygments.token import Name, Punctuation, Text, Whitespace
    from pygments.util import ClassNotFound

    @simplefilter
    def unstyled_as_text(_self, _lexer, stream, _options):
        for kind, value in stream:
            yield (Text if kind is Name or kind is Punctuation or kind is Whitespace else kind), value

    try:
        lexer = get_lexer_by_name(language or "text")
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    if not every_token:
        lexer.add_filter(unstyled_as_text())
    return lexer


@functools.cache
def _formatter():
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True)


@functools.lru_cache(maxsize=4096)
def highlight(code: str, language: str, every_token: bool = False) -> str:
    """Code as HTML with Pygments classes (plain escaped text for an unknown language);
    ``every_token`` in its own element (the print book, see :func:`_lexer`).

    Cached: a cell shared by every tab is highlighted once."""
    from pygments import highlight as pygments_highlight

    body = pygments_highlight(code, _lexer(language, every_token), _formatter())
    return f'<pre class="highlight"><code>{body}</code></pre>'


def code_span_text(text: str) -> str:
    """An inline code span's content as CommonMark shows it: line ends as spaces, one
    space stripped from both ends when both have one (and it is not all spaces)."""
    text = text.replace("\n", " ")
    if len(text) > 2 and text[0] == " " and text[-1] == " " and text.strip(" "):
        return text[1:-1]
    return text


# -- rendering ----------------------------------------------------------------------


def _placeholder_chars(text: str) -> tuple[str, str, str]:
    """Three private-use characters that ``text`` does not hold: open, close, line."""
    chars = []
    for code in _PRIVATE_USE:
        char = chr(code)
        if char not in text:
            chars.append(char)
            if len(chars) == 3:
                return chars[0], chars[1], chars[2]
    raise SourceError("text", None, "uses every private-use character; cannot render it")  # pragma: no cover


class _Placeholders:
    """A text's spans swapped for placeholders; :meth:`restore` puts each span's fragment back in."""

    def __init__(self, inline: Inline, one_line: bool = False):
        self.open, self.close, self.line = _placeholder_chars(inline.text)
        text = inline.text.replace("\n", " ") if one_line else inline.text
        pieces, position = [], 0
        for number, span in enumerate(inline.spans):
            pieces.append(text[position : span.start])
            pieces.append(f"{self.open}{number}{self.close}")
            # keep the line count: markdown-it's line map must still match the source
            pieces.append(("\n" + self.line) * text.count("\n", span.start, span.end))
            position = span.end
        pieces.append(text[position:])
        self.text = "".join(pieces)

    def restore(self, out: str, fragments: list[str]) -> str:
        out = out.replace("\n" + self.line, "").replace(self.line, "")
        if not fragments:
            return out
        pieces = out.split(self.open)
        result = [pieces[0]]
        for piece in pieces[1:]:
            number, _, rest = piece.partition(self.close)
            result.append(fragments[int(number)] + rest)
        return "".join(result)


def _words(tokens) -> str:
    """The words of parsed Markdown (placeholders kept), one space between blocks and runs."""
    words = []
    for token in tokens:
        if token.type == "inline":
            words.extend(child.content for child in token.children or () if child.type in ("text", "code_inline"))
        elif token.type in ("fence", "code_block"):
            words.append(token.content)
    return " ".join(words)


class Markdown:
    """markdown-it-py set up for the dialect's Markdown. One instance renders the whole book.

    A resolver (per page) says what labels mean; it provides
    ``equation(item) -> (anchor, number)``, ``role(reference) -> html`` and
    ``path`` (for errors).
    """

    def __init__(self, dialect: str = D2LBOOK):
        from markdown_it import MarkdownIt
        from mdit_py_plugins.attrs import attrs_plugin

        # Raw HTML is allowed in the chapters' own text: the authors are trusted,
        # and notebook outputs never pass through here.
        self.md = MarkdownIt("commonmark", {"html": True})
        self.md.enable(["table", "strikethrough"])
        if dialect == D2L_NEU:  # Pandoc's [text]{.class} spans and {#id .class} after links and images
            self.md.use(attrs_plugin, spans=True)
        # Rules called as rule(tokens, idx, options, env); set directly so they stay bound to self.
        self.md.renderer.rules["fence"] = self._fence
        self._words: dict[Inline, str] = {}  # words of what render() parsed, for plain_text

    def _fence(self, tokens, idx, options, env):
        info = tokens[idx].info.strip()
        return highlight(tokens[idx].content, info.split()[0] if info else "")

    def render(self, inline: Inline, resolver) -> str:
        """Block Markdown (prose, a table) with its spans -> HTML."""
        holes = _Placeholders(inline)
        tokens = self.md.parse(holes.text)
        self._words[inline] = _words(tokens)  # the search index reads these words: no second parse
        fragments = [self.span_html(span.mark, resolver) for span in inline.spans]
        return holes.restore(self.md.renderer.render(tokens, self.md.options, {}), fragments)

    def render_inline(self, inline: Inline, resolver) -> str:
        """One line of Markdown (a title, a caption) -> inline HTML, math and roles included."""
        holes = _Placeholders(inline, one_line=True)
        return holes.restore(self.md.renderInline(holes.text), [self.span_html(span.mark, resolver) for span in inline.spans])

    def span_html(self, mark, resolver) -> str:
        if isinstance(mark, Reference):
            return resolver.role(mark)
        if isinstance(mark, Code):
            return f"<code>{html.escape(code_span_text(mark.text), quote=False)}</code>"
        try:
            mathml = texmath.to_mathml(mark.tex, mark.display)
        except texmath.MathError as exc:
            return resolver.broken_math(mark, str(exc))
        if not mark.display:
            return mathml
        if mark.equation is None:
            return f'<span class="eqn">{mathml}</span>'
        anchor, number = resolver.equation(mark.equation)
        return f'<span class="eqn" id="{html.escape(anchor)}">{mathml}<span class="eqno">({html.escape(number)})</span></span>'

    def plain_text(self, inline: Inline, show) -> str:
        """The words a reader reads in ``inline`` (Markdown), each span as ``show(mark)``: for search."""
        holes = _Placeholders(inline)
        words = self._words.get(inline)
        if words is None:
            words = _words(self.md.parse(holes.text))
        return " ".join(holes.restore(words, [show(span.mark) for span in inline.spans]).split())
