"""The book's bibliography: a BibTeX file -> author-year citations and reference entries.

Why a module of its own: every view cites (the HTML pages, the print book,
reader notebooks, the References page), and all of them must say the same
thing about the same entry. pybtex reads the file and its plain style formats
entries; what reaches a page is escaped here, and links only go to ``http``,
``https`` or ``mailto`` addresses. Real bibliographies have entries the style
cannot format (an ``@InProceedings`` without ``booktitle``, an unknown entry
type): such an entry is shown as well as its fields allow, with a
``FILE:LINE`` warning naming it and what is missing, never a traceback.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from tabbook.errors import SourceError

SAFE_URL = re.compile(r"^(https?://|mailto:)[^\s\"'<>]+$", re.IGNORECASE)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_NOT_IN_A_LINK = re.compile(r"[\s\"'<>\x00-\x1f\x7f]")


def safe_url(url: str) -> str | None:
    """``url`` when a reader may follow it from the book (http, https, mailto), else None."""
    url = url.strip()
    return url if SAFE_URL.match(url) else None


def _backends():
    """pybtex's HTML and plain-text backends; the HTML one with escaped, checked links."""
    from pybtex.backends.html import Backend as HtmlBackend
    from pybtex.backends.plaintext import Backend as TextBackend

    class SafeHtml(HtmlBackend):
        def format_href(self, url, text, external=False):
            url = safe_url(url)
            if not text:
                return ""
            return f'<a href="{html.escape(url)}" rel="noopener">{text}</a>' if url else text

    return SafeHtml(), TextBackend()


def _style():
    # Plugins passed as classes: pybtex's lookup by name scans every installed
    # package's entry points, a third of a second each time.
    from pybtex.style.formatting.plain import Style
    from pybtex.style.labels.number import LabelStyle
    from pybtex.style.names.plain import NameStyle
    from pybtex.style.sorting.none import SortingStyle

    return Style(label_style=LabelStyle, name_style=NameStyle, sorting_style=SortingStyle)


class Bibliography:
    """The entries of one BibTeX file, and their citations and formatted references.

    ``entries`` maps each key to pybtex's entry; ``warnings`` collects
    ``FILE:LINE: warning:`` lines for entries formatted best-effort.
    """

    def __init__(self, path: Path | None, data=None, text: str = ""):
        self.path = path
        self.entries = data.entries if data is not None else {}
        self.text = text
        self.warnings: list[str] = []
        self._style = None
        self._backends = None
        self._formatted: dict[tuple[str, str], str] = {}

    @classmethod
    def load(cls, path: Path, needed: bool = True) -> Bibliography:
        """The file at ``path``, parsed. A missing file is an error only when the book cites something."""
        from pybtex.database.input.bibtex import Parser  # by class: pybtex's plugin lookup is slow
        from pybtex.exceptions import PybtexError

        path = Path(path)
        if not path.is_file():
            if not needed:
                return cls(None)
            raise SourceError(path, None, "the bibliography file ([html] bibfile in config.ini) does not exist, and the book cites from it")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(path, None, f"not UTF-8 ({exc.reason} at byte {exc.start}); save the bibliography as UTF-8") from None
        try:
            data = Parser().parse_string(text)
        except PybtexError as exc:
            raise SourceError(path, getattr(exc, "lineno", None), f"cannot read the bibliography: {exc}") from None
        return cls(path, data, text)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def link_problems(self, keys) -> list[SourceError]:
        """Each of the entries ``keys`` whose ``url`` or ``doi`` cannot be a link of the book:
        a scheme other than http, https or mailto (``javascript:``), or a quote, bracket, space or
        control character in it. ``FILE:LINE`` of the entry, with its key; the page shows no link."""
        problems = []
        for key in dict.fromkeys(keys):
            fields = self.entries[key].fields if key in self.entries else {}
            for name in ("url", "doi"):
                value = fields.get(name, "").strip()
                if not value:
                    continue
                scheme = _SCHEME.match(value)
                if name == "doi" and not value.lower().startswith("http"):
                    scheme = None  # a bare DOI (10.1000/xyz) becomes https://doi.org/10.1000/xyz
                if scheme and scheme.group(1).lower() not in ("http", "https", "mailto"):
                    why = f"has the scheme '{scheme.group(1)}:'; only http, https and mailto are linked"
                elif _NOT_IN_A_LINK.search(value):
                    why = "holds a quote, an angle bracket, a space or a control character"
                else:
                    continue
                problems.append(SourceError(self.path, self.line_of(key), f"the reference '{key}': its {name} {value!r} {why}"))
        return problems

    def line_of(self, key: str) -> int | None:
        """The line of ``@type{key,`` in the file."""
        match = re.search(r"@\w+\s*[{(]\s*" + re.escape(key) + r"\s*,", self.text)
        return self.text.count("\n", 0, match.start()) + 1 if match else None

    # -- citations

    def _plain_latex(self, latex: str) -> str:
        from pybtex.richtext import Text

        try:
            return str(Text.from_latex(latex))
        except Exception:  # unbalanced braces and the like: the field as written, braces dropped
            return latex.replace("{", "").replace("}", "")

    def authors(self, key: str) -> str:
        """"Cybenko", "Nair and Hinton", "Glorot et al." (or the title without authors)."""
        entry = self.entries[key]
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [self._plain_latex(" ".join(p.prelast_names + p.last_names)) for p in persons]
        if not names:
            return self._plain_latex(entry.fields.get("title", key))
        if len(names) == 1:
            return names[0]
        if len(names) == 2:
            return f"{names[0]} and {names[1]}"
        return f"{names[0]} et al."

    def year(self, key: str) -> str:
        return self.entries[key].fields.get("year", "n.d.")

    def cite_text(self, keys, textual: bool) -> str:
        """Plain author-year text: ``(Nair and Hinton, 2010; Cybenko, 1989)`` or ``Cybenko (1989)``."""
        if textual:
            return ", ".join(f"{self.authors(key)} ({self.year(key)})" for key in keys)
        return "(" + "; ".join(f"{self.authors(key)}, {self.year(key)}" for key in keys) + ")" if keys else ""

    def cite_html(self, keys, textual: bool, href) -> str:
        """The same as links: ``href(key)`` is each reference's URL."""
        links = []
        for key in keys:
            authors, year, url = html.escape(self.authors(key)), html.escape(self.year(key)), html.escape(href(key))
            text = f"{authors} ({year})" if textual else f"{authors}, {year}"
            links.append(f'<a class="cite" href="{url}">{text}</a>')
        return ", ".join(links) if textual else "(" + "; ".join(links) + ")"

    def sort_key(self, key: str):
        return (self.authors(key).lower(), self.year(key), key)

    # -- references

    def url(self, key: str) -> str | None:
        """The entry's DOI (as a doi.org link) or URL, when a reader may follow it."""
        fields = self.entries[key].fields
        doi = fields.get("doi", "").strip()
        if doi:
            return safe_url(doi if doi.lower().startswith("http") else f"https://doi.org/{doi}")
        return safe_url(fields.get("url", ""))

    def reference_html(self, key: str) -> str:
        """The formatted entry as escaped HTML, with a link to its DOI or URL."""
        text = self._format(key, "html")
        url = self.url(key)
        if url:
            text += f' <a class="bib-link" href="{html.escape(url)}" rel="noopener">{html.escape(url)}</a>'
        return text

    def reference_text(self, key: str) -> str:
        """The formatted entry as plain text (for notebooks), with its DOI or URL."""
        text = self._format(key, "text")
        url = self.url(key)
        return f"{text} {url}" if url else text

    def _format(self, key: str, kind: str) -> str:
        if (key, kind) not in self._formatted:
            if self._style is None:
                self._style, self._backends = _style(), _backends()
            backend = self._backends[0] if kind == "html" else self._backends[1]
            try:
                text = self._style.format_entry(key, self.entries[key]).text.render(backend)
            except Exception as exc:  # pybtex's FieldIsMissing, an unknown entry type, bad LaTeX in a field
                text = self._best_effort(key, kind)
                self._warn(key, exc)
            self._formatted[key, kind] = text
        return self._formatted[key, kind]

    def _best_effort(self, key: str, kind: str) -> str:
        """Authors, title, venue and year, as far as the entry has them."""
        fields = self.entries[key].fields
        venue = next((fields[name] for name in ("booktitle", "journal", "publisher", "howpublished", "school") if name in fields), "")
        parts = [self.authors(key) if self.entries[key].persons else "", self._plain_latex(fields.get("title", "")), self._plain_latex(venue), self.year(key)]
        text = ". ".join(part.strip().rstrip(".") for part in parts if part.strip()) + "."
        return html.escape(text) if kind == "html" else text

    def _warn(self, key: str, exc: Exception) -> None:
        from pybtex.style.template import FieldIsMissing

        entry = self.entries[key]
        if isinstance(exc, FieldIsMissing):
            why = f"its @{entry.type} entry has no '{exc.field_name}' field"
        elif isinstance(exc, AttributeError) and ("template" in str(exc) or "format_" in str(exc)):
            why = f"the entry type @{entry.type} is unknown to the style"
        else:
            why = f"{type(exc).__name__}: {exc}"
        where = f"{self.path}:{self.line_of(key)}" if self.line_of(key) else str(self.path)
        warning = f"{where}: warning: the reference '{key}' cannot be formatted ({why}); it is shown as far as its fields allow"
        if warning not in self.warnings:
            self.warnings.append(warning)
