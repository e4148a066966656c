"""tabbook.markdown: rendering Markdown, math and roles (the structure is tabbook.parse's)."""

from __future__ import annotations

import re

import pytest

from tabbook import texmath
from tabbook.assets import pygments_css
from tabbook.errors import SourceError
from tabbook.markdown import Markdown, highlight
from tabbook.parse import Prose, parse_markdown, read_inline


class FakeResolver:
    path = "page.md"

    def role(self, reference):
        return f"[{reference.role}:{','.join(reference.targets)}@{reference.line}]"

    def equation(self, item):
        return item.label, "9.9"

    def broken_math(self, math, reason):
        raise SourceError(self.path, math.line, reason)


def prose_of(text, first_line=1):
    """The Prose blocks of ``text`` as tabbook.parse reads them."""
    doc = parse_markdown("\n" * (first_line - 1) + text, "page.md", ("pytorch",))
    return [block for cell in doc.cells for block in cell.blocks if isinstance(block, Prose)]


def render_prose(text, first_line=1):
    return "".join(Markdown().render(b.inline, FakeResolver()) for b in prose_of(text, first_line))


def test_math_is_protected_from_markdown_and_code_from_math():
    out = Markdown().render(read_inline("A $a_1 * b_2 * c$ and `$x$ stays` and \\$5.\n", 1), FakeResolver())
    assert "<em>" not in out
    assert "<code>$x$ stays</code>" in out
    assert "$5." in out
    assert out.count("<math") == 1


def test_roles_and_labelled_display_math_keep_their_lines():
    text = "Intro\n\n$$\nx = 1\n$$\n:eqlabel:`eq_x`\n\nSee :numref:`sec_y`, :citep:`A.1,B.2`.\n"
    out = render_prose(text, 10)
    assert "[numref:sec_y@17]" in out and "[citep:A.1,B.2@17]" in out
    assert '<span class="eqn" id="eq_x"><math display="block">' in out and "(9.9)" in out
    assert ":eqlabel:" not in out


def test_bad_math_fails_with_file_and_line():
    with pytest.raises(SourceError) as error:
        Markdown().render(read_inline("fine\n\nbad $x^{$ here\n", 20), FakeResolver())
    assert (error.value.path, error.value.line) == ("page.md", 22)
    with pytest.raises(texmath.MathError, match=r"nosuchcommand"):
        texmath.to_mathml(r"\nosuchcommand{x}", False)


def test_code_lines_from_the_parse_stay_code_and_sphinx_directives_vanish():
    out = render_prose("```python\nx = '$a$' + ':numref:`y`'\n```\n\n    indented = '$b$'\n\n```eval_rst\n.. bibliography::\n```\n")
    assert '<pre class="highlight"><code>' in out and "$a$" in out and "$b$" in out and "[numref" not in out
    assert "bibliography" not in out


def test_inline_titles_carry_math():
    out = Markdown().render_inline(read_inline("The $\\mathbf{x}$ Case", 3), FakeResolver())
    assert out.startswith("The <math><mi>𝐱</mi></math>") and out.endswith(" Case")


def test_text_holding_the_placeholder_characters_renders_as_written():
    text = "Private use \ue000 and \ue001\ue002 with $x$ and :ref:`a`.\n"
    out = Markdown().render(read_inline(text, 1), FakeResolver())
    assert "\ue000 and \ue001\ue002" in out and "<math" in out and "[ref:a@1]" in out


def test_plain_text_reads_as_sentences():
    inline = read_inline("Each *word* has $x$ [a link](u.html) and `code`.\n\n- one\n- two\n", 1)
    assert Markdown().plain_text(inline, lambda mark: "MARK") == "Each word has MARK a link and MARK. one two"


def test_code_gets_markup_only_where_a_highlighting_style_gives_it_a_look():
    """A span around every name and bracket was more than half of a code page's bytes."""
    html = highlight("x = foo(a, 1)  # hi\nprint('s')\n", "python")
    for plain in ("n", "p", "w"):
        assert f'<span class="{plain}">' not in html
    assert "x <span class=\"o\">=</span> foo(a, <span class=\"mi\">1</span>)" in html
    assert '<span class="c1"># hi</span>' in html and '<span class="nb">print</span>' in html
    # the print book keeps every token in its own element (Paged.js repeats lines of a long text node it splits)
    assert '<span class="n">x</span>' in highlight("x = foo(a, 1)  # hi\nprint('s')\n", "python", every_token=True)
    # the premise: names, punctuation and spaces look like the code around them in both styles
    light = pygments_css()
    dark = pygments_css('[data-theme="dark"] .highlight', "github-dark")
    assert not re.search(r"\.highlight \.(n|p) \{", light)
    base = re.search(r"\.highlight \{[^}]*color: (#\w+)", dark).group(1)
    for plain in ("n", "p"):
        assert re.search(rf"\.highlight \.{plain} \{{ color: (#\w+) \}}", dark).group(1) == base
