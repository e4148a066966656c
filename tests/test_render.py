"""tabbook.render and tabbook.markdown: the HTML book built from executed notebooks.

The fixture book's notebooks are made by the real converter and "executed"
in-process (tests/fixtures/html/make_book.py), so no kernel is needed.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from tabbook import cli
from tabbook.book import load_book
from tabbook.browser import page_urls
from tabbook.errors import SourceError
from tabbook.outputs import OutputRenderer, svg_size
from tabbook.parse import parse_markdown
from tabbook.render import Site, cell_runs

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
    return config, cli.html(config, run=False)


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
    assert (html_dir / "chapter_demo" / svgs[0]).resolve().read_text().startswith('<svg xmlns="http://www.w3.org/2000/svg" ')
    assert (html_dir / "chapter_demo" / pngs[0]).resolve().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" not in first and "data:image" not in first
    assert "<table><tbody><tr><td>rich cell</td></tr></tbody></table>" in first  # sanitized: the class is dropped
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
    assert first.count("<math>") == 3  # inline math
    assert '<span class="eqn" id="eq_relu"><math display="block">' in first
    assert '<span class="eqno">(1.1.1)</span>' in first and '<span class="eqno">(1.1.2)</span>' in first
    assert "<mtable" in first  # the aligned environment
    assert "⊙" in first  # \odot


def test_cross_references_and_citations(built):
    first = page(built, "chapter_demo/first.html")
    assert '<a class="cite" href="#ref-Nair.Hinton.2010">Nair and Hinton, 2010</a>' in first
    assert re.search(r'As <span class="citation" id="cite-\d+"><a class="cite" href="#ref-Cybenko.1989">Cybenko \(1989\)</a></span> showed', first)
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
    # one font: the math font, served by the site itself, cut to the glyphs the book uses
    fonts = [p for p in html_dir.rglob("*") if p.suffix in (".otf", ".ttf", ".woff", ".woff2")]
    assert [p.relative_to(html_dir).as_posix() for p in fonts] == ["_static/fonts/latinmodern-math.woff2"]
    assert fonts[0].read_bytes()[:4] == b"wOF2" and fonts[0].stat().st_size < 100_000  # the whole OTF is 717 KB
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

    def fake_run_book(config_, files=None, tabs=None, jobs=None, force=False, out=None, book=None):
        calls.append((config_.root, files, tabs, jobs, [page.rel for page in book.pages]))
        return [SimpleNamespace(failed=False, tab="pytorch", name="index"), SimpleNamespace(failed=True, tab="jax", name="chapter_demo/first")]

    monkeypatch.setattr(tabbook.execute, "run_book", fake_run_book)
    with pytest.raises(SourceError, match="the HTML was built, but these notebooks failed: jax/chapter_demo/first"):
        cli.html(config, jobs=3)
    assert calls == [(config.root, None, None, 3, ["index.md", "chapter_demo/index.md", "chapter_demo/first.md", "chapter_demo/second.md"])]  # the book read once
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
    html_dir = cli.html(config, run=False, out=log)
    assert "html: warning: never executed, shown without outputs: jax/chapter_demo/first" in log.getvalue()
    # a prose edit keeps every cell's identity: only the notebook whose code changed is stale
    assert "older than the source, shown with the outputs of unchanged cells: mxnet/chapter_demo/first\n" in log.getvalue()
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
            cli.html(config, run=False)
    finally:
        source.write_text(text, encoding="utf-8")
    assert sorted(p.relative_to(html_dir) for p in html_dir.rglob("*")) == before
    assert not [p for p in html_dir.parent.iterdir() if p.name.startswith(".html")]


# -- pieces -------------------------------------------------------------------------


def test_cell_runs_group_code_and_tab_prose_between_shared_text():
    text = "intro\n\n```{.python .input}\na1\n```\n\n:begin_tab:`mxnet`\nabout mxnet\n:end_tab:\n\n```{.python .input}\n%%tab mxnet\nb1\n```\n\nend\n"
    runs = cell_runs(parse_markdown(text, "x.md", ("pytorch", "mxnet")))
    assert [run.text if not isinstance(run, list) else [c.kind for c in run] for run in runs] == ["intro", ["code", "tab_text", "code"], "end"]


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
    # an SVG is sanitized even as a file of its own: a reader may open it directly
    files.clear()
    svg = '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="30pt" height="15pt" onload="alert(1)"><script>alert(2)</script><rect width="5" height="5"/></svg>'
    html = renderer.render_one({"output_type": "display_data", "data": {"image/svg+xml": svg}})
    [(name, data)] = files.items()
    assert data.decode() == '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="30pt" height="15pt"><rect width="5" height="5"></rect></svg>'
    assert name.endswith(".svg") and 'width="40" height="20"' in html
    assert renderer.render_one({"output_type": "display_data", "data": {"image/png": "not base64!"}}) == ""


def test_site_renders_the_fixture_pages_in_memory(built):
    config, _ = built
    files = Site(config, load_book(config)).render()
    assert {"index.html", "chapter_demo/first.html", "_static/tabbook.css", "_static/tabbook.js"} <= set(files)


# -- one model: numbers asserted exactly ------------------------------------------------------

NUMBERING = Path(__file__).resolve().parent / "fixtures" / "numbering"


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    import shutil

    from tabbook.config import load_config

    root = tmp_path_factory.mktemp("numbering") / "book"
    shutil.copytree(NUMBERING, root)
    log = io.StringIO()
    html_dir = cli.html(load_config(root), run=False, out=log)
    return html_dir, log.getvalue()


def test_a_page_numbers_its_headings_figures_tables_and_equations_exactly(numbered):
    html_dir, _log = numbered
    page = (html_dir / "chapter_a" / "page.html").read_text(encoding="utf-8")
    headings = re.findall(r'<h(\d) id="([^"]+)"><span class="secnum">([\d.]+)</span> ([^<]+)<a', page)
    assert headings == [
        ("1", "sec_page", "1.2", "The Page"),
        ("2", "subsec_one", "1.2.1", "Sub One"),
        ("3", "subsubsec", "1.2.1.1", "Sub Sub"),
        ("2", "subsec_two", "1.2.2", "Sub Two"),
    ]
    assert "<pre><code># a comment, not a heading" in page  # an indented block is code, as in CommonMark
    assert re.findall(r'<figure class="figure" id="([^"]+)">.*?<span class="caption-number">(Figure [\d.]+):</span> ([^<]+)</figcaption>', page) == [
        ("fig_two_lines", "Figure 1.2.1", "A caption that runs over two lines.")
    ]
    assert 'style="width: 200px"' in page
    assert re.findall(r'<figure class="table" id="([^"]+)"><figcaption>([^<]+)</figcaption>', page) == [
        ("tab_above", "Table 1.2.1: Captioned and labelled above"),
        ("tab_below", "Table 1.2.2"),
    ]
    assert page.count("<table>") == 3  # the plain table has no number and no caption
    assert re.findall(r'<span class="eqn" id="([^"]+)">.*?<span class="eqno">\(([\d.]+)\)</span>', page) == [
        ("eq_mass", "1.2.1"),
        ("eq_pythagoras", "1.2.2"),
    ]
    references = re.findall(r'<a class="reference (\w+)" href="([^"]+)">([^<]+)</a>', page)
    assert references == [
        ("figure", "#fig_two_lines", "Figure 1.2.1"),
        ("table", "#tab_above", "Table 1.2.1"),
        ("table", "#tab_below", "Table 1.2.2"),
        ("equation", "#eq_mass", "(1.2.1)"),
        ("equation", "#eq_pythagoras", "(1.2.2)"),
        ("section", "#subsubsec", "Section 1.2.1.1"),
        ("figure", "first.html#fig_first", "Figure 1.1.1"),
        ("section", "index.html", "Chapter 1"),
    ]
    assert "<p><img src=\"../img/plot.svg\" alt=\"Another figure.\" /> with words after it</p>" in page
    assert (html_dir / "img" / "plot.svg").is_file()


def test_a_toc_without_numbered_gives_unnumbered_pages(numbered):
    html_dir, log = numbered
    front = (html_dir / "index.html").read_text(encoding="utf-8")
    assert '<span class="secnum">1</span> Chapter A' in front
    references = (html_dir / "references.html").read_text(encoding="utf-8")
    assert re.search(r'<h1 id="references">References<a', references)
    assert "chapter_a/page.md:50: warning: text after the figure" in log


def test_keep_going_builds_the_site_and_shows_unresolved_references(tmp_path):
    import shutil

    from tabbook.config import load_config

    root = tmp_path / "book"
    shutil.copytree(NUMBERING, root)
    page = root / "chapter_a" / "page.md"
    page.write_text(page.read_text(encoding="utf-8").replace(":numref:`chap_a`", ":numref:`chap_elsewhere`"), encoding="utf-8")
    with pytest.raises(SourceError, match="undefined label 'chap_elsewhere'"):
        cli.html(load_config(root), run=False)
    assert not (root / "_build" / "html").exists()
    log = io.StringIO()
    with pytest.raises(SourceError, match="built with --keep-going, but the book has 1 error"):
        cli.html(load_config(root), run=False, out=log, keep_going=True)
    html = (root / "_build" / "html" / "chapter_a" / "page.html").read_text(encoding="utf-8")
    assert "<a class=\"reference broken\" title=\"unresolved reference: no label 'chap_elsewhere' in this book\">??</a>" in html
    assert "1 unresolved reference(s) shown as ??:\n  chapter_a/page.md:47: :numref: refers to the undefined label 'chap_elsewhere'" in log.getvalue()


def test_the_references_page_lists_every_cited_work_with_links_and_back_links(numbered):
    html_dir, _log = numbered
    references = (html_dir / "references.html").read_text(encoding="utf-8")
    entries = re.findall(r'<li id="bib-([^"]+)">(.*?)</li>', references, re.S)
    assert [key for key, _ in entries] == ["Babbage.1864", "Lovelace.1843"]  # sorted by author
    babbage, lovelace = (text for _, text in entries)
    assert '<a class="bib-link" href="https://example.org/babbage"' in babbage
    assert '<a class="bib-link" href="https://doi.org/10.1000/ada.1843"' in lovelace
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', lovelace.split("Cited in")[1]) == [
        ("chapter_a/first.html#cite-7", "1.1"),
        ("chapter_a/page.html#cite-48", "1.2"),
    ]
    first = (html_dir / "chapter_a" / "first.html").read_text(encoding="utf-8")
    assert '<span class="citation" id="cite-7">' in first  # where the back-link lands
    assert "https://doi.org/10.1000/ada.1843" in first  # each page's own list links the DOI too


def test_downloaded_notebooks_read_as_plain_markdown_with_figures_inside(built):
    nb = json.loads((built[1] / "notebooks" / "pytorch" / "chapter_demo" / "first.ipynb").read_text(encoding="utf-8"))
    text = "\n".join(cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "markdown")
    for mark in (":label:", ":numref:", ":cite:", ":citet:", ":eqref:", ":width:", ":eqlabel:"):
        assert mark not in text
    assert "# 1.1 First Steps" in text and "## 1.1.1 Activation Functions" in text
    assert "The rectified linear unit (Nair and Hinton, 2010) is" in text
    assert "As Cybenko (1989) showed" in text and "See (1.1.1) and Figure 1.1.1." in text
    assert "\\tag{1.1.1}$$" in text
    figure = next(cell for cell in nb["cells"] if cell.get("attachments"))
    assert '<img src="attachment:demo.svg" alt="A demo network diagram." width="300">' in "".join(figure["source"])
    svg = base64.b64decode(figure["attachments"]["demo.svg"]["image/svg+xml"])
    assert svg == (built[0].root / "static" / "img" / "demo.svg").read_bytes()
    executed = json.loads((built[0].build_dir / "eval" / "pytorch" / "chapter_demo" / "first.ipynb").read_text(encoding="utf-8"))
    code = [(c["id"], c["source"], c["outputs"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert code == [(c["id"], c["source"], c["outputs"]) for c in executed["cells"] if c["cell_type"] == "code"]


def test_publish_settings_add_launch_discussion_and_edit_links(tmp_path):
    config = load_make_book()(tmp_path / "book")
    text = config.config_path.read_text(encoding="utf-8")
    text += "\n[publish]\nnotebooks_repo = someone/demo-notebooks\nsource_repo = someone/demo-book\nsite_url = https://demo.example.org\ndiscussions = chapter_demo/first https://discuss.example.org/t/1\n"
    config.config_path.write_text(text, encoding="utf-8")
    from tabbook.config import load_config

    html_dir = cli.html(load_config(config.root), run=False, out=io.StringIO())
    first = (html_dir / "chapter_demo" / "first.html").read_text(encoding="utf-8")
    assert '<a href="https://colab.research.google.com/github/someone/demo-notebooks/blob/main/jax/chapter_demo/first.ipynb" rel="noopener">Open in Colab</a>' in first
    assert '<a href="https://studiolab.sagemaker.aws/import/github/someone/demo-notebooks/blob/main/pytorch/chapter_demo/first.ipynb" rel="noopener">Open in Studio Lab</a>' in first
    assert '<a class="discuss" href="https://discuss.example.org/t/1"' in first
    assert '<a class="edit" href="https://github.com/someone/demo-book/edit/main/chapter_demo/first.md"' in first
    second = (html_dir / "chapter_demo" / "second.html").read_text(encoding="utf-8")
    assert "Discuss</a>" not in second
    nb = json.loads((html_dir / "notebooks" / "pytorch" / "chapter_demo" / "second.ipynb").read_text(encoding="utf-8"))
    assert "[Section 1.1](https://demo.example.org/chapter_demo/first.html)" in "".join("".join(c["source"]) for c in nb["cells"])
    plain = cli.html(config, run=False, out=io.StringIO())  # the config as it was, without [publish]
    assert "Open in Colab" not in (plain / "chapter_demo" / "first.html").read_text(encoding="utf-8")


def test_publish_notebooks_writes_executed_notebooks_with_an_install_cell(built, tmp_path, tabbook):
    config, _html = built
    import shutil

    shutil.copytree(Path(__file__).resolve().parent.parent / "envs", config.root / "envs", dirs_exist_ok=True)
    result = tabbook("publish-notebooks", tmp_path / "out", "--no-run", cwd=config.root)
    assert result.returncode == 0, result.stderr
    nb = json.loads((tmp_path / "out" / "mxnet" / "chapter_demo" / "first.ipynb").read_text(encoding="utf-8"))
    install = nb["cells"][0]
    source = "".join(install["source"])
    assert install["cell_type"] == "code" and source.splitlines()[1].startswith("%pip install -q ")
    assert '"mxnet==1.9.1"' in source and "ipykernel" not in source
    assert any("hello from mxnet" in "".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert ":numref:" not in json.dumps(nb)


def test_header_links_of_the_config_are_in_every_page_header(tmp_path):
    from dataclasses import replace

    from tabbook.config import HeaderLink

    config = load_make_book()(tmp_path / "book")
    links = (HeaderLink("GitHub", "https://github.com/x/y", "fab fa-github"), HeaderLink("PDF & more", "/book.pdf", "fas fa-file-pdf"))
    html_dir = cli.html(replace(config, header_links=links), run=False)
    for name in ("index.html", "chapter_demo/first.html"):
        header = (html_dir / name).read_text(encoding="utf-8").split("</header>")[0]
        assert '<a class="header-link" href="https://github.com/x/y" data-icon="fab fa-github">GitHub</a>' in header
        assert '<a class="header-link" href="/book.pdf" data-icon="fas fa-file-pdf">PDF &amp; more</a>' in header
    assert "header-link" not in (cli.html(config, run=False) / "index.html").read_text(encoding="utf-8")


def test_d2lbook_site_settings_resources_favicon_logo_css_and_eval_notebook(tmp_path):
    import shutil

    from tabbook.config import load_config

    root = tmp_path / "book"
    shutil.copytree(NUMBERING, root)
    (root / "static").mkdir()
    (root / "static" / "favicon.png").write_bytes(b"\x89PNG fake icon")
    (root / "static" / "logo.png").write_bytes(b"\x89PNG fake logo")
    (root / "static" / "extra.css").write_text(".extra { color: red; }", encoding="utf-8")
    (root / "data").mkdir()
    (root / "data" / "table.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    config = (root / "config.ini").read_text(encoding="utf-8")
    config = config.replace("[html]\n", "[html]\nfavicon = static/favicon.png\nhtml_logo = static/logo.png\ninclude_css = static/extra.css static/gone.css\n")
    config = config.replace("[build]\n", "[build]\nresources = data/ img/\neval_notebook = False\n")
    (root / "config.ini").write_text(config, encoding="utf-8")
    log = io.StringIO()
    html_dir = cli.html(load_config(root), run=True, out=log)  # eval_notebook = False: nothing runs, no kernel needed
    page = (html_dir / "chapter_a" / "page.html").read_text(encoding="utf-8")
    assert '<link rel="icon" href="../static/favicon.png">' in page
    assert '<link rel="stylesheet" href="../static/extra.css">' in page and "gone.css" not in page
    assert '<img class="book-logo" src="../static/logo.png" alt="">' in page
    for name in ("static/favicon.png", "static/logo.png", "static/extra.css", "data/table.csv", "img/plot.svg"):
        assert (html_dir / name).is_file(), name
    assert "files named in config.ini that do not exist were left out: static/gone.css" in log.getvalue()
    assert "never executed" not in log.getvalue()
