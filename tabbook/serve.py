"""The author's loop: ``tabbook serve``, a live preview that rebuilds only what changed.

The site lives in memory (:class:`Preview`) and is served on 127.0.0.1 by
Starlette under uvicorn; ``watchfiles`` reports every saved file. A change
re-reads only the files whose content changed (``load_book(read=...)`` with
:class:`DocumentCache`), then re-renders:

- the changed pages;
- the pages whose references point at a label whose number, title or place changed;
- every page when the book's shape changed (a page's number or title is in every sidebar),
  when ``config.ini`` or the tool's ``static/`` changed;
- the pages with citations when the bibliography changed.

The edited pages are rendered and published first; on a big book, a save that
comes while the other pages are being rendered cuts that pass short (one
thread makes the passes; :meth:`Preview.changed` feeds it).

Pages are rendered from the executed notebooks as they are
(:class:`PreviewSite`: ``Site(from_cache=True)``, where a changed code cell
keeps the outputs of the cell it replaced). A page whose notebooks are stale
(its code changed, or never ran) is queued for :class:`NotebookRunner`, which
runs ``run_book`` on that file in the background; until it finishes the page
is marked stale, and then it is rendered again with the new outputs. A change
under the book's ``d2l/`` queues every page (``run_book`` executes only the
notebooks whose key changed).

Open pages hold a server-sent event stream (``/_serve/events``, read by
``tabbook/static/js/serve.js``): a page whose HTML changed reloads itself, keeping its
scroll position (and the framework tab, which ``tabbook.js`` remembers). The
book's problems (``FILE:LINE: message``) show as an overlay. A change that
brings a new problem leaves every page as it was last rendered (the last good
page stays underneath); problems the book already had when the preview last
rendered do not hold edits back (their references show as ``??``). Nothing
that a bad edit does stops the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import mimetypes
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tabbook import assets, search
from tabbook.book import load_book
from tabbook.config import load_config
from tabbook.errors import SourceError, SourceErrors
from tabbook.execute import run_book
from tabbook.parse import Bibliography, read_document, walk
from tabbook.render import Site

STATIC = assets.STATIC  # the tool's own templates, CSS and JS
# The tool's own files that every page is made with: a change re-renders every page.
TOOL_FILES = (STATIC / "css", STATIC / "js", STATIC / "templates")
EVENTS = "/_serve/events"


class DocumentCache:
    """``read(path)`` for ``load_book``: a file's Document, re-parsed only when its content changed."""

    def __init__(self, config):
        self.config = config
        self.documents: dict[tuple[Path, str], object] = {}

    def read(self, path: Path):
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            digest = ""  # read_document reports it
        key = (Path(path), digest)
        if key not in self.documents:
            # one Document per file: the old one's entry goes
            for old in [old for old in self.documents if old[0] == key[0]]:
                del self.documents[old]
            self.documents[key] = read_document(self.config, path, collect=True)
        return self.documents[key]


@dataclass
class Update:
    """What one pass did: printed in the terminal, read by the tests and the benchmark."""

    reason: str
    rendered: list[str] = field(default_factory=list)  # pages rendered again
    updated: list[str] = field(default_factory=list)  # pages whose HTML changed (their browsers reload)
    queued: list[str] = field(default_factory=list)  # sources queued to run
    errors: int = 0
    held: bool = False  # a new problem: every page kept as it was
    seconds: float = 0.0

    def line(self) -> str:
        if self.held:
            return f"serve: {self.reason}: {self.errors} problem(s), shown in the browser; pages kept as they were"
        text = f"serve: {self.reason}: {len(self.rendered)} page(s) rendered, {len(self.updated)} changed in {self.seconds:.2f} s"
        if self.queued:
            text += f"; running {', '.join(self.queued)}"
        if self.errors:
            text += f"; {self.errors} problem(s), shown in the browser"
        return text


class Preview:
    """The served site, in memory, kept up to date with the book's sources.

    ``files`` maps each URL path (``chapter/x.html``) to its content; ``versions``
    counts the changes of each page. ``listeners`` are called (from any thread)
    with :meth:`state` whenever pages or problems change.
    """

    def __init__(self, root: Path, tabs=None, run: bool = True, out=None):
        self.root = Path(root).resolve()
        self.run_tabs = list(tabs) if tabs else None
        self.run = run
        self.out = out or sys.stdout
        self.lock = threading.RLock()
        self.listeners: list = []
        self.files: dict[str, bytes] = {}
        self.versions: dict[str, int] = {}
        self.errors: list[SourceError] = []
        self.accepted: set[tuple[str, str]] = set()  # problems the last rendered book had
        self.config = None
        self.book = None
        self.site = None
        self.cache = None
        self.interrupt = threading.Event()  # set when a change waits for the pass under way
        self._changes = threading.Condition()
        self._pending: tuple[set, set] = (set(), set())  # changed paths, page rels to render again
        self._worker: threading.Thread | None = None
        self._closing = False
        self._raw: dict[str, tuple[str, bool, str]] = {}  # url -> (rendered HTML, outputs of older code, mark)
        self._search: dict[str, list] = {}
        self._rendered_docs: dict[str, object] = {}  # rel -> the Document its page was rendered from
        self._shape = None
        self._targets: dict = {}
        self._bib_digest = ""
        self._citations: list = []  # every citation of the book, as last rendered
        self._queued_docs: dict[str, object] = {}  # rel -> the Document last queued to run
        self.runner = NotebookRunner(self)
        self.history: list[Update] = []
        self._owed_paths: set[Path] = set()
        self._owed_forced: set[str] = set()
        self._owed_everything = False
        self._snippet = None  # tabbook/static/templates/serve.html, what every served page gets

    # -- state for the browsers --------------------------------------------------

    def state(self) -> dict:
        return {
            "errors": [{"where": _where(error), "message": error.message} for error in self.errors],
            "versions": dict(self.versions),
        }

    def _publish(self) -> None:
        state = self.state()
        for listener in list(self.listeners):
            listener(state)

    # -- passes ------------------------------------------------------------------

    def build(self) -> Update:
        """The first build: every page."""
        return self.update(set(), reason="start", everything=True)

    def changed(self, paths=(), forced=()) -> None:
        """Note a change (from any thread; returns at once). One thread makes the passes,
        each taking every change noted so far; a change that comes during a long pass
        (every page of a big book) cuts it short, and the rest is done after it."""
        with self._changes:
            self._pending[0].update(map(Path, paths))
            self._pending[1].update(forced)
            self.interrupt.set()
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="tabbook-serve-update", daemon=True)
                self._worker.start()
            self._changes.notify()

    def _work(self) -> None:
        while True:
            with self._changes:
                while not any(self._pending) and not self._closing:
                    self._changes.wait()
                if self._closing:
                    return
                (paths, forced), self._pending = self._pending, (set(), set())
                self.interrupt.clear()
            reason = _describe(paths, self.root) if paths else f"ran {', '.join(sorted(forced))}"
            self.update(paths, reason=reason, forced=forced)

    def close(self) -> None:
        """Stop the passes and the notebooks' runs (their kernels are shut down)."""
        with self._changes:
            self._closing = True
            self._changes.notify_all()
        self.runner.close()

    def update(self, paths=(), reason: str = "", everything: bool = False, forced=()) -> Update:
        """Bring the site up to date after ``paths`` changed (``forced``: page rels to render again)."""
        with self.lock:
            started = time.perf_counter()
            update = Update(reason or _describe(paths, self.root))
            try:
                self._update(set(map(Path, paths)), everything, set(forced), update)
            except SourceError as exc:
                self._hold(exc.errors if isinstance(exc, SourceErrors) else [exc], update)
            except Exception as exc:  # a bug of ours must not end the preview: show it
                text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                print(traceback.format_exc(), file=self.out)
                self._hold([SourceError("tabbook serve", None, f"internal error while rebuilding: {text}")], update)
            update.seconds = time.perf_counter() - started
            self.history.append(update)
            print(update.line(), file=self.out, flush=True)
        return update

    def _hold(self, errors: list[SourceError], update: Update) -> None:
        self.errors = sorted(errors, key=lambda error: (error.path, error.line or 0))
        update.held, update.errors = True, len(self.errors)
        self._publish()

    def _update(self, paths: set[Path], everything: bool, forced: set[str], update: Update) -> None:
        # What a pass held back by a problem had to do is done by the next one.
        paths |= self._owed_paths
        forced |= self._owed_forced
        everything = everything or self._owed_everything
        self._owed_paths, self._owed_forced, self._owed_everything = paths, forced, everything
        if self.config is None or self.root / "config.ini" in paths or any(path.is_relative_to(tool) for path in paths for tool in TOOL_FILES):
            self.config = load_config(self.root)
            self.cache = DocumentCache(self.config)
            everything = True
        config = self.config
        library = (config.root / config.library_package).resolve()
        if any(path.is_relative_to(library) for path in paths):
            self._queue_all()
        book = load_book(config, read=self.cache.read, typeset=True)
        new = [error for error in book.errors if (error.path, error.message) not in self.accepted]
        if new and self.book is not None:
            self._hold(book.errors, update)
            return
        if everything or self.site is None:
            site = PreviewSite(config, book, from_cache=True, keep_going=True)
        else:
            site = self.site.for_book(book)  # compiled templates and Markdown's caches outlive a pass
        bib_digest = _digest(config.bibfile)
        if bib_digest == self._bib_digest and self.site is not None:
            book.bibliography = self.site.book.bibliography  # and its formatted references, while the file is the same
        shape = [(page.url, page.number, page.title) for page in book.pages]
        targets = {label: (t.kind, t.number, t.page.url, t.anchor, t.title and t.title.text) for label, t in book.labels.items()}
        changed_labels = {label for label in targets.keys() | self._targets.keys() if targets.get(label) != self._targets.get(label)}
        # a References page (an eval_rst bibliography) lists every citation of the book with back-links
        citations = sorted((c.page.rel, c.line, c.key) for c in book.citations)
        cited_changed = citations != self._citations or bib_digest != self._bib_digest
        pages = []
        for page in book.pages:
            refs = page.document.references
            if (
                everything
                or shape != self._shape
                or page.rel in forced
                or self._rendered_docs.get(page.rel) is not page.document
                or any(not ref.is_citation and set(ref.targets) & changed_labels for ref in refs)
                or (bib_digest != self._bib_digest and any(ref.is_citation for ref in refs))
                or (cited_changed and _has_bibliography(page))
                or any(_under(page, path) for path in paths if path.suffix != ".md")
            ):
                pages.append(page)
        # the changed pages first: their browsers are the ones waiting
        first = [page for page in pages if self._rendered_docs.get(page.rel) is not page.document]
        rest = [page for page in pages if page not in first]
        self.book, self.site = book, site
        self.errors = list(book.errors)
        self.accepted = {(error.path, error.message) for error in book.errors}
        update.errors = len(self.errors)
        if everything:
            for name, data in assets.site_files().items():
                self.files[name] = _bytes(data)
            self.files["_static/serve.js"] = (STATIC / "js" / "serve.js").read_bytes()
            self.files["_static/serve.css"] = (STATIC / "css" / "serve.css").read_bytes()
            self._snippet = _snippet_template()
        if everything or any(path.suffix != ".md" for path in paths) or any(p.document.figures or p.document.images for p in first):
            for name, data in site.figure_files().items():
                self.files[name] = data
        index = {page.rel: number for number, page in enumerate(book.pages)}
        rendered = []
        for batch in (first, rest):
            for page in batch:
                if batch is rest and self.interrupt.is_set():
                    break  # a newer change waits: it is done first, these pages by the next pass
                self._render(page, index[page.rel], update)
                rendered.append(page)
            self._search_index()
            self.files[assets.MATH_FONT_URL] = assets.math_font(html for html, _old, _mark in self._raw.values())
            self._publish()
        # pages no longer in the book are no longer served
        urls = {page.url for page in book.pages}
        for url in [url for url in self._raw if url not in urls]:
            for store in (self._raw, self._search, self.versions, self.files):
                store.pop(url, None)
        self._rendered_docs = {page.rel: page.document for page in book.pages}
        self._shape, self._targets, self._bib_digest, self._citations = shape, targets, bib_digest, citations
        self._owed_paths, self._owed_everything = set(), False
        self._owed_forced = {page.rel for page in rest if page not in rendered}
        self._queue_stale(site, rendered, update)
        self._publish()

    def _render(self, page, number: int, update: Update) -> None:
        stale_before = len(self.site.stale)
        html = self.site.render_page(page, number)
        update.rendered.append(page.rel)
        self._search[page.url] = search.page_entries(self.book, page, self.site.markdown)
        self._set_page(page, html, len(self.site.stale) > stale_before, update)

    def _set_page(self, page, html: str, old_outputs: bool, update: Update | None) -> None:
        """Serve ``html`` for ``page``, marked while its notebooks run or when it shows outputs of older code."""
        mark = "running" if page.rel in self.runner.busy() else "old" if old_outputs else ""
        url = page.url
        if self._raw.get(url) == (html, old_outputs, mark) and url in self.files:
            return
        self._raw[url] = (html, old_outputs, mark)
        self.versions[url] = self.versions.get(url, 0) + 1
        self.files[url] = _inject(self._snippet, html, url, self.versions[url], mark).encode("utf-8")
        if update is not None:
            update.updated.append(url)

    def _search_index(self) -> None:
        entries = [entry for page in self.book.pages for entry in self._search.get(page.url, [])]
        self.files["_static/searchindex.js"] = search.search_index(entries).encode()

    # -- notebooks ---------------------------------------------------------------

    def _may_run(self) -> bool:
        return self.run and self.config.eval_notebook

    def _queue_stale(self, site, pages, update: Update) -> None:
        """Queue the pages whose notebooks are older than their code (or missing)."""
        if not self._may_run():
            return
        tabs = self.run_tabs or list(self.config.tabs)
        stale = {entry for entry in site.stale + site.unexecuted if entry.split("/", 1)[0] in tabs}
        for page in pages:
            if self._queued_docs.get(page.rel) is page.document:
                continue  # already run (or running) for this very content: never loop on a failure
            if any(f"{tab}/{page.name}" in stale for tab in tabs):
                self._queued_docs[page.rel] = page.document
                update.queued.append(page.rel)
        if update.queued:
            self.runner.submit([self.root / rel for rel in update.queued])
            self.mark_stale()

    def _queue_all(self) -> None:
        if self._may_run() and self.book is not None:
            self.runner.submit([page.source for page in self.book.pages])
            self.mark_stale()

    def mark_stale(self) -> None:
        """Mark (or unmark) the pages whose notebooks are queued or running."""
        with self.lock:
            if self.book is None:
                return
            before = dict(self.versions)
            for page in self.book.pages:
                if page.url in self._raw:
                    html, old_outputs, _mark = self._raw[page.url]
                    self._set_page(page, html, old_outputs, None)
            if self.versions != before:
                self._publish()

    def ran(self, rels: list[str]) -> None:
        """A run ended: render its pages again with their new outputs."""
        self.changed(forced=rels)

    # -- serving -----------------------------------------------------------------

    def get(self, path: str) -> bytes | None:
        """The content at a URL path of the site (None: there is none)."""
        path = path.lstrip("/")
        if path == "" or path.endswith("/"):
            path += "index.html"
        data = self.files.get(path)
        if data is None and path.startswith("notebooks/") and self.site is not None:
            data = self._notebook_file(path)
        return data

    def _notebook_file(self, path: str) -> bytes | None:
        """A notebook to download, from ``_build/eval`` as it is now; the zips are made when asked for."""
        if path.endswith(".zip"):
            return self.site.notebook_files().get(path)
        local = (self.site.eval_dir / path[len("notebooks/") :]).resolve()
        if local.is_relative_to(self.site.eval_dir.resolve()) and local.suffix == ".ipynb" and local.is_file():
            return local.read_bytes()
        return None

    def watched(self) -> list[Path]:
        """The book's root (chapters, config.ini, bibliography, d2l/) and the tool's static files."""
        paths = [self.root]
        if not STATIC.is_relative_to(self.root):
            paths.append(STATIC)
        bib = Path(self.config.bibfile).resolve() if self.config else None
        if bib is not None and not bib.is_relative_to(self.root):
            paths.append(bib.parent)
        return paths

    def ignored(self, path: Path) -> bool:
        """Files the preview itself writes (``_build``), environments, editors' and git's own."""
        build = self.config.build_dir.resolve() if self.config else self.root / "_build"
        parts = set(path.relative_to(self.root).parts) if path.is_relative_to(self.root) else set()
        return path.is_relative_to(build) or bool(parts & {".venv", ".git", "__pycache__", ".ipynb_checkpoints", ".pytest_cache"})


def _has_bibliography(page) -> bool:
    return any(isinstance(block, Bibliography) for cell in page.document.cells for block in walk(cell.blocks))


class PreviewSite(Site):
    """The site as the preview renders it: a code cell changed since its notebook
    ran keeps that run's outputs (the page marks them stale) instead of none."""

    def outputs_of(self, page):
        outputs = super().outputs_of(page)
        for tab, cells in outputs.items():
            if f"{tab}/{page.name}" in self.stale:
                _keep_old_outputs(self.eval_dir / tab / f"{page.name}.ipynb", cells)
        return outputs


def _keep_old_outputs(executed_path: Path, cells: dict) -> None:
    """Give each changed code cell the outputs of the executed cell it replaced.

    The executed cell a changed one replaced is the one in the same place
    among the code cells that no longer exist; when cells were added or
    removed there is no such pairing, and changed cells stay without outputs.
    """
    executed = json.loads(executed_path.read_text(encoding="utf-8"))
    old = [cell for cell in executed.get("cells", []) if cell.get("cell_type") == "code"]
    new = [cell for cell in cells.values() if cell.get("cell_type") == "code"]
    if len(old) != len(new):
        return
    old_ids, new_ids = {cell.get("id") for cell in old}, {cell.get("id") for cell in new}
    for before, now in zip(old, new, strict=True):
        if now.get("id") not in old_ids and before.get("id") not in new_ids:
            now["outputs"] = before.get("outputs", [])


def _where(error: SourceError) -> str:
    return error.path if error.line is None else f"{error.path}:{error.line}"


def _describe(paths, root: Path) -> str:
    # an editor's temporary file, already gone, is not worth naming
    paths = [path for path in map(Path, paths) if path.exists() or path.suffix]
    names = sorted(path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path) for path in paths)
    if len(names) > 3:
        return f"{', '.join(names[:3])} and {len(names) - 3} more changed"
    return f"{', '.join(names)} changed" if names else "update"


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _bytes(data) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def _under(page, path: Path) -> bool:
    """Whether ``page`` shows the file at ``path`` (a figure or image)."""
    names = [figure.path for figure in page.document.figures] + [name for name, _line in page.document.images]
    return any((page.source.parent / name).resolve() == path for name in names)


def _snippet_template():
    return assets.templates().get_template("serve.html")


def _inject(template, html: str, url: str, version: int, stale: str) -> str:
    """The page as served: the preview's script, and the stale mark ("running", "old" or "")."""
    root = "../" * url.count("/")
    snippet = template.render(root=root, url=url, version=version, stale=stale)
    at = html.rfind("</body>")
    return html[:at] + snippet + html[at:] if at >= 0 else html + snippet


class NotebookRunner:
    """Runs the queued sources' notebooks in one background thread, one ``run_book`` at a time."""

    def __init__(self, preview: Preview):
        self.preview = preview
        self.condition = threading.Condition()
        self.pending: list[Path] = []
        self.running: list[Path] = []
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.runs = 0  # run_book calls finished (the tests wait on it)

    def busy(self) -> set[str]:
        """The page rels queued or running."""
        with self.condition:
            paths = self.pending + self.running
        root = self.preview.root
        return {path.resolve().relative_to(root).as_posix() for path in paths if path.resolve().is_relative_to(root)}

    def submit(self, paths) -> None:
        with self.condition:
            for path in paths:
                if path not in self.pending:
                    self.pending.append(path)
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="tabbook-serve-run", daemon=True)
                self.thread.start()
            self.condition.notify()

    def _loop(self) -> None:
        preview = self.preview
        while not self.stop.is_set():
            with self.condition:
                while not self.pending and not self.stop.is_set():
                    self.condition.wait()
                if self.stop.is_set():
                    return
                self.running, self.pending = [path for path in self.pending if path.is_file()], []
            if self.running:
                try:
                    run_book(preview.config, files=self.running, tabs=preview.run_tabs, out=preview.out, stop=self.stop)
                except KeyboardInterrupt:
                    return  # stopped: the kernels are shut down
                except Exception:  # a bad edit between planning and running, a kernel problem: shown, not fatal
                    print(traceback.format_exc(), file=preview.out, flush=True)
            done = [path.relative_to(preview.root).as_posix() for path in self.running]
            with self.condition:
                self.running = []
                self.runs += 1
                self.condition.notify_all()
            if done:
                preview.ran(done)

    def close(self, timeout: float = 30) -> None:
        """Stop: interrupt a run (its kernels are shut down) and wait for the thread."""
        self.stop.set()
        with self.condition:
            self.condition.notify_all()
        if self.thread is not None:
            self.thread.join(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or running (tests)."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while self.pending or self.running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.condition.wait(left)
        return True


# -- the server ---------------------------------------------------------------------


def make_app(preview: Preview, should_exit=lambda: False):
    """The Starlette app: the site from memory, and the event stream of changes."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    clients: set[asyncio.Queue] = set()
    loop_box: list = []

    def broadcast(state: dict) -> None:
        if not loop_box:
            return
        loop = loop_box[0]
        for queue in list(clients):
            loop.call_soon_threadsafe(queue.put_nowait, state)

    preview.listeners.append(broadcast)

    async def events(request: Request):
        if not loop_box:
            loop_box.append(asyncio.get_running_loop())
        queue: asyncio.Queue = asyncio.Queue()
        clients.add(queue)
        queue.put_nowait(preview.state())

        async def stream():
            try:
                while not should_exit():
                    try:
                        state = await asyncio.wait_for(queue.get(), timeout=0.5)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    while not queue.empty():  # only the newest state matters
                        state = queue.get_nowait()
                    yield f"data: {json.dumps(state)}\n\n"
            finally:
                clients.discard(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def page(request: Request):
        path = request.url.path
        data = preview.get(path)
        if data is None and not path.endswith("/") and preview.get(path + "/") is not None:
            data, path = preview.get(path + "/"), path + "/index.html"
        if data is None:
            return Response(f"not in the book: {path}", status_code=404, media_type="text/plain")
        if path.endswith("/"):
            path += "index.html"
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return Response(data, media_type=media_type, headers={"Cache-Control": "no-store"})

    app = Starlette(routes=[Route(EVENTS, events), Route("/{path:path}", page)])

    async def local_only(scope, receive, send):
        """Pages and the event stream only for ``Host: 127.0.0.1:PORT`` or ``localhost:PORT``: a web
        page whose own name was made to point at 127.0.0.1 (DNS rebinding) sends its own name."""
        if scope["type"] in ("http", "websocket") and not local_host(scope):
            refusal = Response("serve answers only Host 127.0.0.1:PORT or localhost:PORT", status_code=403, media_type="text/plain")
            await refusal(scope, receive, send)
            return
        await app(scope, receive, send)

    return local_only


def local_host(scope) -> bool:
    """Whether a request's ``Host`` header names this server as the preview's own address does."""
    host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").strip().lower()
    port = (scope.get("server") or (None, None))[1]
    allowed = {f"{name}:{port}" for name in ("127.0.0.1", "localhost")}
    if port == 80:  # a browser leaves out the default port
        allowed |= {"127.0.0.1", "localhost"}
    return host in allowed


async def _watch(preview: Preview, stop: asyncio.Event) -> None:
    """Every batch of saved files -> :meth:`Preview.changed` (the passes run in their own thread)."""
    from watchfiles import Change, DefaultFilter, awatch

    class BookFilter(DefaultFilter):
        def __call__(self, change: Change, path: str) -> bool:
            return super().__call__(change, path) and not preview.ignored(Path(path))

    async for changes in awatch(*preview.watched(), watch_filter=BookFilter(), stop_event=stop, debounce=400, step=30):
        preview.changed({Path(path).resolve() if Path(path).exists() else Path(path) for _change, path in changes})


def serve(root: Path, port: int = 8000, tabs=None, run: bool = True) -> int:
    """Build, serve on 127.0.0.1:``port``, and rebuild on every change until Ctrl-C."""
    import socket

    import uvicorn

    try:  # the port first: a busy one is a clear error before any work
        sock = socket.create_server(("127.0.0.1", port))
    except OSError as exc:
        raise SourceError(f"127.0.0.1:{port}", None, f"cannot serve there ({exc.strerror}); choose another port with --port N") from None
    preview = Preview(root, tabs=tabs, run=run)
    box: list = []
    app = make_app(preview, should_exit=lambda: bool(box) and box[0].should_exit)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, lifespan="off")
    server = uvicorn.Server(config)
    box.append(server)

    async def main() -> None:
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch(preview, stop))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            host, bound = sock.getsockname()[:2]
            print(f"serve: http://{host}:{bound}/ (Ctrl-C to stop)", flush=True)
        await serving
        stop.set()
        await watcher

    try:
        preview.build()
        asyncio.run(main())
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a preview ends: uvicorn raises it again once it has shut down
    finally:
        preview.close()  # interrupts a run: its kernels are shut down
        sock.close()
        print("serve: stopped", flush=True)
    return 0
