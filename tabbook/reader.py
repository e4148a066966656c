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
import json
import re
from pathlib import Path

from tabbook.markdown import replace_roles
from tabbook.parse import Bibliography, Figure, Heading, Prose, RawHtml, Table, Toc

_MIME = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}


class ReaderNotebooks:
    """Rewrites executed notebooks of a loaded book (``tabbook.book``) for Jupyter readers."""

    def __init__(self, book, citations, site_url: str | None = None):
        self.book = book
        self.citations = citations
        self.site_url = site_url.rstrip("/") + "/" if site_url else None

    def notebook(self, page, executed: dict) -> dict:
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

    def markdown(self, page, cell) -> tuple[str, dict]:
        """(Markdown, attachments) of one text cell."""
        parts, attachments = [], {}
        for block in cell.blocks:
            if isinstance(block, Prose):
                parts.append(self.prose(page, block))
            elif isinstance(block, Heading):
                number = page.target(block).number_text
                parts.append(f"{'#' * block.level} {number + ' ' if number else ''}{self.roles(page, block.title, block.line)}")
            elif isinstance(block, Figure):
                parts.append(self.figure(page, block, attachments))
            elif isinstance(block, Table):
                target = page.target_of.get(block)
                caption = self.roles(page, block.caption or "", block.line)
                prefix = f"Table {target.number_text}" if target and block.label else ""
                heading = f"**{prefix}{':' if prefix and caption else ''}** {caption}".strip() if prefix else caption
                parts.append(f"{heading}\n\n{self.roles(page, block.text, block.line)}" if heading else self.roles(page, block.text, block.line))
            elif isinstance(block, Toc):
                parts.append("\n".join(self.toc_entry(page, entry) for entry, _line in block.entries))
            elif isinstance(block, RawHtml):
                parts.append((page.source.parent / block.path).read_text(encoding="utf-8"))
            elif isinstance(block, Bibliography):
                keys = sorted({key for p in self.book.pages for r in p.document.references if r.role in ("cite", "citep", "citet") for key in r.targets if key in self.citations.entries}, key=self.citations.sort_key)
                parts.append("\n".join(f"- {self.citations.plain_reference(key)}" for key in keys))
        text = "\n\n".join(part.strip("\n") for part in parts if part.strip())
        return re.sub(r"\n{3,}", "\n\n", text), attachments

    def prose(self, page, block: Prose) -> str:
        lines = block.text.split("\n")
        for end_line, equation in block.equations.items():
            index = end_line - block.line
            number = page.target(equation).number_text
            head, sep, tail = lines[index].rpartition("$$")
            if sep:
                lines[index] = f"{head}\\tag{{{number}}}$$" + tail
        return self.roles(page, "\n".join(lines), block.line, block.code_lines)

    def roles(self, page, text: str, line: int, code_lines=frozenset()) -> str:
        return replace_roles(text, line, lambda role: self.role(page, role), code_lines)

    def role(self, page, role) -> str:
        if role.name in ("cite", "citep", "citet"):
            known = [key for key in role.targets if key in self.citations.entries]
            if role.name == "citet":
                return ", ".join(f"{self.citations.authors(k)} ({self.citations.year(k)})" for k in known)
            return "(" + "; ".join(f"{self.citations.authors(k)}, {self.citations.year(k)}" for k in known) + ")" if known else ""
        texts = []
        for label in role.targets:
            target = self.book.labels.get(label)
            if target is None:
                texts.append("??")
                continue
            text = target.title if role.name == "ref" and target.kind == "section" else target.name(bare_equation=role.name == "eqref")
            texts.append(f"[{text}]({self.site_url}{target.link()})" if self.site_url and role.name != "eqref" else text)
        return ", ".join(texts)

    def figure(self, page, figure: Figure, attachments: dict) -> str:
        target = page.target(figure)
        caption = self.roles(page, figure.caption, figure.line)
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
        alt = figure.caption.replace('"', "&quot;")
        width = (figure.width or "").removesuffix("px")
        image = f'<img src="{src}" alt="{alt}" width="{width}">' if width else f"![{figure.caption}]({src})"
        return f"{image}\n\n**Figure {target.number_text}:** {caption}"

    def toc_entry(self, page, entry: str) -> str:
        try:
            child = self.book.page_of(page.source.parent / f"{entry}.md")
        except KeyError:
            return f"- {entry}"
        title = f"{child.number_text} {child.title}".strip()
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


def publish_notebooks(config, out_dir: Path, run: bool = True) -> int:
    """Write ``out_dir/<tab>/<name>.ipynb``: every executed notebook, for readers, with an install cell."""
    from tabbook.book import load_book
    from tabbook.fileio import atomic_write
    from tabbook.notebooks import notebook_json
    from tabbook.render import Citations

    book = load_book(config)
    book.raise_errors()
    if run:
        from tabbook.execute import OK, run_book

        failed = [row for row in run_book(config) if row.get("status") != OK]
        if failed:
            from tabbook.errors import SourceError

            names = ", ".join(f"{row.get('tab')}/{row.get('name')}" for row in failed)
            raise SourceError(config.build_dir / "eval" / "summary.json", None, f"these notebooks failed, so nothing was published: {names}")
    reader = ReaderNotebooks(book, Citations(book.bibliography), config.publish.site_url)
    written = 0
    for page in book.pages:
        for tab in config.tabs:
            path = config.build_dir / "eval" / tab / f"{page.name}.ipynb"
            if not path.is_file():
                continue
            nb = reader.notebook(page, json.loads(path.read_text(encoding="utf-8")))
            install = install_cell(config, tab, nb["metadata"].get("tabbook", {}).get("required_libs", []))
            if install and any(cell.get("cell_type") == "code" for cell in nb["cells"]):
                nb["cells"].insert(0, install)
            atomic_write(out_dir / tab / f"{page.name}.ipynb", notebook_json(nb))
            written += 1
    return written


def add_arguments(parser) -> None:
    parser.add_argument("out", type=Path, metavar="DIR", help="where the notebook tree goes (the repository [publish] notebooks_repo names)")
    parser.add_argument("--no-run", action="store_true", help="publish what _build/eval holds; execute nothing")


def run_command(args) -> int:
    from tabbook.config import load_config

    config = load_config()
    written = publish_notebooks(config, args.out, run=not args.no_run)
    print(f"publish-notebooks: {written} notebooks under {args.out}")
    return 0
