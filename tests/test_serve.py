"""``tabbook serve``: the live preview, as an author uses it.

The in-process tests drive :class:`tabbook.serve.Preview` on a copy of the
numbering fixture (no code): which pages a change renders again, and how a
problem holds the last good pages. The browser tests start ``python -m tabbook
serve`` on a copy of the executor's fixture book (two tabs, real python3
kernels, a few seconds a notebook), open a page in headless Chromium, edit
the sources and wait for the page to change by itself.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from conftest import process_gone
from serve_process import PrintedLines, ServeProcess

from tabbook import execute
from tabbook.config import load_config
from tabbook.serve import Preview

FIXTURES = Path(__file__).resolve().parent / "fixtures"
pytestmark = pytest.mark.timeout(180)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


# ----------------------------------------------------------------------------- in process


@pytest.fixture
def numbering(tmp_path):
    book = tmp_path / "book"
    shutil.copytree(FIXTURES / "numbering", book)
    return book


def quiet_preview(book: Path) -> Preview:
    import io

    preview = Preview(book, run=False, out=io.StringIO())
    first = preview.build()
    assert not first.held and not first.errors
    return preview


def pages_of(book: Path) -> dict[str, str]:
    config = load_config(book)
    return {path.relative_to(book).as_posix(): path.read_text() for path in config.chapter_files()}


def test_a_prose_edit_renders_only_its_page(numbering):
    preview = quiet_preview(numbering)
    every = set(preview.versions)
    assert len(every) >= 3
    source = next(rel for rel, text in pages_of(numbering).items() if rel != "index.md" and "\n\n" in text)
    path = numbering / source
    text = path.read_text()
    # a new paragraph at the end: no number, title or label changes
    path.write_text(text + "\nA sentence the author just wrote.\n")
    update = preview.update({path.resolve()})
    url = source[: -len(".md")] + ".html"
    assert update.rendered == [source]
    assert update.updated == [url]
    assert b"A sentence the author just wrote." in preview.get(url)
    assert update.queued == []


def test_a_new_heading_renders_the_pages_that_refer_to_its_numbers(numbering):
    first, page = numbering / "chapter_a" / "first.md", numbering / "chapter_a" / "page.md"
    first.write_text(first.read_text() + "\nAs :numref:`subsec_one` shows.\n")
    preview = quiet_preview(numbering)
    assert b"Section 1.2.1" in preview.get("chapter_a/first.html")
    edit(page, "## Sub One", "## A heading put before the others\n\n## Sub One")
    update = preview.update({page.resolve()})
    assert not update.held
    # the edited page first; the References page too, as its back-links name the citations' lines
    assert update.rendered == ["chapter_a/page.md", "chapter_a/first.md", "references.md"]
    assert b"Section 1.2.2" in preview.get("chapter_a/first.html")


def test_a_new_title_renders_every_page_for_the_sidebar(numbering):
    preview = quiet_preview(numbering)
    page = preview.book.pages[1]
    edit(page.source, f"# {page.title.text}", "# A Title Nobody Had Before")
    update = preview.update({page.source.resolve()})
    assert set(update.rendered) == {p.rel for p in preview.book.pages}
    assert all(b"A Title Nobody Had Before" in preview.get(p.url) for p in preview.book.pages)


def test_a_change_during_a_long_pass_cuts_it_short_and_the_rest_follows(numbering):
    preview = quiet_preview(numbering)
    page = preview.book.pages[1]
    edit(page.source, f"# {page.title.text}", "# Renamed")
    preview.interrupt.set()  # as the watcher does when another file is saved meanwhile
    update = preview.update({page.source.resolve()})
    assert update.rendered == [page.rel]  # the edited page, then the pass gives way
    preview.interrupt.clear()  # as the update thread does when it takes the next change
    update = preview.update()
    assert set(update.rendered) == {p.rel for p in preview.book.pages} - {page.rel}
    assert all(b"Renamed" in preview.get(p.url) for p in preview.book.pages)


def test_a_new_problem_holds_every_page_until_it_is_fixed(numbering):
    preview = quiet_preview(numbering)
    page = preview.book.pages[1]
    before = dict(preview.files)
    text = page.source.read_text()
    page.source.write_text(text + "\nSee :numref:`no_such_label` and more prose.\n")
    update = preview.update({page.source.resolve()})
    assert update.held
    line = len(text.splitlines()) + 2
    assert [f"{e['where']}: {e['message']}" for e in preview.state()["errors"]] == [
        f"{page.rel}:{line}: :numref: refers to the undefined label 'no_such_label'"
    ]
    assert preview.files == before  # the last good pages stay
    page.source.write_text(text + "\nThe fixed sentence.\n")
    update = preview.update({page.source.resolve()})
    assert not update.held and preview.state()["errors"] == []
    assert b"The fixed sentence." in preview.get(page.url)


def test_problems_the_book_already_had_do_not_hold_edits(numbering):
    import io

    page = Path(numbering / "index.md")
    page.write_text(page.read_text() + "\nAn old :numref:`missing_since_ever` reference.\n")
    preview = Preview(numbering, run=False, out=io.StringIO())
    assert preview.build().errors == 1
    edit(page, "An old", "A still broken")
    update = preview.update({page.resolve()})
    assert not update.held and update.errors == 1
    assert b"A still broken" in preview.get("index.html")


def test_a_bibliography_edit_renders_the_pages_with_citations(numbering):
    preview = quiet_preview(numbering)
    bib = numbering / "refs.bib"
    edit(bib, "year = {1843}", "year = {1842}")
    update = preview.update({bib.resolve()})
    assert update.rendered == ["chapter_a/first.md", "chapter_a/page.md", "references.md"]  # the pages that cite, and the References page
    assert b"Lovelace (1842)" in preview.get("chapter_a/page.html")
    first = numbering / "chapter_a" / "first.md"
    edit(first, "Engines were imagined early :cite:`Babbage.1864,Lovelace.1843`.", "Engines were imagined early.")
    update = preview.update({first.resolve()})
    assert update.rendered == ["chapter_a/first.md", "references.md"]  # its back-link to first.md is gone
    assert b"first.html#cite" not in preview.get("references.html")


def test_a_bad_config_is_shown_not_fatal(numbering):
    preview = quiet_preview(numbering)
    config = numbering / "config.ini"
    good = config.read_text()
    config.write_text(good + "\n[build]\nno_such_key = 1\n")
    update = preview.update({config.resolve()})
    assert update.held
    assert "config.ini" in preview.state()["errors"][0]["where"]
    config.write_text(good)
    assert not preview.update({config.resolve()}).held
    assert preview.state()["errors"] == []


# ----------------------------------------------------------------------------- the server in a browser


@pytest.fixture(scope="session")
def filled_store(tmp_path_factory):
    """The executor fixture's results in a store (one cold run per session)."""
    tmp_path = tmp_path_factory.mktemp("serve-store")
    book = copy_execute_book(tmp_path)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("TABBOOK_CACHE", str(tmp_path / "cache"))
        monkeypatch.delenv("D2L_DATA", raising=False)
        rows = execute.run_book(load_config(book), out=open(os.devnull, "w"))  # noqa: SIM115
    assert all(row.status == "ok" for row in rows)
    return tmp_path / "cache"


def copy_execute_book(tmp_path: Path) -> Path:
    book = tmp_path / "book"
    shutil.copytree(FIXTURES / "execute" / "book", book)
    (book / "refs.bib").write_text("")  # the fixture runs notebooks only; the site needs [html] bibfile
    return book


@pytest.fixture
def stored_book(tmp_path, filled_store, monkeypatch):
    """A copy of the executor's fixture book in this process, its results in its store."""
    book = copy_execute_book(tmp_path)
    shutil.copytree(filled_store, tmp_path / "cache")
    monkeypatch.setenv("TABBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("D2L_DATA", raising=False)
    return book


def test_without_running_a_code_edit_shows_the_old_outputs_marked(stored_book):
    import io

    book = stored_book
    execute.run_book(load_config(book), out=io.StringIO())  # from the store: nothing runs
    preview = Preview(book, run=False, out=io.StringIO())
    preview.build()
    assert b"serve-stale-banner" not in preview.get("chapter/one.html")
    one = book / "chapter" / "one.md"
    edit(one, 'print("jax", 2 + 2)', 'print("jax", 3 + 3)')
    update = preview.update({one.resolve()})
    assert update.queued == []
    html = preview.get("chapter/one.html").decode()
    assert "jax 4" in html and "jax 6" not in html  # the old output of the changed cell
    assert 'data-stale="old"' in html and "serve-stale-banner" in html
    # cells added: no pairing of old and new, the new cell shows nothing
    edit(one, 'print("jax", 3 + 3)', 'print("jax", 3 + 3)\n```\n\n```{.python .input}\n%%tab jax\nprint("more")')
    preview.update({one.resolve()})
    assert "jax 4" not in preview.get("chapter/one.html").decode()


def test_a_library_change_reruns_what_its_key_makes_stale(stored_book):
    import io

    book = stored_book
    preview = Preview(book, tabs=["pytorch"], out=io.StringIO())
    preview.build()  # everything from the store
    assert preview.runner.wait_idle(60)
    library = book / "d2l" / "__init__.py"
    edit(library, "ANSWER = 42", "ANSWER = 43")
    preview.update({library.resolve()})
    assert preview.runner.wait_idle(120)
    rows = summary(book)
    executed = {key for key, row in rows.items() if not row["cached"] and row["executed_seconds"] is not None}
    assert executed == {("chapter/one.md", "pytorch"), ("chapter/two.md", "pytorch")}
    deadline = time.monotonic() + 10
    while b"answer 43" not in preview.get("chapter/one.html"):  # rendered again once the run ended
        assert time.monotonic() < deadline, "the page never showed the new outputs"
        time.sleep(0.1)
    preview.close()


def test_waiting_for_output_that_came_before_the_address():
    """The start's run may end before the server prints its address: `anywhere` still finds its summary."""
    lines = PrintedLines(io.StringIO("4 notebook(s): 0 executed, 4 cached\nserve: http://127.0.0.1:1/\nserve: ran\n"))
    assert lines.wait_for(r"serve: (http://\S+)", 10).group(1) == "http://127.0.0.1:1/"
    with pytest.raises(AssertionError, match="no line matching '0 executed' in 0.2 s"):
        lines.wait_for(r"0 executed", 0.2)
    assert lines.wait_for(r"(\d+) executed", 1, anywhere=True).group(1) == "0"
    assert lines.wait_for(r"serve: ran", 1)  # the next line after the address, as before


@pytest.fixture
def served(tmp_path, filled_store):
    """(book, server): a fresh copy of the fixture book, served, its results already in the store."""
    book = copy_execute_book(tmp_path)
    cache = tmp_path / "cache"
    shutil.copytree(filled_store, cache)
    server = ServeProcess(book, cache)
    # The start's run (everything from the store) ends before or after the server prints its address.
    server.wait_for(r"notebook\(s\): 0 executed", 60, anywhere=True)
    server.wait_for(r"serve: ran ", 30, anywhere=True)
    yield book, server
    server.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 400})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def summary(book: Path) -> dict:
    rows = json.loads((book / "_build" / "eval" / "summary.json").read_text())["notebooks"]
    return {(row["source"], row["tab"]): row for row in rows}


@pytest.mark.browser
def test_a_prose_edit_appears_by_itself_and_executes_nothing(served, page):
    book, server = served
    before = (book / "_build" / "eval" / "summary.json").read_bytes()
    page.goto(server.url + "chapter/one.html")
    page.click(".tabbar .tab[data-tab='jax']")
    page.evaluate("document.body.style.minHeight = '3000px'; window.scrollTo(0, 300)")
    page.evaluate("window.notReloadedByHand = true")
    edit(book / "chapter" / "one.md", "Prose that the tests edit.", "Prose the author changed while looking.")
    page.wait_for_function("document.body.innerText.includes('Prose the author changed while looking.')", timeout=10_000)
    assert page.evaluate("window.notReloadedByHand") is None  # the page reloaded itself
    assert page.evaluate("document.documentElement.dataset.tab") == "jax"  # the framework stays chosen
    assert page.evaluate("window.scrollY") > 0  # and the place in the page is kept
    server.wait_for(r"serve: chapter/one.md changed: 1 page\(s\) rendered, 1 changed", 10)
    time.sleep(1)
    assert (book / "_build" / "eval" / "summary.json").read_bytes() == before  # nothing ran
    assert "executing" not in "".join(server.output[-5:])


@pytest.mark.browser
def test_a_code_edit_reruns_one_notebook_and_marks_old_outputs_stale(served, page):
    book, server = served
    page.goto(server.url + "chapter/one.html?tab=jax")
    assert "jax 4" in page.inner_text("body")
    edit(book / "chapter" / "one.md", 'print("jax", 2 + 2)', 'import time\ntime.sleep(1)\nprint("jax", 3 + 3)')
    page.wait_for_selector(".serve-stale-banner", timeout=10_000)
    assert page.evaluate("document.body.classList.contains('serve-stale')")
    shown = page.inner_text("body")
    assert "answer 42" in shown and "jax 4" in shown  # the previous outputs stay meanwhile, marked
    page.wait_for_function("document.body.innerText.includes('jax 6')", timeout=60_000)
    assert page.query_selector(".serve-stale-banner") is None
    rows = summary(book)
    executed = {key for key, row in rows.items() if not row["cached"] and row["executed_seconds"] is not None}
    assert executed == {("chapter/one.md", "jax")}, rows
    assert rows[("chapter/one.md", "pytorch")]["cached"]


@pytest.mark.browser
def test_a_broken_edit_shows_the_overlay_over_the_last_good_page(served, page):
    book, server = served
    two = book / "chapter" / "two.md"
    page.goto(server.url + "chapter/two.html")
    good = two.read_text()
    two.write_text(good.replace("More prose.", "More prose, see :numref:`sec_nowhere`."))
    overlay = page.wait_for_selector("#serve-problems", timeout=10_000)
    assert "chapter/two.md:3: :numref: refers to the undefined label 'sec_nowhere'" in overlay.inner_text()
    assert "More prose." in page.inner_text("article")  # the last good page underneath
    # a second problem in a new place: the overlay lists both
    two.write_text(good.replace("More prose.", "More prose, see :numref:`sec_nowhere`.\n\n![x](img/none.svg)\n:label:`fig_x`"))
    page.wait_for_function("document.querySelectorAll('#serve-problems li').length === 2", timeout=10_000)
    two.write_text(good.replace("More prose.", "Fixed prose."))
    page.wait_for_function("document.body.innerText.includes('Fixed prose.')", timeout=10_000)
    assert page.query_selector("#serve-problems") is None


@pytest.mark.browser
def test_a_failing_cell_shows_in_the_page(served, page):
    book, server = served
    page.goto(server.url + "chapter/two.html")
    edit(book / "chapter" / "two.md", "x = 6 * 7", "x = 6 * undefined_name")
    page.wait_for_function("document.body.innerText.includes(\"name 'undefined_name' is not defined\")", timeout=60_000)
    assert page.query_selector(".output.error")
    assert server.process.poll() is None


@pytest.mark.browser
def test_deleting_and_re_adding_a_file(served, page):
    book, server = served
    two = book / "chapter" / "two.md"
    text = two.read_text()
    page.goto(server.url + "chapter/one.html")
    two.unlink()
    overlay = page.wait_for_selector("#serve-problems", timeout=10_000)
    assert "index.md:8: toc entry 'chapter/two': no file chapter/two.md" in overlay.inner_text()
    two.write_text(text.replace("More prose.", "Prose of the file that came back."))
    page.wait_for_function("!document.getElementById('serve-problems')", timeout=10_000)
    page.goto(server.url + "chapter/two.html")
    assert "Prose of the file that came back." in page.inner_text("article")
    # taken out of the toc and deleted: the page is gone, and that is no problem
    page.goto(server.url + "chapter/one.html")
    edit(book / "index.md", "chapter/two\n", "")
    two.unlink()
    page.wait_for_function("!document.querySelector('nav.sidebar').innerText.includes('Two')", timeout=10_000)
    time.sleep(0.5)
    assert page.query_selector("#serve-problems") is None
    assert page.goto(server.url + "chapter/two.html").status == 404


@pytest.mark.browser
def test_ctrl_c_stops_the_server_and_its_kernels(tmp_path, filled_store, browser):
    book = copy_execute_book(tmp_path)
    cache = tmp_path / "cache"
    shutil.copytree(filled_store, cache)
    server = ServeProcess(book, cache, "--tabs", "pytorch")
    server.wait_for(r"serve: ran ", 60, anywhere=True)
    marker = tmp_path / "kernel.pid"
    edit(
        book / "chapter" / "two.md",
        "x = 6 * 7",
        f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)",
    )
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline and server.process.poll() is None, "the kernel never started the cell"
        time.sleep(0.1)
    kernel = int(marker.read_text())
    watching = browser.new_page()  # an open page holds its event stream: it must not keep the server up
    watching.goto(server.url + "chapter/two.html")
    start = time.monotonic()
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(30) == 0  # Ctrl-C is the normal end of a preview
    assert time.monotonic() - start < 15
    assert "serve: stopped" in "".join(server.output)
    assert process_gone(kernel), "a kernel outlived the server"
    watching.close()
    assert not (book / "_build" / "eval" / "pytorch" / "chapter" / "two.ipynb").exists()  # nothing half done kept


def test_a_busy_port_is_a_clear_error(numbering, tabbook):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = tabbook("serve", "--port", port, cwd=numbering, timeout=60)
    assert result.returncode == 1
    assert f"127.0.0.1:{port}: cannot serve there" in result.stderr
    assert "--port N" in result.stderr
