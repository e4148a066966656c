"""The chapter dialect (DIALECT.md), one or more tests per rule, on the Document level."""

from __future__ import annotations

import time

import pytest
from conftest import FIXTURES

from tabbook.config import load_config
from tabbook.errors import SourceError
from tabbook.parse import (
    CODE,
    EQUATION,
    FIGURE,
    SECTION,
    TAB_TEXT,
    TABLE,
    TEXT,
    Bibliography,
    Code,
    Equation,
    Prose,
    RawHtml,
    Table,
    parse_markdown,
    read_document,
    read_inline,
)

BOOK = FIXTURES / "convert"
DIALECT = BOOK / "dialect"
TABS = ("pytorch", "mxnet", "jax", "tensorflow")


@pytest.fixture(scope="module")
def config():
    return load_config(BOOK)


def doc_of(config, name):
    return read_document(config, DIALECT / name)


def code_cells(doc):
    return [cell for cell in doc.cells if cell.kind == CODE]


def parse(text, tabs=TABS):
    return parse_markdown(text, "test.md", tabs)


# -- 1. code cells and tab marks ------------------------------------------------------


def test_unmarked_cell_belongs_to_the_default_tab_only(config):
    cell = code_cells(doc_of(config, "tabs.md"))[0]
    assert cell.tabs == ("pytorch",)
    assert cell.source_for("pytorch") == "default_only = 1"


def test_the_default_tab_is_the_first_tab():
    doc = parse("```{.python .input}\nx = 1\n```\n", tabs=("jax", "pytorch"))
    assert code_cells(doc)[0].tabs == ("jax",)


def test_all_means_every_tab(config):
    cell = code_cells(doc_of(config, "tabs.md"))[1]
    assert cell.tabs == TABS
    assert all(cell.source_for(tab) == "everyone = 2" for tab in TABS)


def test_multi_tab_mark_and_attributes_in_the_info_string(config):
    cell = code_cells(doc_of(config, "tabs.md"))[2]
    assert (cell.line, cell.end_line) == (12, 15)  # {.python .input  n=3}
    assert cell.tabs == ("pytorch", "mxnet")
    assert cell.source_for("mxnet") == "torch_and_mxnet = 3"  # the mark line is gone


def test_old_tab_marks(config):
    cells = code_cells(doc_of(config, "tabs.md"))
    assert cells[3].tabs == ("jax",) and cells[3].source_for("jax") == "jax_old_form = 4"
    assert set(cells[4].tabs) == {"tensorflow", "jax"} and cells[4].source_for("jax") == "spaced_old_form = 5"


def test_long_fence_is_closed_only_by_as_many_backticks(config):
    cell = code_cells(doc_of(config, "tabs.md"))[5]
    assert cell.tabs == ("mxnet",)
    assert cell.source_for("mxnet") == 'text = """\n```\nnot a fence end\n```\n"""'


def test_other_fences_are_markdown_text(config):
    doc = doc_of(config, "tabs.md")
    assert len(code_cells(doc)) == 6
    last = doc.cells[-1]
    assert last.kind == TEXT
    assert "```python\n%%tab mxnet\nnot_executed = 6\n```" in last.text
    assert "```bash" in last.text and "plain fence" in last.text


def test_windows_line_ends(config):
    doc = doc_of(config, "crlf.md")
    assert doc.cells[0].text == "# Windows Line Ends"
    assert code_cells(doc)[0].source_for("pytorch") == "x = 1"


def test_blank_lines_around_cells_are_stripped():
    doc = parse("\n\n# T\n\n\n```{.python .input}\n\n\nx = 1\n\n```\n\n\ntext\n\n")
    assert [(c.kind, c.line, c.end_line) for c in doc.cells] == [(TEXT, 3, 3), (CODE, 6, 11), (TEXT, 14, 14)]
    assert doc.cells[1].source_for("pytorch") == "x = 1"


# -- 1. the selector cell --------------------------------------------------------------


def test_selector_cell_is_dropped_and_required_libs_recorded(config):
    doc = doc_of(config, "selector.md")
    assert [cell.source_for("pytorch") for cell in code_cells(doc)] == ["x = 1"]
    assert doc.required_libs == ["pandas==2.2.3", "scipy>=1.0"]
    assert not any("d2lbook" in cell.text for cell in doc.cells)


# -- 1. tab.selected branches ----------------------------------------------------------


def test_selected_branches_keep_and_dedent_the_matching_body(config):
    cell = code_cells(doc_of(config, "selected.md"))[0]
    # a blank line inside a branch goes with the branch
    assert cell.source_for("pytorch") == "x = 1\n\ny = d2l.reshape(x, (-1, 784))\n\nz = y + 1\nw = 2"
    assert cell.source_for("mxnet") == cell.source_for("pytorch")
    assert cell.source_for("jax") == "x = 1\n\ny = x.reshape(-1, 784)\nw = 2"  # tab.selected([...]) form
    assert cell.source_for("tensorflow") == "x = 1\n\nw = 2"


def test_a_branch_inside_a_branch_ends_it_and_is_dedented_once(config):
    # DIALECT 1's Module example: branches do not nest, kept lines lose 4 spaces once
    cell = code_cells(doc_of(config, "selected.md"))[1]
    plot = "    def plot(self):\n        pass"
    init = "class Module(d2l.nn_Module):\n    def __init__(self):\n        super().__init__()\n"
    assert cell.source_for("tensorflow") == init + "        self.training = None\n" + plot + "\nprint('one line')"
    assert cell.source_for("mxnet") == init + plot
    forward = "class Module(d2l.nn_Module):\n    def forward(self, X):\n        return X\n" + plot
    assert cell.source_for("pytorch") == cell.source_for("jax") == forward


def test_a_line_after_an_inner_branch_is_outside_every_branch():
    # as d2lbook: the inner `if` ended the outer branch, so `c = 3` is shared and kept as written
    cell = code_cells(parse(
        "```{.python .input}\n%%tab all\nif tab.selected('pytorch', 'jax'):\n    a = 1\n"
        "    if tab.selected('jax'):\n        b = 2\n    c = 3\n```\n"
    ))[0]
    assert cell.source_for("pytorch") == "a = 1\n    c = 3"
    assert cell.source_for("jax") == "a = 1\n    b = 2\n    c = 3"
    assert cell.source_for("mxnet") == "    c = 3"


def test_cell_empty_for_a_tab_is_left_out_of_its_notebook(config):
    doc = doc_of(config, "selected.md")
    cell = code_cells(doc)[2]
    assert cell.source_for("mxnet") == "only_mxnet = True"
    assert cell.source_for("jax") == ""
    assert cell not in doc.cells_for("jax") and cell in doc.cells_for("mxnet")


# -- 2. which notebooks exist ---------------------------------------------------------------


def test_only_tabs_named_by_code_or_prose_get_notebooks(config):
    assert doc_of(config, "tabs.md").notebook_tabs() == list(TABS)
    # selected.md's cells are all `%%tab all`; tab.selected() names do not count either
    assert doc_of(config, "selected.md").notebook_tabs() == ["pytorch"]
    assert doc_of(config, "selector.md").notebook_tabs() == ["pytorch"]
    assert doc_of(config, "prose_tab.md").notebook_tabs() == ["pytorch", "jax"]


def test_tab_all_alone_makes_no_notebook_for_a_non_default_tab():
    doc = parse("```{.python .input}\n%%tab all\nx = 1\n```\n\n```{.python .input}\n%%tab all, jax\ny = 2\n```\n")
    assert doc.notebook_tabs() == ["pytorch", "jax"]
    doc = parse("```{.python .input}\n%%tab all\nx = 1\n```\n\n:begin_tab:`all`\nEveryone.\n:end_tab:\n")
    assert doc.notebook_tabs() == ["pytorch"]


def test_a_file_without_code_gets_every_tab(config):
    assert doc_of(config, "text_only.md").notebook_tabs() == list(TABS)


def test_the_default_tab_gets_a_notebook_only_when_some_code_or_prose_is_for_it():
    doc = parse("```{.python .input}\n%%tab mxnet\nx = 1\n```\n")
    assert doc.notebook_tabs() == ["mxnet"]  # as d2lbook: every cell is #@tab mxnet
    assert parse("```{.python .input}\n%%tab all\nx = 1\n```\n").notebook_tabs() == ["pytorch"]
    assert parse(":begin_tab:`pytorch`\nSay.\n:end_tab:\n\n```{.python .input}\n%%tab mxnet\nx = 1\n```\n").notebook_tabs() == ["pytorch", "mxnet"]


def test_cells_of_a_tab_notebook(config):
    doc = doc_of(config, "prose_tab.md")
    assert [c.kind for c in doc.cells_for("pytorch")] == [TEXT, CODE]
    assert [c.kind for c in doc.cells_for("jax")] == [TEXT, TAB_TEXT]


# -- 3. tab prose ----------------------------------------------------------------------------


def test_tab_prose_goes_to_the_named_tabs(config):
    doc = doc_of(config, "prose.md")
    prose = [cell for cell in doc.cells if cell.kind == TAB_TEXT]
    assert [(c.tabs, c.text, c.line, c.end_line) for c in prose] == [
        (("pytorch",), "PyTorch text.", 5, 7),
        (("mxnet", "jax"), "MXNet and JAX text.", 9, 10),
        (("tensorflow",), "TensorFlow text.", 11, 13),
    ]
    assert [c.text for c in doc.cells_for("jax") if c.kind == TAB_TEXT] == ["MXNet and JAX text."]


def test_begin_tab_inside_an_open_block_warns_with_the_line(config, capsys):
    doc = doc_of(config, "prose.md")
    err = capsys.readouterr().err
    assert "prose.md:11: warning:" in err and "line 9" in err
    assert len(doc.warnings) == 1


def test_marks_inside_fences_are_not_marks(config):
    doc = doc_of(config, "prose.md")
    assert code_cells(doc)[0].source_for("mxnet") == 'print(""":begin_tab:`pytorch`\n:end_tab:""")'
    assert doc.cells[-1].text == "```markdown\n:end_tab:\n```\n\nMore shared text."


def test_code_cell_inside_tab_prose():
    doc = parse(":begin_tab:`mxnet`\nbefore\n\n```{.python .input}\nx = 1\n```\n\nafter\n:end_tab:\n")
    assert [(c.kind, c.line, c.end_line, c.tabs) for c in doc.cells] == [
        (TAB_TEXT, 1, 2, ("mxnet",)),
        (CODE, 4, 6, ("pytorch",)),
        (TAB_TEXT, 8, 9, ("mxnet",)),
    ]


def test_tab_prose_starting_with_a_code_cell():
    doc = parse(":begin_tab:`mxnet`\n```{.python .input}\nx = 1\n```\nafter\n:end_tab:\n")
    assert [(c.kind, c.line, c.end_line) for c in doc.cells] == [(CODE, 2, 4), (TAB_TEXT, 5, 6)]


# -- 4. labels and references ------------------------------------------------------------


def test_labels_of_sections_figures_tables_equations(config):
    doc = doc_of(config, "labels.md")
    labels = {name: (label.kind, label.line, label.title and label.title.text) for name, label in doc.labels.items()}
    assert labels == {
        "sec_labels": (SECTION, 2, "Labels"),
        "fig_net": (FIGURE, 10, "A network."),
        "eq_sum": (EQUATION, 13, None),
        "eq_two_lines": (EQUATION, 18, None),
        "tab_sizes": (TABLE, 25, "Sizes of layers"),
        "subsec_labels": (SECTION, 28, "A Subsection"),
    }
    assert [(h.level, h.title.text, h.label) for h in doc.headings] == [(1, "Labels", "sec_labels"), (2, "A Subsection", "subsec_labels")]
    assert [(f.path, f.width, f.label) for f in doc.figures] == [("../img/net.svg", "400px", "fig_net")]
    assert doc.title.text == "Labels"


def test_label_marks_stay_in_the_markdown(config):
    text = doc_of(config, "labels.md").cells[0].text
    assert ":label:`sec_labels`" in text and ":eqlabel:`eq_sum`" in text and ":width:`400px`" in text


def test_references_and_citations_are_recorded_with_lines(config):
    refs = [(r.role, r.targets, r.line) for r in doc_of(config, "labels.md").references]
    assert refs == [
        ("numref", ("fig_net",), 4),
        ("ref", ("sec_labels",), 4),
        ("eqref", ("eq_sum",), 4),
        ("numref", ("sec_elsewhere",), 5),  # a dangling reference is for the book check, not here
        ("cite", ("Nair.Hinton.2010",), 5),
        ("citet", ("Cybenko.1989", "Hornik.1991"), 6),
        ("citep", ("a",), 6),
    ]


def test_label_in_code_is_code(config):
    assert "not_a_label" not in doc_of(config, "labels.md").labels


def test_label_after_a_paragraph_is_an_error():
    with pytest.raises(SourceError) as info:
        parse("# T\n\nSome text.\n:label:`sec_x`\n")
    assert info.value.line == 4 and "must follow a heading, a figure or a table" in info.value.message


def test_eqlabel_must_follow_display_math():
    with pytest.raises(SourceError) as info:
        parse("# T\n:eqlabel:`eq_x`\n")
    assert info.value.line == 2


# -- 6. slide marks -----------------------------------------------------------------------


def test_slide_marks(config):
    doc = doc_of(config, "slides.md")
    text = doc.cells[0].text
    assert "We keep this bold claim and this one\nacross lines, drop  and ,\n" in text
    assert "[**a link**](https://d2l.ai)" in text
    assert "f(**kwargs)  # [**code in a fence stays**]" in text
    assert code_cells(doc)[0].source_for("pytorch") == "g(**kwargs)  # [**code cells stay**]"


# -- 8. hiding -------------------------------------------------------------------------------


def test_hide_marks_become_metadata_and_leave_the_code(config):
    cells = code_cells(doc_of(config, "hide.md"))
    assert [(c.hide, c.source_for("pytorch")) for c in cells] == [
        ("cell", "setup = 1"),
        ("code", "x = 2"),
        ("output", "y = 3"),
        (None, "shown = 4"),
    ]


# -- 10. errors within one file ---------------------------------------------------------------

ERRORS = [
    ("unclosed_fence.md", 5, "never closed"),
    ("unclosed_code.md", 3, "never closed"),
    ("unknown_tab.md", 4, "unknown tab 'pytroch' in %%tab; the configured tabs are: pytorch, mxnet, jax, tensorflow"),
    ("unknown_tab_prose.md", 3, "unknown tab 'keras'"),
    ("unknown_tab_selected.md", 5, "unknown tab 'paddle' in tab.selected()"),
    ("mark_without_names.md", 4, "%%tab names no tab"),
    ("old_mark_without_names.md", 4, "#@tab names no tab"),
    ("begin_tab_without_names.md", 3, ":begin_tab: names no tab"),
    ("end_tab_without_begin.md", 4, ":end_tab: without a :begin_tab:"),
    ("unclosed_begin_tab.md", 3, ":begin_tab: is never closed"),
    ("tab_indent.md", 5, "tab character in code indentation"),
    ("not_utf8.md", 3, "not UTF-8"),
    ("duplicate_label.md", 5, "label 'sec_twice' is defined twice in this file: lines 2 and 5"),
]


@pytest.mark.parametrize("name, line, message", ERRORS)
def test_errors_within_one_file(config, name, line, message):
    with pytest.raises(SourceError) as info:
        read_document(config, BOOK / "errors" / name)
    assert info.value.line == line
    assert message in info.value.message
    assert str(info.value).startswith(f"{BOOK / 'errors' / name}:{line}: ")


def test_other_frameworks_names_are_known_when_tabs_are_narrowed(config):
    doc = read_document(config, DIALECT / "tabs.md", tabs=("jax",))
    assert doc.notebook_tabs() == ["jax"]
    assert [c.tabs for c in doc.cells_for("jax") if c.kind == CODE] == [("jax",), ("jax",), ("jax",), ("tensorflow", "jax")]


# -- the structure of text cells (one model: blocks and items) --------------------------------


def blocks(doc):
    return [block for cell in doc.cells for block in cell.blocks]


def test_an_indented_hash_line_is_code_not_a_heading():
    doc = parse("# Title\n\nSome text.\n\n    # not a heading, code\n\n## Real\n:label:`sec_real`\n")
    assert [(h.level, h.title.text, h.label) for h in doc.headings] == [(1, "Title", None), (2, "Real", "sec_real")]
    prose = [b for b in blocks(doc) if isinstance(b, Prose)]
    assert 5 in prose[0].code_lines  # the renderer leaves math and roles alone there


def test_figure_with_text_after_it_warns_and_its_label_is_an_error_everywhere():
    doc = parse_markdown("# T\n\n![c](a.svg) see above\n:label:`fig_x`\n", "t.md", TABS, collect=True)
    assert doc.figures == [] and "fig_x" not in doc.labels
    assert any("t.md:3: warning: text after the figure" in w for w in doc.warnings)
    assert [(e.line, "must follow a heading, a figure or a table" in e.message) for e in doc.errors] == [(4, True)]


def test_table_captioned_and_labelled_above_it():
    doc = parse("# T\n\n:Dataset vs. computer memory\n:label:`tab_decade`\n\n|Decade|Dataset|\n|:--|:-|\n|1970|100|\n")
    table = next(b for b in blocks(doc) if isinstance(b, Table))
    assert (table.line, table.caption.text, table.label) == (6, "Dataset vs. computer memory", "tab_decade")
    assert doc.labels["tab_decade"].kind == TABLE and doc.labels["tab_decade"].title.text == "Dataset vs. computer memory"
    assert ":Dataset" not in table.body.text


def test_multi_line_figure_captions_with_width_before_or_after_the_label():
    for marks in (":width:`300px`\n:label:`fig_long`", ":label:`fig_long`\n:width:`300px`"):
        doc = parse(f"# T\n\n![A caption that runs\nover two lines.](../img/a.svg)\n{marks}\n")
        (figure,) = doc.figures
        assert (figure.caption.text, figure.path, figure.line, figure.label, figure.width) == (
            "A caption that runs\nover two lines.", "../img/a.svg", 3, "fig_long", "300px")


def test_eqlabel_after_a_display_in_slide_marks():
    doc = parse("# T\n\n[**the derivative**]\n\n(**$$f'(x) = \\lim_{h \\to 0} \\frac{f(x+h) - f(x)}{h}.$$**)\n:eqlabel:`eq_derivative`\n")
    (equation,) = [item for item in doc.items if isinstance(item, Equation)]
    assert (equation.label, equation.line, equation.display_line) == ("eq_derivative", 6, 5)
    (display,) = [math for b in blocks(doc) if isinstance(b, Prose) for math in b.inline.math if math.display]
    assert (display.line, display.equation) == (5, equation)


def test_eval_rst_includes_an_existing_raw_html_file_and_warns_otherwise(tmp_path):
    (tmp_path / "front.html").write_text("<div>front</div>")
    text = "# T\n\n```eval_rst\n.. raw:: html\n   :file: front.html\n```\n\n```eval_rst\n.. raw:: html\n   :file: gone.html\n```\n\n```eval_rst\n.. only:: html\n```\n"
    doc = parse_markdown(text, tmp_path / "index.md", TABS)
    assert [(b.path, b.line) for b in blocks(doc) if isinstance(b, RawHtml)] == [("front.html", 3)]
    assert [w.split(": warning: ")[0].rsplit(":", 1)[1] for w in doc.warnings] == ["8", "13"]
    assert "gone.html" in doc.warnings[0] and "reStructuredText" in doc.warnings[1]


def test_toc_options():
    doc = parse("# Book\n\n```toc\n:maxdepth: 3\n:numbered:\n\na/index\nb/index\n```\n\n```toc\n:maxdepth: 1\n\nreferences\n```\n")
    assert [(t.maxdepth, t.numbered, t.entries) for t in doc.tocs] == [
        (3, True, [("a/index", 7), ("b/index", 8)]),
        (1, False, [("references", 14)]),
    ]


def test_prose_edits_keep_the_ids_of_every_other_cell():
    source = "# T\n\nIntro.\n\n```{.python .input}\nx = 1\n```\n\n```{.python .input}\nx = 1\n```\n"
    before = [cell.id for cell in parse(source).cells]
    after = [cell.id for cell in parse(source.replace("Intro.", "A longer\nintroduction.")).cells]
    assert before[1:] == after[1:] and before[0] != after[0]
    assert len(set(before)) == 3  # two identical cells still get distinct ids


def test_every_misplaced_mark_of_a_file_is_collected():
    doc = parse_markdown("# T\n\ntext\n:label:`a`\n\nmore\n:eqlabel:`b`\n", "t.md", TABS, collect=True)
    assert [e.line for e in doc.errors] == [4, 7]
    with pytest.raises(SourceError, match="2 errors"):
        parse("# T\n\ntext\n:label:`a`\n\nmore\n:eqlabel:`b`\n")


# -- the inline pass: roles, math and code spans, found once ---------------------------------------


def marks(text):
    return [(type(span.mark).__name__, text[span.start : span.end]) for span in read_inline(text, 1).spans]


def test_roles_math_and_code_spans_in_order_with_their_lines():
    text = "See :numref:`fig_a`, $x^2$ and\n`code` then $$\na\n$$ and :citet:`A.1 B.2,C.3`."
    inline = read_inline(text, 10)
    assert [(type(s.mark).__name__, s.mark.line if not isinstance(s.mark, Code) else None) for s in inline.spans] == [
        ("Reference", 10), ("Math", 10), ("Code", None), ("Math", 11), ("Reference", 13)]
    assert inline.spans[-1].mark.targets == ("A.1", "B.2", "C.3")  # one rule: commas or spaces
    assert inline.spans[3].mark.display and inline.spans[3].mark.end_line == 13


def test_a_role_in_a_code_span_is_code():
    assert marks("changing `:num:` to `:numref:`x``, then :ref:`y`") == [
        ("Code", "`:num:`"), ("Code", "`:numref:`"), ("Reference", ":ref:`y`")]


def test_math_is_not_read_across_escapes_spaces_or_blank_lines():
    assert marks("costs \\$5 and $5, not $ x$ nor $a\n\nb$; but $a\nb$ is") == [("Math", "$a\nb$")]


def test_backtick_runs_pair_by_length_in_linear_time():
    assert marks("``a ` b`` and `c`") == [("Code", "``a ` b``"), ("Code", "`c`")]
    started = time.perf_counter()
    read_inline("`" * 20000 + " ``` " * 2000 + "$" * 20000, 1)
    assert time.perf_counter() - started < 5  # quadratic scanning would take minutes


def test_slide_marks_are_read_once_with_their_text_and_lines(config):
    doc = doc_of(config, "slides.md")
    assert [(m.opener, m.inline.text, m.line) for m in doc.cells[0].slide_marks] == [
        ("[**", "this bold claim", 3), ("(**", "this one\nacross lines", 3), ("[~~", "the slide-only text", 4), ("(~~", "this", 4)]


def test_a_tilde_fence_is_code_for_the_book_and_the_slides():
    doc = parse("# T\n\n~~~\na[**2**]\n~~~\n")
    assert "a[**2**]" in doc.cells[0].text and doc.cells[0].slide_marks == []


def test_roles_in_slide_only_text_are_references_of_the_page():
    doc = parse("# T\n:label:`sec_t`\n\nText (~~see :numref:`sec_t`~~).\n")
    assert [(r.role, r.targets, r.line) for r in doc.references] == [("numref", ("sec_t",), 4)]


def test_bad_slide_marks_are_collected_apart_from_the_files_errors():
    doc = parse("# T\n\n[**never closed\n")
    assert doc.errors == [] and [(e.line, "never closed" in e.message) for e in doc.slide_problems] == [(3, True)]


# -- the rules d2lbook keeps (issue 19), each also a case of the oracle's corner-case book ----------


def test_a_tab_mark_on_any_line_decides_and_every_mark_line_goes():
    doc = parse("```{.python .input}\n# %%tab jax\nx = 1\n```\n\n```{.python .input}\na = 1\n#@tab pytorch, jax\nb = 2\n%%tab all\n```\n")
    first, second = code_cells(doc)
    assert first.tabs == ("jax",) and first.source_for("jax") == "x = 1"
    assert second.tabs == ("pytorch", "jax")  # the first #@tab mark wins over %%tab, as d2lbook reads it
    assert second.source_for("pytorch") == "a = 1\nb = 2"


def test_fences_close_at_the_same_fence_as_d2lbook_reads_them():
    doc = parse('```{.python .input}\nprint("""\n````toc\na\n````\n""")\n```\n\n```{.python .input}\nkept = 1\n```\n')
    assert [cell.source_for("pytorch") for cell in code_cells(doc)] == ['print("""\n````toc\na\n````\n""")', "kept = 1"]


def test_a_text_fence_is_written_so_commonmark_closes_it_where_d2lbook_does():
    doc = parse("# T\n\n```\n````toc\na\n````\n```\n\nafter\n")
    lines = doc.cells[0].text.split("\n")
    assert lines[2] == "`````" and lines[6] == "`````"  # longer than the fence inside: one block for every reader
    assert "after" in doc.cells[0].text and code_cells(doc) == []
    tilde = parse("# T\n\n```` ```toc ```` example\nx\n````\n").cells[0].text.split("\n")
    assert tilde[2].startswith("~~~ ") and tilde[4] == "~~~"  # a backtick in the info string: tildes keep it a fence


def test_a_byte_order_mark_and_old_mac_line_ends_are_read():
    doc = parse("\ufeff# T\r:label:`sec_t`\r\rtext\r")
    assert doc.headings[0].title.text == "T" and doc.headings[0].label == "sec_t"
    assert doc.cells[0].text == "# T\n:label:`sec_t`\n\ntext"


def test_a_bad_line_is_an_error_and_the_rest_of_the_file_is_still_read():
    doc = parse_markdown("# T\n:label:`sec_t`\n\n```{.python .input}\n%%tab keras\nx = 1\n```\n\n## U\n:label:`sec_u`\n", "t.md", TABS, collect=True)
    assert [e.line for e in doc.errors] == [5] and "unknown tab 'keras'" in doc.errors[0].message
    assert set(doc.labels) == {"sec_t", "sec_u"}  # nothing downstream cascades: the labels are known


def test_an_eqlabel_after_its_display_on_the_same_line():
    doc = parse("# T\n\n$$f(x) = wx,$$ :eqlabel:`eq_f`\n\nand :eqref:`eq_f`.\n")
    (equation,) = [item for item in doc.items if isinstance(item, Equation)]
    assert (equation.label, equation.line, equation.display_line) == ("eq_f", 3, 3)
    (display,) = [m for b in blocks(doc) if isinstance(b, Prose) for m in b.inline.math if m.display]
    assert display.equation is equation and display.tex == "f(x) = wx,"


def test_the_bibliography_role_is_a_bibliography_where_it_stands():
    doc = parse("# References\n\n:bibliography:`../refs.bib`\n")
    (block,) = [b for b in blocks(doc) if isinstance(b, Bibliography)]
    assert (block.line, block.path) == (3, "../refs.bib") and doc.references == []


def test_a_label_above_a_table_after_its_caption_is_the_tables_even_after_a_display():
    """Found by the property test: the display before a captioned table took the table's label."""
    doc = parse("# T\n\n$$x$$\n:eqlabel:`eq_x`\n\n:Sizes\n:label:`tab_sizes`\n\n|a|\n|-|\n|1|\n")
    assert {name: label.kind for name, label in doc.labels.items()} == {"eq_x": EQUATION, "tab_sizes": TABLE}
    with pytest.raises(SourceError, match="a second label for the same display equation"):
        parse("# T\n\n$$x$$\n:eqlabel:`eq_x`\n:label:`eq_y`\n")


@pytest.mark.parametrize(
    "unit",
    ["`", "[** ", "<img src=", "![", "$ ", ":numref:`", "(**x** "],
    ids=["backticks", "slide-openers", "img-tags", "image-openers", "dollars", "roles", "bold-parens"],
)
def test_hostile_text_is_read_in_linear_time(unit):
    """Issue 22: 2,000 backticks took 40 s, 20,000 `[** ` 32 s; the work must grow with the text, not its square."""

    def seconds(count):
        text = "# T\n\n" + unit * count + "\n"
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            parse_markdown(text, "t.md", TABS, collect=True)
            best = min(best, time.perf_counter() - started)
        return best

    small, large = seconds(5000), seconds(20000)
    assert large < 8 * max(small, 0.01), (small, large)  # linear: about 4 times; quadratic: 16
