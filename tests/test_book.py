"""tabbook.book: page order, numbers, labels, and the cross-book errors of DIALECT 10."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tabbook.book import load_book, slug
from tabbook.config import load_config
from tabbook.errors import SourceError
from tabbook.parse import read_inline

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "html"


@pytest.fixture
def book_dir(tmp_path) -> Path:
    """A private copy of the fixture book (sources only) to edit."""
    dest = tmp_path / "book"
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns("_build", "__pycache__", "*.py"))
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def test_pages_follow_the_toc_and_are_numbered(book_dir):
    book = load_book(load_config(book_dir))
    assert [(p.rel, p.number_text, p.title.text) for p in book.pages] == [
        ("index.md", "", "Demo Book"),
        ("chapter_demo/index.md", "1", "The Demo Chapter"),
        ("chapter_demo/first.md", "1.1", "First Steps"),
        ("chapter_demo/second.md", "1.2", "Second Steps"),
    ]
    assert [p.url for p in book.pages[2].parent.children] == ["chapter_demo/first.html", "chapter_demo/second.html"]
    assert book.orphans == []


def test_labels_get_numbers_anchors_and_places(book_dir):
    labels = load_book(load_config(book_dir)).labels
    expected = {
        "chap_demo": ("section", "1"),
        "sec_first": ("section", "1.1"),
        "subsec_activation": ("section", "1.1.1"),
        "eq_relu": ("equation", "1.1.1"),
        "eq_hidden": ("equation", "1.1.2"),
        "fig_demo": ("figure", "1.1.1"),
        "sec_second": ("section", "1.2"),
        "tab_sizes": ("table", "1.2.1"),
    }
    assert {name: (t.kind, t.number_text) for name, t in labels.items()} == expected
    first = book_dir / "chapter_demo" / "first.md"
    assert labels["fig_demo"].where == f"chapter_demo/first.md:{line_of(first, '![A demo network')}"
    assert labels["subsec_activation"].anchor == "subsec_activation"
    # An unlabelled heading is numbered too, with an anchor made from its title.
    hidden = [t for t in labels["sec_first"].page.targets if t.title and t.title.text == "Hidden Things"][0]
    assert (hidden.number_text, hidden.anchor) == ("1.1.2", "hidden-things")


def test_slug():
    assert slug(read_inline("The $\\mathbf{x}$ *Big* `code` Picture", 1)) == "the-x-big-code-picture"
    assert slug(read_inline("$K$-Fold Cross-Validation", 1)) == "k-fold-cross-validation"  # math has its letters
    assert slug(read_inline("See :numref:`sec_x`", 1)) == "see"


def test_duplicate_headings_get_distinct_anchors(tmp_path):
    """Two headings with one title: the second gets title-2, and a reference reaches each."""
    (tmp_path / "config.ini").write_text("[build]\ntabs = pytorch\n")
    (tmp_path / "index.md").write_text("# Book\n\n## Notes\n\nText.\n\n## Notes\n:label:`sec_notes`\n\n## Notes\n")
    page = load_book(load_config(tmp_path)).root_page
    assert [t.anchor for t in page.targets] == ["book", "notes", "sec_notes", "notes-2"]


def test_toc_entries_with_or_without_md_name_the_same_page_and_the_order_follows_the_tocs(tmp_path):
    (tmp_path / "config.ini").write_text("[build]\ntabs = pytorch\n")
    (tmp_path / "index.md").write_text("# Book\n\n```toc\n:numbered:\n\nb\na.md\n```\n")
    (tmp_path / "a.md").write_text("# A\n")
    (tmp_path / "b.md").write_text("# B\n\n```toc\nc\n```\n")
    (tmp_path / "c.md").write_text("# C\n")
    book = load_book(load_config(tmp_path))
    assert [(page.rel, page.number_text) for page in book.pages] == [("index.md", ""), ("b.md", "1"), ("c.md", "1.1"), ("a.md", "2")]
    assert book.errors == []


@pytest.mark.parametrize(
    "file, old, new, message",
    [
        ("chapter_demo/second.md", ":numref:`sec_first`", ":numref:`sec_nowhere`", "undefined label 'sec_nowhere'"),
        ("chapter_demo/second.md", ":eqref:`eq_hidden`", ":eqref:`eq_gone`", "undefined label 'eq_gone'"),
        ("chapter_demo/second.md", ":eqref:`eq_hidden`", ":eqref:`fig_demo`", ":eqref: needs an equation label"),
        ("chapter_demo/first.md", ":cite:`Nair.Hinton.2010`", ":cite:`Nobody.2099`", "unknown citation key 'Nobody.2099'"),
        ("chapter_demo/first.md", ":cite:`Cybenko.1989,Nair.Hinton.2010`", ":citep:`Cybenko.1989, Nobody.2099`", "unknown citation key 'Nobody.2099'"),
        ("chapter_demo/first.md", "../static/img/demo.svg", "../static/img/missing.svg", "missing figure file '../static/img/missing.svg'"),
        ("chapter_demo/first.md", "../static/img/demo.svg", "https://example.com/a.svg", "not a local file"),
    ],
)
def test_cross_book_errors_name_file_and_line(book_dir, file, old, new, message):
    path = book_dir / file
    edit(path, old, new)
    with pytest.raises(SourceError) as error:
        load_book(load_config(book_dir)).raise_errors()
    assert error.value.path == file
    assert error.value.line == line_of(path, new)
    assert message in error.value.message


def test_a_label_defined_in_two_files_names_both_places(book_dir):
    second = book_dir / "chapter_demo" / "second.md"
    edit(second, ":label:`tab_sizes`", ":label:`fig_demo`")
    errors = [str(error) for error in load_book(load_config(book_dir)).errors]
    first_line = line_of(book_dir / "chapter_demo" / "first.md", ":label:`fig_demo`") - 1
    assert (
        f"chapter_demo/second.md:{line_of(second, ':label:`fig_demo`')}: "
        f"label 'fig_demo' is already defined at chapter_demo/first.md:{first_line}"
    ) in errors


def test_a_page_listed_twice_is_an_error(book_dir):
    index = book_dir / "chapter_demo" / "index.md"
    edit(index, "second\n", "second\nfirst\n")
    with pytest.raises(SourceError) as error:
        load_book(load_config(book_dir)).raise_errors()
    lines = index.read_text(encoding="utf-8").splitlines()
    first, again = [n for n, line in enumerate(lines, 1) if line == "first"]
    assert str(error.value) == f"chapter_demo/index.md:{again}: toc entry 'first' is already listed at chapter_demo/index.md:{first}"


def test_a_missing_toc_entry_is_an_error(book_dir):
    index = book_dir / "chapter_demo" / "index.md"
    edit(index, "second\n", "third\n")
    errors = load_book(load_config(book_dir)).errors
    assert f"chapter_demo/index.md:{line_of(index, 'third')}: toc entry 'third': no file chapter_demo/third.md" in map(str, errors)


def test_unknown_bibfile_is_an_error(book_dir):
    (book_dir / "static" / "references.bib").unlink()
    with pytest.raises(SourceError, match="bibliography file"):
        load_book(load_config(book_dir))


def test_check_command(book_dir, tabbook):
    result = tabbook("check", cwd=book_dir)
    assert result.returncode == 0, result.stderr
    assert "4 pages, 8 labels" in result.stdout
    (book_dir / "chapter_demo" / "orphan.md").write_text("# Orphan\n", encoding="utf-8")
    edit(book_dir / "chapter_demo" / "second.md", ":numref:`sec_first`", ":numref:`sec_nowhere`")
    result = tabbook("check", cwd=book_dir)
    assert result.returncode == 1
    line = line_of(book_dir / "chapter_demo" / "second.md", "sec_nowhere")
    assert f"chapter_demo/second.md:{line}: :numref: refers to the undefined label 'sec_nowhere'" in result.stderr


def test_check_warns_about_pages_no_toc_lists(book_dir, tabbook):
    (book_dir / "chapter_demo" / "orphan.md").write_text("# Orphan\n", encoding="utf-8")
    result = tabbook("check", cwd=book_dir)
    assert result.returncode == 0, result.stderr
    assert "chapter_demo/orphan.md: warning: no toc lists this file" in result.stderr


@pytest.mark.parametrize(
    "image, path",
    [
        ("![an inline image](../../outside.png)", "../../outside.png"),
        ('<img src="../../outside.png" alt="raw">', "../../outside.png"),
        ("<IMG alt='x' SRC='/etc/hosts'>", "/etc/hosts"),
    ],
)
def test_inline_and_raw_images_outside_the_book_are_errors_in_check_and_html(book_dir, image, path, tabbook):
    first = book_dir / "chapter_demo" / "first.md"
    first.write_text(first.read_text(encoding="utf-8") + f"\nSee {image} here.\n", encoding="utf-8")
    line = line_of(first, image)
    book = load_book(load_config(book_dir))
    assert [str(error) for error in book.errors] == [f"chapter_demo/first.md:{line}: image file '{path}' is outside the book"]
    result = tabbook("html", "--no-run", cwd=book_dir)
    assert result.returncode == 1 and f"chapter_demo/first.md:{line}: image file" in result.stderr


def test_inline_images_on_the_web_or_inside_the_book_are_fine(book_dir):
    first = book_dir / "chapter_demo" / "first.md"
    first.write_text(first.read_text(encoding="utf-8") + "\nA ![logo](https://example.org/logo.png) and ![plot](../static/img/demo.svg).\n", encoding="utf-8")
    assert load_book(load_config(book_dir)).errors == []


def test_citation_keys_split_by_spaces_resolve_in_check_and_in_html(tmp_path):
    """Issue 18's reproduction: check said "all resolve" and html failed on the same citation."""
    from tabbook import cli

    (tmp_path / "config.ini").write_text("[build]\ntabs = pytorch\n\n[html]\nbibfile = refs.bib\n")
    (tmp_path / "refs.bib").write_text(
        "@book{Bishop.1995, author = {Bishop, C.}, title = {Neural Networks}, publisher = {OUP}, year = {1995}}\n"
        "@article{Griewank.1989, author = {Griewank, A.}, title = {On automatic differentiation}, journal = {MP}, year = {1989}}\n"
    )
    (tmp_path / "index.md").write_text("# Book\n\nAs :citet:`Griewank.1989 Bishop.1995` show.\n")
    config = load_config(tmp_path)
    assert load_book(config, typeset=True).errors == []
    page = (cli.html(config, run=False) / "index.html").read_text(encoding="utf-8")
    assert "Griewank (1989)</a>, <a" in page and "Bishop (1995)</a>" in page


NEU = Path(__file__).parent / "fixtures" / "dialects" / "neu"


def neu_copy(tmp_path, quarto: str) -> Path:
    root = tmp_path / "neu"
    shutil.copytree(NEU, root)
    (root / "_quarto.yml").write_text(quarto, encoding="utf-8")
    return root


def test_a_chapter_listed_twice_in_quarto_yml_is_one_page_and_an_error(tmp_path):
    root = neu_copy(tmp_path, "book:\n  chapters:\n    - index.qmd\n    - chapter_a/index.qmd\n    - chapter_a/intro.qmd\n    - chapter_a/intro.qmd\n")
    book = load_book(load_config(root))
    assert [page.rel for page in book.pages] == ["index.md", "chapter_a/index.md", "chapter_a/intro.md"]
    assert [str(error) for error in book.errors] == ["_quarto.yml:6: 'chapter_a/intro.qmd' is listed twice"]


def test_quarto_yml_that_is_not_yaml_is_an_error_at_its_line(tmp_path):
    root = neu_copy(tmp_path, "book:\n  chapters:\n    - index.qmd\n  - [unclosed\n")
    with pytest.raises(SourceError) as raised:
        load_book(load_config(root))
    assert str(raised.value).startswith("_quarto.yml:4: not valid YAML")
