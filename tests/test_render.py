"""tabbook.render and tabbook.markdown: the HTML book built from executed notebooks.

The fixture book's notebooks are made by the real converter and "executed"
in-process (tests/fixtures/html/make_book.py), so no kernel is needed.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from tabbook.book import load_book
from tabbook.errors import SourceError
from tabbook.render import OutputRenderer, Site, build_html, merge_notebooks, page_urls, svg_size

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "html"
PAGE_BUDGET = 300 * 1024


def load_make_book():
    spec = importlib.util.spec_from_file_location("html_fixture_make_book", FIXTURE / "make_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_book


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The fixture book, executed and rendered: (config, html dir)."""
    config = load_make_book()(tmp_path_factory.mktemp("render") / "book")
    return config, build_html(config, run=False)


def page(built, name: str) -> str:
    return (built[1] / name).read_text(encoding="utf-8")


def link(anchor: str) -> str:
    """The "#" link a heading carries to itself."""
    return f'<a class="headerlink" href="#{anchor}" aria-label="Link to this section">#</a>'


def panes(html: str, tab: str) -> list[str]:
    """The HTML of every pane of ``tab`` on a page, with its class attribute."""
    return re.findall(r'<div class="(tabpane[^"]*)" role="tabpanel" data-tab="' + tab + r'">(.*?)</div>\n(?=<div class="tabpane|</div>)', html, re.S)


# -- the build ----------------------------------------------------------------------


def test_every_page_is_built_with_numbers_sidebar_and_prev_next(built):
    assert page_urls(built[1]) == ["index.html", "chapter_demo/first.html", "chapter_demo/index.html", "chapter_demo/second.html"]
    front = page(built, "index.html")
    assert f'<h1 id="demo-book">Demo Book{link("demo-book")}</h1>' in front
    # the front page's toc fence lists the chapter and its sections, numbered
    assert re.search(r'class="toc-fence"><li><a href="chapter_demo/index.html"><span class="secnum">1</span> The Demo Chapter</a><ul><li><a href="chapter_demo/first.html"><span class="secnum">1.1</span> First Steps', front)
    first = page(built, "chapter_demo/first.html")
    assert f'<h1 id="sec_first"><span class="secnum">1.1</span> First Steps{link("sec_first")}</h1>' in first
    assert f'<h2 id="subsec_activation"><span class="secnum">1.1.1</span> Activation Functions{link("subsec_activation")}</h2>' in first
    assert f'<h2 id="hidden-things"><span class="secnum">1.1.2</span> Hidden Things{link("hidden-things")}</h2>' in first
    assert '<li class="current"><a href="first.html"><span class="secnum">1.1</span> First Steps</a></li>' in first
    assert '<a class="prev" href="index.html" rel="prev"><span class="dir">Previous</span> <span class="secnum">1</span> The Demo Chapter</a>' in first
    assert '<a class="next" href="second.html" rel="next"><span class="dir">Next</span> <span class="secnum">1.2</span> Second Steps</a>' in first
    assert "<title>1.1 First Steps — Demo Book</title>" in first


def test_tabs_merge_shared_text_once_and_code_per_tab(built):
    first = page(built, "chapter_demo/first.html")
    assert first.count("The marmalade sentence is unique to this page.") == 1
    assert first.count('<div class="tabgroup">') == 3
    for tab in ("pytorch", "mxnet", "jax"):
        assert f"hello from {tab}</pre>" in first
        assert len(panes(first, tab)) == 3
    # without JavaScript the default tab shows: only the other tabs' panes carry the hiding class
    assert all(css == "tabpane" for css, _ in panes(first, "pytorch"))
    assert all(css == "tabpane tb-hidden" for css, _ in panes(first, "jax"))
    prose = [body for _, body in panes(first, "mxnet") if "MXNet and JAX prose" in body]
    assert len(prose) == 1 and "PyTorch prose" not in prose[0]
    article = first[first.index("<article>") :]
    assert article.index("hello from pytorch") < article.index("Activation Functions") < article.index("PyTorch prose")


def test_a_tab_without_a_notebook_says_so(built):
    second = page(built, "chapter_demo/second.html")
    assert [body for _, body in panes(second, "jax")] == ['<p class="tab-missing">This section has no code for JAX.</p>']
    assert "[256, 10]</pre>" in second
    assert '<span class="download none" title="This section has no code for MXNet">MXNet</span>' in second
    first = page(built, "chapter_demo/first.html")
    # within a page that has the tab, a group without its code says that instead
    assert "No MXNet code" not in first


def test_outputs_ansi_images_html_collapse_and_hiding(built):
    first = page(built, "chapter_demo/first.html")
    assert '<span class="ansi-red-fg">ValueError</span>: jax cell failed on purpose' in first
    # images are files of the site, loaded lazily with their size reserved; the three tabs' identical plots are one file
    svgs = re.findall(r'<div class="output image"><img src="(\.\./_static/outputs/[0-9a-f]{20}\.svg)" alt="Output image" loading="lazy" width="240" height="120"></div>', first)
    pngs = re.findall(r'<div class="output image"><img src="(\.\./_static/outputs/[0-9a-f]{20}\.png)" alt="Output image" loading="lazy" width="16" height="8"></div>', first)
    assert len(svgs) == 3 and len(set(svgs)) == 1 and len(pngs) == 3 and len(set(pngs)) == 1
    html_dir = built[1]
    assert (html_dir / "chapter_demo" / svgs[0]).resolve().read_text().startswith("<?xml")
    assert (html_dir / "chapter_demo" / pngs[0]).resolve().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" not in first and "data:image" not in first
    assert "<table class='frame'><tr><td>rich cell</td></tr></table>" in first
    assert '<details class="long-output"><summary>Output: 20 lines (click to show)</summary>' in first
    assert "a hidden cell" not in first
    assert "output without its code</pre>" in first and "print</span><span class=\"p\">(</span><span class=\"s2\">&quot;output without" not in first
    assert "code without its output" in first and "code without its output</pre>" not in first


def test_text_outputs_are_escaped(built):
    first = page(built, "chapter_demo/first.html")
    assert "<script>alert" not in first
    assert "&lt;script&gt;alert(&#39;not run&#39;)&lt;/script&gt;</pre>" in first


def test_math_is_mathml_with_numbered_equations(built):
    first = page(built, "chapter_demo/first.html")
    text = re.sub(r"<pre.*?</pre>", "", first, flags=re.S)
    assert "$" not in text
    assert first.count("<math display=\"inline\">") == 3
    assert '<span class="eqn" id="eq_relu"><math display="block">' in first
    assert '<span class="eqno">(1.1.1)</span>' in first and '<span class="eqno">(1.1.2)</span>' in first
    assert "<mtable" in first  # the aligned environment
    assert "&#x02299;" in first  # \odot


def test_cross_references_and_citations(built):
    first = page(built, "chapter_demo/first.html")
    assert '<a class="cite" href="#ref-Nair.Hinton.2010">Nair and Hinton, 2010</a>' in first
    assert 'As <a class="cite" href="#ref-Cybenko.1989">Cybenko (1989)</a> showed' in first
    assert '(<a class="cite" href="#ref-Cybenko.1989">Cybenko, 1989</a>; <a class="cite" href="#ref-Nair.Hinton.2010">Nair and Hinton, 2010</a>)' in first
    assert 'See <a class="reference equation" href="#eq_relu">(1.1.1)</a> and <a class="reference figure" href="#fig_demo">Figure 1.1.1</a>.' in first
    references = first[first.index('<section class="references"'):]
    assert references.index('id="ref-Cybenko.1989"') < references.index('id="ref-Nair.Hinton.2010"')
    assert "He.Zhang" not in references
    second = page(built, "chapter_demo/second.html")
    assert '<a class="reference section" href="first.html">Section 1.1</a>' in second
    assert '<a class="reference section" href="first.html#subsec_activation">Section 1.1.1</a>' in second
    assert '<a class="reference equation" href="first.html#eq_hidden">(1.1.2)</a>' in second
    assert '<a class="reference table" href="#tab_sizes">Table 1.2.1</a>' in second
    assert '<figure class="table" id="tab_sizes"><figcaption>Table 1.2.1: Sizes of the layers</figcaption>' in second
    assert 'class="references"' not in second  # nothing cited on that page
    chapter = page(built, "chapter_demo/index.html")
    assert '<a class="reference section" href="first.html">First Steps</a>' in chapter  # :ref: shows the title
    assert '<a class="reference section" href="second.html">Section 1.2</a>' in chapter
    assert '<a class="reference section" href="chapter_demo/index.html">Chapter 1</a>' in page(built, "index.html")


def test_figures_are_numbered_sized_and_copied(built):
    first = page(built, "chapter_demo/first.html")
    assert (
        '<figure class="figure" id="fig_demo"><img src="../static/img/demo.svg" alt="A demo network diagram." style="width: 300px">'
        '<figcaption><span class="caption-number">Figure 1.1.1:</span> A demo network diagram.</figcaption></figure>'
    ) in first
    assert (built[1] / "static" / "img" / "demo.svg").read_bytes() == (FIXTURE / "static" / "img" / "demo.svg").read_bytes()


def test_notebook_downloads_and_zips(built):
    config, html_dir = built
    first = page(built, "chapter_demo/first.html")
    for tab in config.tabs:
        assert f'href="../notebooks/{tab}/chapter_demo/first.ipynb" download' in first
        copied = json.loads((html_dir / "notebooks" / tab / "chapter_demo" / "first.ipynb").read_text())
        assert copied["metadata"]["tabbook"]["tab"] == tab
        assert f'href="../notebooks/demo-book-{tab}.zip" download' in first
    assert not (html_dir / "notebooks" / "jax" / "chapter_demo" / "second.ipynb").exists()
    with zipfile.ZipFile(html_dir / "notebooks" / "demo-book-mxnet.zip") as archive:
        assert sorted(archive.namelist()) == [
            "chapter_demo/first.ipynb", "chapter_demo/index.ipynb", "index.ipynb", "static/img/demo.svg",
        ]


def test_search_index_covers_the_book(built):
    script = (built[1] / "_static" / "searchindex.js").read_text(encoding="utf-8")
    entries = json.loads(script[script.index("=") + 1 :].rstrip().rstrip(";"))
    hits = [e for e in entries if "marmalade sentence" in e["x"]]
    assert [(e["u"], e["t"]) for e in hits] == [("chapter_demo/first.html", "1.1 First Steps")]
    assert ("chapter_demo/first.html#subsec_activation", "1.1.1 Activation Functions") in [(e["u"], e["t"]) for e in entries]
    assert any("hello from" in e["x"] for e in entries)  # code is searchable
    assert not any("line 19" in e["x"] for e in entries)  # outputs are not
    assert not any("PyTorchMXNet" in e["x"] or "PyTorch MXNet" in e["x"] for e in entries)  # nor the tab bars
    # one entry per place: a page's own heading is not a second, title-only hit
    assert len({e["u"] for e in entries}) == len(entries)


def test_front_page_chapter_and_section_titles_differ(built):
    """The front page is named by the book's title, chapters and sections by their numbers."""
    assert "<title>Demo Book</title>" in page(built, "index.html")
    chapter = page(built, "chapter_demo/index.html")
    assert "<title>1 The Demo Chapter — Demo Book</title>" in chapter
    assert '<span class="dir">Previous</span> Demo Book</a>' in chapter
    assert '<span class="dir">Next</span> <span class="secnum">1.1</span> First Steps</a>' in chapter


def weight(html_dir: Path, name: str) -> int:
    """Bytes of HTML, CSS and JavaScript a reader downloads for a page (images and fonts are files of their own)."""
    text = (html_dir / name).read_text(encoding="utf-8")
    assert "<svg" not in text and "data:image" not in text  # no image is inlined
    size = len(text.encode("utf-8"))
    for asset in re.findall(r'(?:href|src)="([^"]+\.(?:css|js))"', text):
        size += (html_dir / Path(name).parent / asset).stat().st_size
    return size


def test_page_weight_stays_under_budget(built):
    html_dir = built[1]
    for name in page_urls(html_dir):
        assert 0 < weight(html_dir, name) < PAGE_BUDGET, name
    # one font: the math font, served by the site itself
    fonts = [p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*") if p.suffix in (".otf", ".ttf", ".woff", ".woff2")]
    assert fonts == ["_static/fonts/latinmodern-math.otf"]
    css = (html_dir / "_static" / "tabbook.css").read_text()
    assert "@import" not in css and "http" not in css


def test_no_page_refers_to_the_network(built):
    for name in page_urls(built[1]):
        text = page(built, name)
        assert not re.search(r'(?:src|href)="(?:https?:)?//', text), name


def test_html_command_renders_the_cache(built, tabbook):
    config, html_dir = built
    result = tabbook("html", "--no-run", cwd=config.root)
    assert result.returncode == 0, result.stderr
    assert re.search(r"html: 4 pages x 3 tabs -> .*_build/html in [0-9.]+ s", result.stdout)
    assert "warning" not in result.stdout
    assert (html_dir / "chapter_demo" / "first.html").stat().st_mode & 0o444 == 0o444


def test_html_runs_stale_notebooks_first_and_reports_failures(built, monkeypatch):
    import tabbook.execute

    config, html_dir = built
    calls = []

    def fake_run_book(config_, files=None, tabs=None, jobs=None, force=False, out=None):
        calls.append((config_.root, files, tabs, jobs))
        return [{"status": "ok", "tab": "pytorch", "name": "index"}, {"status": "failed", "tab": "jax", "name": "chapter_demo/first"}]

    monkeypatch.setattr(tabbook.execute, "run_book", fake_run_book)
    with pytest.raises(SourceError, match="the HTML was built, but these notebooks failed: jax/chapter_demo/first"):
        build_html(config, jobs=3)
    assert calls == [(config.root, None, None, 3)]
    assert (html_dir / "chapter_demo" / "first.html").is_file()


def test_from_the_cache_a_stale_page_shows_its_source_with_the_outputs_still_valid(tmp_path):
    config = load_make_book()(tmp_path / "book")
    first = config.root / "chapter_demo" / "first.md"
    text = first.read_text(encoding="utf-8")
    text = text.replace("## Hidden Things", "A new paragraph, not yet executed.\n\n## Hidden Things")
    text = text.replace('print("hello from mxnet")', 'print("changed in mxnet")')
    first.write_text(text, encoding="utf-8")
    (config.build_dir / "eval" / "jax" / "chapter_demo" / "first.ipynb").unlink()
    log = io.StringIO()
    html_dir = build_html(config, run=False, out=log)
    assert "html: warning: never executed, shown without outputs: jax/chapter_demo/first" in log.getvalue()
    assert "older than the source, shown with the outputs of unchanged cells: pytorch/chapter_demo/first, mxnet/chapter_demo/first" in log.getvalue()
    page = (html_dir / "chapter_demo" / "first.html").read_text(encoding="utf-8")
    assert "A new paragraph, not yet executed." in page
    assert "hello from pytorch</pre>" in page  # unchanged cell: its output stays
    assert "changed in mxnet" in page and "hello from mxnet</pre>" not in page  # changed cell: no stale output
    assert "jax cell failed on purpose</pre>" not in page


def test_a_failed_build_keeps_the_previous_one(built, tmp_path):
    config, html_dir = built
    before = sorted(p.relative_to(html_dir) for p in html_dir.rglob("*"))
    source = config.root / "chapter_demo" / "first.md"
    text = source.read_text(encoding="utf-8")
    try:
        source.write_text(text.replace(":eqref:`eq_relu`", ":eqref:`eq_nowhere`"), encoding="utf-8")
        with pytest.raises(SourceError, match="undefined label 'eq_nowhere'"):
            build_html(config, run=False)
    finally:
        source.write_text(text, encoding="utf-8")
    assert sorted(p.relative_to(html_dir) for p in html_dir.rglob("*")) == before
    assert not [p for p in html_dir.parent.iterdir() if p.name.startswith(".html")]


# -- pieces -------------------------------------------------------------------------


def notebook(tab, cells):
    return {"metadata": {"tabbook": {"tab": tab}}, "cells": cells}


def cell(kind, line, text, cell_type=None):
    return {"cell_type": cell_type or ("code" if kind == "code" else "markdown"), "source": text,
            "metadata": {"tabbook": {"line": line, "end_line": line, "kind": kind}}}


def test_merge_matches_cells_by_line_and_groups_runs():
    a = notebook("a", [cell("text", 1, "intro"), cell("code", 3, "a1"), cell("tab_text", 6, "about a"), cell("text", 9, "end")])
    b = notebook("b", [cell("text", 1, "intro"), cell("code", 3, "b1"), cell("code", 5, "b only"), cell("text", 9, "end")])
    items = merge_notebooks({"a": a, "b": b}, "x.md")
    assert items[0]["source"] == "intro" and items[2]["source"] == "end"
    group = items[1]
    assert {tab: [c["source"] for c in cells] for tab, cells in group.panes.items()} == {"a": ["a1", "about a"], "b": ["b1", "b only"]}


def test_merge_rejects_cells_without_metadata():
    bad = notebook("a", [{"cell_type": "markdown", "source": "x", "metadata": {}}])
    with pytest.raises(SourceError, match="cell 0 of the a notebook has no tabbook metadata"):
        merge_notebooks({"a": bad}, "x.md")


def test_output_renderer_escapes_colours_redraws_and_collapses():
    renderer = OutputRenderer(collapse_lines=3)
    stream = {"output_type": "stream", "name": "stdout", "text": "epoch 1\r\x1b[1mepoch 2\x1b[0m\r\nloss <1>\n"}
    assert renderer.render_one(stream) == '<pre class="output stream stdout"><span class="ansi-bold">epoch 2</span>\r\nloss &lt;1&gt;</pre>'
    long = {"output_type": "execute_result", "data": {"text/plain": "\n".join("abcd")}}
    assert renderer.render_one(long).startswith('<details class="long-output"><summary>Output: 4 lines (click to show)</summary><pre class="output result">a\nb')
    assert renderer.render_one({"output_type": "display_data", "data": {"application/x-unknown": "?"}}) == ""


def test_svg_size_in_pixels():
    assert svg_size('<?xml version="1.0"?>\n<svg xmlns="x" width="460.8pt" height="345.6pt" viewBox="0 0 460.8 345.6">') == (614, 461)
    assert svg_size('<svg width="240" height="120">') == (240, 120)
    assert svg_size('<svg viewBox="0 0 10 10">') is None and svg_size("no svg") is None


def test_output_images_become_files_named_by_content():
    files = {}
    renderer = OutputRenderer(collapse_lines=3, files=files, root="../")
    retina = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo="}, "metadata": {"image/png": {"width": 300, "height": 200}}}
    html = renderer.render_one(retina)
    [(name, data)] = files.items()
    assert name.startswith("_static/outputs/") and name.endswith(".png") and data == b"\x89PNG\r\n\x1a\n"
    assert html == f'<div class="output image"><img src="../{name}" alt="Output image" loading="lazy" width="300" height="200"></div>'


def test_site_renders_the_fixture_pages_in_memory(built):
    config, _ = built
    files = Site(config, load_book(config)).render()
    assert {"index.html", "chapter_demo/first.html", "_static/tabbook.css", "_static/tabbook.js"} <= set(files)
