"""No traceback for any input, and nothing lost (issue 22): each case is a message with its place and exit 1,
and what the author had is still there afterwards."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tabbook import cli, render
from tabbook.errors import SourceError

REPO = Path(__file__).resolve().parents[2]
HTML_FIXTURE = REPO / "tests" / "fixtures" / "html"

pytestmark = pytest.mark.timeout(300)


def _make_book():
    spec = importlib.util.spec_from_file_location("html_fixture_make_book", HTML_FIXTURE / "make_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_book


@pytest.fixture
def built(tmp_path):
    """The HTML fixture book with its executed notebooks (made in-process, no kernel)."""
    return _make_book()(tmp_path / "book", HTML_FIXTURE)


def tabbook(*args, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "tabbook", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr


# -- the site's staging folders and a full disk ------------------------------------------------


def test_a_staging_folder_left_by_a_killed_build_is_removed_by_the_next(built):
    parent = built.build_dir
    parent.mkdir(parents=True, exist_ok=True)
    leftover = parent / ".html-k1ll3d"  # what SIGTERM during `html` leaves: a half-written site
    (leftover / "chapter_demo").mkdir(parents=True)
    (leftover / "chapter_demo" / "first.html").write_text("<p>half")
    (leftover / ".tabbook-building").write_text("")  # its build held the lock, and died
    set_aside = parent / ".html-old-999999999"  # the previous site, moved aside by a build killed while swapping
    set_aside.mkdir()
    cli.html(built, run=False)
    assert not leftover.exists() and not set_aside.exists()
    assert sorted(path.name for path in parent.iterdir() if path.name.startswith(".html")) == []
    assert (parent / "html" / "index.html").is_file()


def test_a_running_build_s_staging_folder_is_left_alone(built):
    import fcntl

    parent = built.build_dir
    running = parent / ".html-running"
    running.mkdir(parents=True)
    with open(running / ".tabbook-building", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another build, still writing
        cli.html(built, run=False)
        assert running.is_dir()
    cli.html(built, run=False)  # ... and once it is gone, its folder goes too
    assert not running.exists()


def test_a_full_disk_while_writing_the_site_is_a_message_and_the_previous_site_stays(built, monkeypatch, capsys):
    cli.html(built, run=False)
    page = built.build_dir / "html" / "chapter_demo" / "first.html"
    before = page.read_bytes()
    written = []

    def full_disk(path, data, *args, **kwargs):
        written.append(path)
        if len(written) > 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_write(path, data, *args, **kwargs)

    real_write = render.atomic_write
    monkeypatch.setattr(render, "atomic_write", full_disk)
    with pytest.raises(SourceError) as error:
        cli.html(built, run=False)
    assert "could not write the site" in error.value.message and "No space left on device" in error.value.message
    assert "the previous site is kept" in error.value.message and str(written[-1]) in error.value.message
    assert page.read_bytes() == before
    assert [path.name for path in built.build_dir.iterdir() if path.name.startswith(".html")] == []


# -- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_serve_with_a_port_out_of_range_is_a_message(built, port):
    result = tabbook("serve", "--port", port, cwd=built.root)
    assert result.returncode == 1
    assert f"--port: {port} is not a port; use 1 to 65535, or 0 for a free one" in result.stderr
    no_traceback(result)


def test_a_build_dir_that_cannot_be_written_is_a_message(built):
    blocker = built.root / "a-file"
    blocker.write_text("not a folder")
    result = tabbook("html", "--no-run", "--build-dir", blocker / "build", cwd=built.root)
    assert result.returncode == 1
    assert f"--build-dir: {blocker / 'build'}: cannot write there (Not a directory)" in result.stderr
    no_traceback(result)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(built):
    """A crafted failure (the site's renderer raises): one line naming the command, exit 2."""
    script = (
        "import sys; from tabbook import cli, render\n"
        "def broken(*args, **kwargs): raise RuntimeError('crafted failure')\n"
        "render.Site.render = broken\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    plain = subprocess.run([sys.executable, "-c", script, "html", "--no-run"], cwd=built.root, env=env, capture_output=True, text=True, timeout=240)
    assert plain.returncode == 2
    [line] = [line for line in plain.stderr.splitlines() if "internal error" in line]
    assert line.startswith("tabbook html: internal error (RuntimeError: crafted failure)") and "--debug" in line
    assert "Traceback" not in plain.stderr
    debug = subprocess.run([sys.executable, "-c", script, "--debug", "html", "--no-run"], cwd=built.root, env=env, capture_output=True, text=True, timeout=240)
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "crafted failure" in debug.stderr


# -- publish-notebooks ---------------------------------------------------------------------------


def _publish(built, out) -> subprocess.CompletedProcess:
    return tabbook("publish-notebooks", "--no-run", out, cwd=built.root)


def test_publish_notebooks_into_a_file_is_a_message(built, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    result = _publish(built, target)
    assert result.returncode == 1 and f"{target}: is a file, not a folder" in result.stderr
    assert target.read_text() == "mine"
    no_traceback(result)


def test_publish_notebooks_where_a_tab_folder_is_a_file_is_a_message(built, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "pytorch").write_text("mine")
    result = _publish(built, out)
    assert result.returncode == 1 and f"{out / 'pytorch'}: is not a folder" in result.stderr
    assert (out / "pytorch").read_text() == "mine"
    no_traceback(result)


def test_publish_notebooks_never_writes_over_files_it_did_not_write(built, tmp_path):
    out = tmp_path / "out"
    (out / "pytorch").mkdir(parents=True)
    (out / "pytorch" / "notes.md").write_text("mine")
    result = _publish(built, out)
    assert result.returncode == 1 and "holds files publish-notebooks did not write (pytorch/notes.md)" in result.stderr
    assert sorted(path.name for path in out.rglob("*")) == ["notes.md", "pytorch"]


def test_publish_notebooks_replaces_its_own_output_and_removes_what_no_page_makes(built, tmp_path):
    out = tmp_path / "out"
    (out / ".git").mkdir(parents=True)  # a clone of the notebooks repository: its own files stay
    (out / "README.md").write_text("the notebooks")
    first = _publish(built, out)
    assert first.returncode == 0, first.stderr
    published = sorted(path.relative_to(out).as_posix() for path in out.rglob("*.ipynb"))
    assert "pytorch/chapter_demo/first.ipynb" in published
    # A notebook is no longer made (its executed notebook is gone): the next publish into the same
    # folder removes it, and only it.
    (built.build_dir / "eval" / "jax" / "chapter_demo" / "first.ipynb").unlink()
    second = _publish(built, out)
    assert second.returncode == 0, second.stderr
    now = sorted(path.relative_to(out).as_posix() for path in out.rglob("*.ipynb"))
    assert now == [name for name in published if name != "jax/chapter_demo/first.ipynb"] and len(now) == len(published) - 1
    assert (out / "README.md").read_text() == "the notebooks" and (out / ".git").is_dir()
    assert json.loads((out / ".tabbook-published.json").read_text())["files"] == now


def test_an_environment_whose_requirements_file_is_missing_is_a_message(tmp_path):
    """``[env-*] requirements`` naming a missing file ended `make setup` and `run` in a traceback."""
    (tmp_path / "config.ini").write_text(
        "[project]\ntitle = T\n[build]\ntabs = pytorch\nchapters = *.md\n"
        "[env-tool]\nrequirements = tool.txt\n[env-pytorch]\nkernel = d2l-pytorch\nrequirements = nothere.txt\n",
        encoding="utf-8",
    )
    (tmp_path / "tool.txt").write_text("pytest\n", encoding="utf-8")
    (tmp_path / "index.md").write_text("# Book\n\n```{.python .input}\nprint(1)\n```\n", encoding="utf-8")
    for args in (["-m", "tabbook.envs", "pytorch"], ["-m", "tabbook", "run"]):
        result = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
        assert result.returncode == 1, result.stdout + result.stderr
        assert "nothere.txt" in result.stderr and "[env-pytorch]" in result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
