"""Notebooks for Jupyter readers: the executed notebooks, their text made plain Markdown.

A page of the book resolves the dialect's marks; a notebook opened in Jupyter
would otherwise show them raw (``:numref:`fig_mlp```, ``:label:``, ``:width:``).
Here every Markdown cell is written again from its ``Document`` cell: headings
carry their numbers, ``:numref:``/``:ref:`` become the numbered title (a link to
the published book when ``[publish] site_url`` is set), ``:cite:`` becomes
author-year text, ``:eqref:`` the equation's number (displays get ``\\tag``),
marks vanish, and figures travel inside the notebook as cell attachments, so a
single downloaded notebook shows them. Code cells and outputs are left as they
ran: this is a rendering of text cells only, and no cache key depends on it.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import re
from pathlib import Path

from tabbook.assets import css_length
from tabbook.book import Book, Page, raw_html
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write
from tabbook.notebooks import notebook_json
from tabbook.parse import Bibliography, Figure, Heading, Inline, Math, Prose, RawHtml, Reference, Table, Toc, walk

_MIME = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}


class ReaderNotebooks:
    """Rewrites the executed notebooks of a book (``tabbook.book``) for Jupyter readers."""

    def __init__(self, book: Book, site_url: str | None = None):
        self.book = book
        self.bibliography = book.bibliography
        self.site_url = site_url.rstrip("/") + "/" if site_url else None

    def notebook(self, page: Page, executed: dict) -> dict:
        """A copy of ``executed`` (a notebook of ``page``) with every Markdown cell made plain."""
        nb = copy.deepcopy(executed)
        cells = {cell.id: cell for cell in page.document.cells}
        for cell in nb.get("cells", []):
            if isinstance(cell.get("source"), list):  # as stored on disk: a list of lines
                cell["source"] = "".join(cell["source"])
            source = cells.get(cell.get("id"))
            if cell.get("cell_type") == "markdown" and source is not None and source.blocks:
                cell["source"], attachments = self.markdown(page, source)
                if attachments:
                    cell["attachments"] = attachments
        return nb

    def markdown(self, page: Page, cell) -> tuple[str, dict]:
        """(Markdown, attachments) of one text cell (a fenced div's content without its fences; no slides)."""
        return self.blocks_markdown(page, cell.blocks, {})

    def blocks_markdown(self, page: Page, blocks: list, attachments: dict) -> tuple[str, dict]:
        parts = []
        for block in walk(blocks):
            if isinstance(block, Prose):
                parts.append(self.text(page, block.inline))
            elif isinstance(block, Heading):
                target = page.target_of.get(block)  # none inside a d2l-neu slide: the book does not number those
                number = target.number_text if target else ""
                parts.append(f"{'#' * block.level} {number + ' ' if number else ''}{self.text(page, block.title)}")
            elif isinstance(block, Figure):
                parts.append(self.figure(page, block, attachments))
            elif isinstance(block, Table):
                target = page.target_of.get(block)
                caption = self.text(page, block.caption) if block.caption else ""
                prefix = f"Table {target.number_text}" if target and block.label else ""
                heading = f"**{prefix}{':' if prefix and caption else ''}** {caption}".strip() if prefix else caption
                parts.append(f"{heading}\n\n{self.text(page, block.body)}" if heading else self.text(page, block.body))
            elif isinstance(block, Toc):
                parts.append("\n".join(self.toc_entry(child) for child in page.toc_pages.get(block, [])))
            elif isinstance(block, RawHtml):
                parts.append(raw_html(page, block, self.book.config.root))
            elif isinstance(block, Bibliography):
                keys = sorted(self.book.cited_keys(), key=self.bibliography.sort_key)
                parts.append("\n".join(f"- {self.bibliography.reference_text(key)}" for key in keys))
        text = "\n\n".join(part.strip("\n") for part in parts if part.strip())
        return re.sub(r"\n{3,}", "\n\n", text), attachments

    def text(self, page: Page, inline: Inline) -> str:
        """Markdown with its roles resolved; math stays TeX for Jupyter, a labelled display gets its ``\\tag``."""

        def show(mark, source: str) -> str:
            if isinstance(mark, Reference):
                return self.role(mark)
            if isinstance(mark, Math) and mark.equation is not None:
                return f"$${mark.tex}\\tag{{{page.target(mark.equation).number_text}}}$$"
            return source

        return inline.replace(show)

    def role(self, reference: Reference) -> str:
        if reference.is_citation:
            known = [key for key in reference.targets if key in self.bibliography]
            return self.bibliography.cite_text(known, textual=reference.role == "citet")
        texts = []
        for label in reference.targets:
            target = self.book.labels.get(label)
            if target is None or (reference.role == "eqref" and target.kind != "equation"):
                texts.append("??")
                continue
            if reference.role == "ref" and target.kind == "section" and target.title is not None:
                text = self.text(target.page, target.title)
            else:
                text = target.name(bare_equation=reference.role == "eqref")
            texts.append(f"[{text}]({self.site_url}{target.link()})" if self.site_url and reference.role != "eqref" else text)
        return ", ".join(texts)

    def figure(self, page: Page, figure: Figure, attachments: dict) -> str:
        target = page.target_of.get(figure)  # none inside a d2l-neu slide
        caption = self.text(page, figure.caption)
        path = (page.source.parent / figure.path).resolve()
        mime = _MIME.get(path.suffix.lower())
        if mime and path.is_file():
            name = f"{len(attachments)}-{path.name}" if path.name in attachments else path.name
            data = path.read_bytes()
            # base64 for every type: Jupyter turns an attachment into a data: URL as it is stored
            attachments[name] = {mime: base64.b64encode(data).decode("ascii")}
            src = f"attachment:{name}"
        else:
            src = f"{self.site_url}{Path(page.url).parent.as_posix()}/{figure.path}" if self.site_url else figure.path
        alt = " ".join(figure.caption.text.split())
        width = (css_length(figure.width) or "").removesuffix("px")  # an unchecked width never reaches the markup
        image = f'<img src="{html.escape(src)}" alt="{html.escape(alt)}" width="{html.escape(width)}">' if width else f"![{alt}]({src})"
        return f"{image}\n\n**Figure {target.number_text}:** {caption}" if target else f"{image}\n\n{caption}"

    def toc_entry(self, child: Page) -> str:
        title = f"{child.number_text} {self.text(child, child.title)}".strip()
        return f"- [{title}]({self.site_url}{child.url})" if self.site_url else f"- {title}"


# -- the ``publish-notebooks`` command -----------------------------------------------------

_NOT_FOR_READERS = {"ipykernel", "pytest"}  # what the kernels need for us, not for a reader


def install_cell(config, tab: str, required_libs) -> dict | None:
    """A first code cell that installs what the notebook needs on Colab: the tab's pinned
    requirements, the section's own libraries, and the book's ``d2l`` from its repository."""
    packages = []
    spec = config.envs.get(tab)
    if spec is not None and spec.requirements and spec.requirements.is_file():
        for line in spec.requirements.read_text(encoding="utf-8").splitlines():
            requirement = line.split("#", 1)[0].strip()
            name = re.split(r"[=<>!~\[ ;]", requirement, maxsplit=1)[0].lower()
            if requirement and name not in _NOT_FOR_READERS:
                packages.append(requirement)
    packages += list(required_libs)
    publish = config.publish
    if publish.source_repo:
        packages.append(f"git+https://github.com/{publish.source_repo}@{publish.source_branch}")
    if not packages:
        return None
    quoted = " ".join(f'"{package}"' for package in packages)
    source = f"# Installs this notebook's requirements (on Colab or Studio Lab; skip it where they are installed)\n%pip install -q {quoted}"
    return {"cell_type": "code", "execution_count": None, "id": "install-requirements", "metadata": {"tags": ["install"]}, "outputs": [], "source": source}


# What publish-notebooks wrote into its folder last time (the files it may replace or remove).
PUBLISHED = ".tabbook-published.json"


def _published_before(out_dir: Path) -> set[str]:
    try:
        files = json.loads((out_dir / PUBLISHED).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    # Only notebooks inside the folder: the list is a file anyone could have edited.
    return {name for name in files if isinstance(name, str) and name.endswith(".ipynb") and not name.startswith("/") and ".." not in name.split("/")}


def _check_publish_folder(out_dir: Path, tabs, previous: set[str]) -> None:
    """``out_dir`` may take the notebooks: a folder (or none yet) whose ``<tab>/`` folders are empty
    or hold only what publish-notebooks wrote there before. Other files (.git, a README) are left alone."""
    if out_dir.exists() and not out_dir.is_dir():
        raise SourceError(out_dir, None, "is a file, not a folder; name a folder for the notebooks")
    for tab in tabs:
        folder = out_dir / tab
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise SourceError(folder, None, f"is not a folder, but publish-notebooks writes the {tab} notebooks there; move it away or name another folder")
        foreign = sorted(path.relative_to(out_dir).as_posix() for path in folder.rglob("*") if not path.is_dir()) if folder.is_dir() else []
        foreign = [name for name in foreign if name not in previous]
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise SourceError(
                folder, None,
                f"holds files publish-notebooks did not write ({shown}); name an empty folder, or the folder it wrote before",
            )  # fmt: skip


def publish_notebooks(config, book: Book, out_dir: Path) -> int:
    """Write ``out_dir/<tab>/<name>.ipynb``: every executed notebook, for readers, with an install cell.

    The folder must be new, empty, or this command's earlier output (``PUBLISHED`` lists it): then
    notebooks no page makes any more are removed, and nothing else in the folder is touched."""
    out_dir = Path(out_dir)
    previous = _published_before(out_dir)
    _check_publish_folder(out_dir, config.tabs, previous)
    reader = ReaderNotebooks(book, config.publish.site_url)
    planned = [
        (page, tab, config.build_dir / "eval" / tab / f"{page.name}.ipynb")
        for page in book.pages
        for tab in config.tabs
        if (config.build_dir / "eval" / tab / f"{page.name}.ipynb").is_file()
    ]
    names = [f"{tab}/{page.name}.ipynb" for page, tab, _path in planned]
    try:
        # Listed before they are written: a publish cut short can be repeated into the same folder.
        atomic_write(out_dir / PUBLISHED, json.dumps({"files": sorted(previous | set(names))}, indent=1) + "\n")
        for (page, tab, path), name in zip(planned, names, strict=True):
            nb = reader.notebook(page, json.loads(path.read_text(encoding="utf-8")))
            install = install_cell(config, tab, nb["metadata"].get("tabbook", {}).get("required_libs", []))
            if install and any(cell.get("cell_type") == "code" for cell in nb["cells"]):
                nb["cells"].insert(0, install)
            atomic_write(out_dir / name, notebook_json(nb))
        for stale in sorted(previous - set(names)):
            (out_dir / stale).unlink(missing_ok=True)
        atomic_write(out_dir / PUBLISHED, json.dumps({"files": sorted(names)}, indent=1) + "\n")
    except OSError as exc:
        raise SourceError(out_dir, None, f"could not write the notebooks ({exc.filename or ''}: {exc.strerror or exc})") from None
    return len(names)
