"""config.ini is checked: unknown and missing keys and bad numbers are errors with their line."""

from __future__ import annotations

import shutil

import pytest
from conftest import FIXTURES

from tabbook.config import HeaderLink, find_root, load_config
from tabbook.errors import SourceError

GOOD = (FIXTURES / "convert" / "config.ini").read_text()


def load(tmp_path, text):
    (tmp_path / "config.ini").write_text(text)
    return load_config(tmp_path)


def line_of(text, needle):
    return next(number for number, line in enumerate(text.splitlines(), 1) if line.startswith(needle))


def test_good_config(tmp_path):
    config = load(tmp_path, GOOD)
    assert config.tabs == ("pytorch", "mxnet", "jax", "tensorflow")
    assert config.default_tab == "pytorch"
    assert config.envs["jax"].kernel == "test-jax"
    assert config.lib_files["mxnet"] == tmp_path / "d2l/_saved/mxnet.py"
    assert config.cell_timeout == 60 and config.jobs == 1
    assert config.with_tabs(["jax"]).default_tab == "jax"


def warning_of(config, needle):
    (warning,) = [w for w in config.warnings if needle in w]
    return warning


def test_unknown_key_is_a_warning_with_its_line_as_d2lbook_ignores_it(tmp_path):
    text = GOOD.replace("cell_timeout = 60", "cell_timeout = 60\ncel_timeout = 30")
    config = load(tmp_path, text)
    warning = warning_of(config, "cel_timeout")
    assert warning.startswith(f"{tmp_path / 'config.ini'}:{line_of(text, 'cel_timeout')}: warning: unknown key 'cel_timeout' in [build]")
    assert config.cell_timeout == 60


def test_check_strict_turns_config_warnings_into_errors(tmp_path, tabbook):
    shutil.copytree(FIXTURES / "convert", tmp_path / "book")
    config = tmp_path / "book" / "config.ini"
    config.write_text(config.read_text().replace("cell_timeout = 60", "cell_timeout = 60\ndependences = x"))
    lenient, strict = tabbook("check", cwd=config.parent), tabbook("check", "--strict", cwd=config.parent)
    assert "unknown key 'dependences' in [build] (did you mean 'dependencies'?)" in lenient.stderr
    assert lenient.returncode == 0 and strict.returncode == 1
    assert "(--strict)" in strict.stderr


def test_missing_keys_take_the_defaults_of_a_d2lbook_book(tmp_path):
    (tmp_path / "index.md").write_text("# A Small Book\n")
    config = load(tmp_path, "[build]\ntabs = pytorch, jax\n")
    assert config.project["title"] == ""  # the book takes the index page's title, as d2lbook does (test_book)
    assert config.project["name"] == tmp_path.name
    assert config.index == "index" and config.chapter_globs == ("**/*.md",)
    assert config.build_dir == tmp_path / "_build" and config.cell_timeout == 1200
    assert config.jobs >= 1 and config.bibfile == tmp_path / "references.bib"
    # a tab without [env-<tab>] runs in the tool's own Python
    assert config.envs["jax"].kernel == "python3" and config.envs["jax"].requirements is None
    assert config.lib_files == {} and config.library_package == "d2l" and config.warnings == ()


def test_tabs_are_required(tmp_path):
    with pytest.raises(SourceError) as info:
        load(tmp_path, "[project]\nname = x\n")
    assert "[build] tabs lists no framework" in info.value.message


def test_missing_kernel_of_a_tab(tmp_path):
    text = GOOD.replace("kernel = test-jax\n", "")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == line_of(text, "[env-jax]") and "'kernel'" in info.value.message


def test_bad_int(tmp_path):
    text = GOOD.replace("cell_timeout = 60", "cell_timeout = sixty")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == line_of(text, "cell_timeout")
    assert "must be a whole number, not 'sixty'" in info.value.message
    assert str(info.value).startswith(f"{tmp_path / 'config.ini'}:{info.value.line}: ")


def test_tab_without_library_section_has_no_library(tmp_path):
    text = GOOD.replace("[library-jax]\nlib_file = d2l/_saved/jax.py\n", "")
    assert "jax" not in load(tmp_path, text).lib_files


def test_no_config_anywhere(tmp_path):
    with pytest.raises(SourceError) as info:
        find_root(tmp_path)
    assert "no config.ini" in info.value.message


# -- d2lbook's config.ini -------------------------------------------------------------

EXCERPT = FIXTURES.parents[2] / "shared" / "corpus" / "d2l-en-excerpt"
needs_excerpt = pytest.mark.skipif(not EXCERPT.is_dir(), reason="the d2l.ai excerpt is not next to this checkout")


@needs_excerpt
def test_the_excerpts_config_is_accepted_unchanged():
    config = load_config(EXCERPT)
    assert config.tabs == ("pytorch", "mxnet", "jax", "tensorflow")
    assert config.project["title"] == "Dive into Deep Learning" and config.project["release"] == "1.0.3"
    assert config.chapter_globs == ("*.md", "*/*.md")  # [build] notebooks
    assert "README.md" in config.exclusions and "contrib/*md" in config.exclusions
    assert config.resources == ("img/", "d2l/", "d2l.bib", "setup.py", "static/latex_style/")
    assert config.eval_notebook is True
    assert config.bibfile == EXCERPT / "d2l.bib"  # [pdf] bibfile
    assert config.favicon == EXCERPT / "static/favicon.png" and config.html_logo == EXCERPT / "static/logo-with-text.png"
    assert config.include_css == (EXCERPT / "static/d2l.css",)
    assert config.header_links[3] == HeaderLink("Notebooks", "https://d2l.ai/d2l-en.zip", "fab fa-python")
    assert [link.name for link in config.header_links][-1] == "中文版" and len(config.header_links) == 7
    assert config.lib_files["pytorch"] == EXCERPT / "d2l/torch.py" and config.library_package == "d2l"
    files = {path.relative_to(EXCERPT).as_posix() for path in config.chapter_files()}
    assert len(files) == 32 and "index.md" in files and "README.md" not in files
    assert EXCERPT / "img/fcn.svg" in config.resource_files() and EXCERPT / "d2l.bib" in config.resource_files()
    # one warning naming the d2lbook keys this tool does not use
    (warning,) = config.warnings
    for name in ("[pdf] post_latex", "latex_url", "[library] version_file", "simple_alias", "[colab] github_repo", "[slides] top_right"):
        assert name in warning
    assert warning.startswith(f"{EXCERPT / 'config.ini'}: warning: ")


def test_d2lbook_keys_map_onto_ours(tmp_path):
    text = (
        "[build]\ntabs = pytorch\nnotebooks = ch*/*.md\noutput_dir = out\neval_notebook = False\n"
        "resources = img/ extra.txt\n[html]\nheader_links = GitHub, https://github.com/x, fab fa-github,\n"
        "    PDF, https://x/book.pdf, fas fa-file-pdf\ninclude_css = static/a.css static/b.css\n[pdf]\nbibfile = refs.bib\n"
        "[library-pytorch]\nlib_file = mylib/torch.py\nlib_name = torch\n"
    )
    config = load(tmp_path, text)
    assert config.chapter_globs == ("ch*/*.md",) and config.build_dir == tmp_path / "out"
    assert config.eval_notebook is False and config.resources == ("img/", "extra.txt")
    assert config.header_links == (
        HeaderLink("GitHub", "https://github.com/x", "fab fa-github"),
        HeaderLink("PDF", "https://x/book.pdf", "fas fa-file-pdf"),
    )
    assert config.include_css == (tmp_path / "static/a.css", tmp_path / "static/b.css")
    assert config.bibfile == tmp_path / "refs.bib" and config.library_package == "mylib"
    assert config.warnings == (f"{tmp_path / 'config.ini'}: warning: d2lbook settings this tool does not use, ignored: [library-pytorch] lib_name",)


def test_our_key_and_its_d2lbook_name_together_is_an_error(tmp_path):
    text = "[build]\ntabs = pytorch\nchapters = a/*.md\nnotebooks = b/*.md\n"
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == 4 and "d2lbook's name for [build] chapters" in info.value.message


def test_header_link_with_two_items_is_an_error(tmp_path):
    text = "[build]\ntabs = pytorch\n[html]\nheader_links = A, https://a, fas fa-a\n    B, https://b\n"
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == 5 and "'name, URL, icon', not 'B, https://b'" in info.value.message


@pytest.mark.parametrize(
    "key, hint",
    [("cel_timeout = 30", "did you mean 'cell_timeout'?"), ("notebook = *.md", "did you mean 'notebooks'?"), ("flavour = x", "")],
)
def test_unknown_key_suggests_a_close_one(tmp_path, key, hint):
    text = GOOD.replace("cell_timeout = 60", f"cell_timeout = 60\n{key}")
    warning = warning_of(load(tmp_path, text), f"unknown key '{key.split()[0]}' in [build]")
    assert f":{line_of(text, key.split()[0] + ' ')}: warning:" in warning
    assert (hint in warning) if hint else "did you mean" not in warning


def test_unknown_section_suggests_a_close_one(tmp_path):
    text = GOOD + "\n[colabb]\nlibs = x\n"
    warning = warning_of(load(tmp_path, text), "[colabb]")
    assert f":{line_of(text, '[colabb]')}: warning: unknown section [colabb] (did you mean 'colab'?)" in warning


def test_unknown_key_in_a_d2lbook_section_suggests_its_name(tmp_path):
    text = GOOD + "\n[slides]\ntop_rigth = x\n"
    warning = warning_of(load(tmp_path, text), "top_rigth")
    assert f":{line_of(text, 'top_rigth')}: warning:" in warning and "did you mean 'top_right'?" in warning


# -- what must not be accepted without a word (issue 10 item 8) ----------------------------


@pytest.mark.parametrize(
    "tabs, message",
    [
        ("pytorch, pytorch", "[build] tabs names 'pytorch' twice"),
        ("pytorch, , jax", "[build] tabs has an empty name"),
        (",pytorch", "[build] tabs has an empty name"),
        ("pytorch jax", "'pytorch jax' is not a tab name"),
    ],
)
def test_bad_tab_lists(tmp_path, tabs, message):
    text = GOOD.replace("tabs = pytorch, mxnet, jax, tensorflow", f"tabs = {tabs}")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == line_of(text, "tabs =") and message in info.value.message


def test_empty_build_dir(tmp_path):
    text = GOOD.replace("jobs = 1", "jobs = 1\nbuild_dir =")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == line_of(text, "build_dir") and "[build] build_dir is empty" in info.value.message


@pytest.mark.parametrize("package", ["d2x", "my-lib"])
def test_unknown_library_package(tmp_path, package):
    text = GOOD.replace("package = d2l", f"package = {package}")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == line_of(text, "package")
    assert f"[library] package '{package}'" in info.value.message


def test_config_that_is_not_utf8(tmp_path, tabbook):
    data = GOOD.replace("author = Tests", "author = Tst\xe9s").encode("latin-1")
    (tmp_path / "config.ini").write_bytes(data)
    with pytest.raises(SourceError) as info:
        load_config(tmp_path)
    assert info.value.line == line_of(GOOD, "author") and "not UTF-8: byte 0xe9" in info.value.message
    result = tabbook("check", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"config.ini:{info.value.line}: not UTF-8" in result.stderr
