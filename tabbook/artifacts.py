"""The build's products and where they live: executed notebooks, PDFs, decks, downloads.

Why a module of its own: the HTML book links the PDFs and decks that
``tabbook pdf`` and ``tabbook slides`` wrote, the decks link back into the
book, and every view reads the executed notebooks. Each of them asks here
where a product is, so none of them needs another view's module.
"""

from __future__ import annotations

from pathlib import Path

NOTEBOOK_DIR = "notebooks"  # the site's folder of downloadable notebooks


def eval_path(config, tab: str, name: str) -> Path:
    """The executed notebook of page ``name`` (its notebook name) for ``tab``."""
    return config.build_dir / "eval" / tab / f"{name}.ipynb"


def pdf_path(config, tab: str) -> Path:
    return config.build_dir / "pdf" / f"{config.project['name']}-{tab}.pdf"


def deck_url(tab: str, page) -> str:
    """Where ``page``'s deck for ``tab`` sits in the HTML site (and, without ``slides/``, under ``_build/slides``)."""
    return f"slides/{tab}/{page.url}"


def zip_url(config, tab: str) -> str:
    """The site's zip of every notebook of ``tab``."""
    return f"{NOTEBOOK_DIR}/{config.project['name']}-{tab}.zip"


def printed_files(config) -> dict[str, bytes]:
    """The PDFs and slide decks built so far, as files of the HTML site (``pdf/``, ``slides/``)."""
    files = {}
    for folder in ("pdf", "slides"):
        base = config.build_dir / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            # the print documents are only the PDFs' sources; the decks' notebooks are for Jupyter
            if path.is_file() and not (folder == "pdf" and path.suffix != ".pdf"):
                files[f"{folder}/{path.relative_to(base).as_posix()}"] = path.read_bytes()
    return files


def print_links(config, page, available) -> list[tuple[str, str | None, str | None]]:
    """(tab, PDF url, deck url) for each tab with a PDF or a deck for ``page``, as site paths."""
    links = []
    for tab in config.tabs:
        pdf = f"pdf/{pdf_path(config, tab).name}"
        deck = deck_url(tab, page)
        pdf, deck = (pdf if pdf in available else None), (deck if deck in available else None)
        if pdf or deck:
            links.append((tab, pdf, deck))
    return links
