"""tabbook.markdown: the dialect's marks, roles and math on top of markdown-it-py."""

from __future__ import annotations

import pytest

from tabbook.errors import SourceError
from tabbook.markdown import Markdown, scan_marks, to_mathml


class FakeResolver:
    path = "page.md"

    def role(self, role):
        return f"[{role.name}:{','.join(role.targets)}@{role.line}]"

    def equation(self, label):
        return label, "9.9"

    def heading(self, item):
        return "h", ""


def test_math_is_protected_from_markdown_and_code_from_math():
    out = Markdown().render("A $a_1 * b_2 * c$ and `$x$ stays` and \\$5.\n", 1, FakeResolver())
    assert "<em>" not in out
    assert "<code>$x$ stays</code>" in out
    assert "$5." in out
    assert out.count("<math") == 1


def test_roles_and_labelled_display_math_keep_their_lines():
    text = "Intro\n\n$$\nx = 1\n$$\n:eqlabel:`eq_x`\n\nSee :numref:`sec_y`, :citep:`A.1,B.2`.\n"
    out = Markdown().render(text, 10, FakeResolver())
    assert "[numref:sec_y@17]" in out and "[citep:A.1,B.2@17]" in out
    assert '<span class="eqn" id="eq_x"><math display="block">' in out and "(9.9)" in out
    assert ":eqlabel:" not in out


def test_only_labelled_or_captioned_tables_get_a_caption():
    class Tables(FakeResolver):
        def table(self, item):
            return ("tab_x", "Table 9.1") if item.label else ("", "")

    plain = Markdown().render("| a |\n|---|\n| 1 |\n", 1, Tables())
    assert plain.startswith("<table>") and "figure" not in plain
    captioned = Markdown().render(":Just a caption\n\n| a |\n|---|\n| 1 |\n", 1, Tables())
    assert '<figure class="table"><figcaption>Just a caption</figcaption>' in captioned
    labelled = Markdown().render("| a |\n|---|\n| 1 |\n:label:`tab_x`\n", 1, Tables())
    assert '<figure class="table" id="tab_x"><figcaption>Table 9.1</figcaption>' in labelled
    assert ":label:" not in labelled


def test_bad_math_fails_with_file_and_line():
    with pytest.raises(SourceError) as error:
        Markdown().render("fine\n\nbad $x^{$ here\n", 20, FakeResolver())
    assert (error.value.path, error.value.line) == ("page.md", 22)
    with pytest.raises(SourceError, match=r"unknown command \\nosuchcommand"):
        to_mathml(r"\nosuchcommand{x}", False, "page.md", 3)


def test_scan_marks_attaches_labels_and_rejects_stray_marks():
    marks = scan_marks("# T\n:label:`sec_t`\n\n![cap](a.png)\n:width:`10px`\n:label:`fig_a`\n", "p.md", 1)
    assert (marks.headings[0].label, marks.figures[0].label, marks.figures[0].width) == ("sec_t", "fig_a", "10px")
    assert marks.lines == ["# T", "", "", "", "", "", ""]
    with pytest.raises(SourceError, match="p.md:3: :label: must be on the line after a heading"):
        scan_marks("text\n\n:label:`x`\n", "p.md", 1)


@pytest.mark.parametrize(
    "latex, expected",
    [
        (r"\mathbf{W}^\top \mathbf{x}", "&#x1D416;"),  # bold W
        (r"\boldsymbol{\mu}", 'mathvariant="bold-italic"'),
        (r"\operatorname{ReLU}(x)", "<mo>ReLU</mo>"),
        (r"\mathbf{H} \odot \mathbf{W}", "&#x02299;"),
        (r"\begin{aligned} a &= b \\ c &= d \end{aligned}", "<mtable"),
        (r"\frac{\partial J}{\partial \mathbf{W}^{(1)}}", "<mfrac>"),
        (r"\mathbb{R}^{n \times d}", "&#x0211D;"),
    ],
)
def test_the_chapters_math_converts(latex, expected):
    assert expected in to_mathml(latex, True, "p.md", 1)


def test_headings_and_captions_carry_math_and_the_resolvers_numbers():
    class Numbers(FakeResolver):
        def heading(self, item):
            return "sec-x", "2.3"

        def figure(self, item):
            return "fig_x", "Figure 2.3.1"

    out = Markdown().render("## The $\\mathbf{x}$ Case\n\n![A plot of $y$.](img/p.svg)\n:label:`fig_x`\n:width:`200px`\n", 1, Numbers())
    assert out.startswith('<h2 id="sec-x"><span class="secnum">2.3</span> The <math display="inline">')
    assert '<figure class="figure" id="fig_x"><img src="img/p.svg" alt="A plot of $y$." style="width: 200px">' in out
    assert '<span class="caption-number">Figure 2.3.1:</span> A plot of <math display="inline">' in out


def test_fences_stay_code_and_sphinx_directives_vanish():
    out = Markdown().render("```python\nx = '$a$' + ':numref:`y`'\n```\n\n```eval_rst\n.. bibliography::\n```\n", 1, FakeResolver())
    assert '<pre class="highlight"><code>' in out and "$a$" in out and "[numref" not in out
    assert "bibliography" not in out
