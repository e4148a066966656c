"""Make a notebook's HTML, SVG and Markdown outputs safe to put into a published page.

Why: outputs are untrusted. A cell can display data it read from anywhere, and
whatever markup it emits lands in the book that readers open. Left as it is,
``HTML("<script>...")`` or an SVG with ``onload=`` runs in every reader's
browser (stored XSS). So every rich output passes through an allow-list
sanitizer (``nh3``, the Rust ``ammonia`` library) before it reaches a page.

What stays: what notebooks legitimately show. Tables (pandas' HTML, with
inline styles for alignment and colour), text markup, images from ``data:``
URIs, MathML, and the SVG elements plots are made of (matplotlib's, with
clip paths and ``#`` references). What goes: scripts, ``<style>`` elements,
event handlers, ``javascript:`` and other active URLs, ``<iframe>``,
``<object>``, ``<embed>``, ``<foreignObject>``, forms, and anything that
would load a resource from outside the page (external ``src``, ``url(...)``
other than ``url(#id)``).

Author-written raw HTML in the chapters' Markdown is the book's own text and
is not passed through here.
"""

from __future__ import annotations

import re

import nh3

# Text and table markup (ammonia's defaults, without the ones that can load or frame content).
_HTML_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}
_HTML_TAGS |= {"table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "col", "colgroup"}

# MathML, as latex2mathml, sympy and IPython's Math write it.
_MATHML_TAGS = {
    "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub",
    "msubsup", "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mstyle",
    "mpadded", "mphantom", "menclose", "merror",
}  # fmt: skip
_MATHML_ATTRIBUTES = {
    "display", "mathvariant", "mathsize", "mathcolor", "displaystyle", "scriptlevel", "stretchy", "fence",
    "separator", "lspace", "rspace", "accent", "accentunder", "columnalign", "rowalign", "linethickness",
    "encoding", "notation", "width", "height", "depth", "xmlns",
}  # fmt: skip

# The SVG that plotting libraries write: shapes, groups, text, gradients, clip paths and markers.
_SVG_TAGS = {
    "svg", "g", "defs", "symbol", "use", "title", "desc", "metadata", "path", "rect", "circle", "ellipse",
    "line", "polyline", "polygon", "text", "tspan", "textPath", "clipPath", "mask", "marker", "pattern",
    "linearGradient", "radialGradient", "stop", "image",
}  # fmt: skip
_SVG_ATTRIBUTES = {
    "id", "class", "width", "height", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "d",
    "points", "dx", "dy", "rotate", "viewBox", "preserveAspectRatio", "transform", "version",
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin",
    "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "stroke-opacity", "opacity", "color",
    "clip-path", "clip-rule", "clipPathUnits", "mask", "maskUnits", "maskContentUnits", "marker-start",
    "marker-mid", "marker-end", "markerWidth", "markerHeight", "markerUnits", "refX", "refY", "orient",
    "patternUnits", "patternContentUnits", "patternTransform", "gradientUnits", "gradientTransform",
    "offset", "stop-color", "stop-opacity", "spreadMethod", "fx", "fy", "font-family", "font-size",
    "font-style", "font-weight", "text-anchor", "dominant-baseline", "alignment-baseline",
    "letter-spacing", "textLength", "lengthAdjust", "href", "style", "overflow", "visibility", "display",
}  # fmt: skip

# Inline style properties kept (tables and plots); anything that positions or loads is left out.
_STYLE_PROPERTIES = {
    "color", "background-color", "text-align", "vertical-align", "font-family", "font-size", "font-style",
    "font-weight", "text-decoration", "white-space", "border", "border-top", "border-bottom", "border-left",
    "border-right", "border-color", "border-style", "border-width", "border-collapse", "padding",
    "padding-top", "padding-bottom", "padding-left", "padding-right", "margin", "width", "height",
    "min-width", "max-width", "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width",
    "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset",
    "stroke-opacity", "opacity", "clip-path", "text-anchor", "dominant-baseline", "display", "visibility",
}  # fmt: skip

_HTML_ATTRIBUTES = {
    "*": {"title", "lang", "dir", "align", "valign", "style"},
    "table": {"border", "cellpadding", "cellspacing", "summary", "width"},
    "th": {"colspan", "rowspan", "scope", "headers", "halign"},
    "td": {"colspan", "rowspan", "headers"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "img": {"src", "alt", "width", "height"},
    "a": {"href", "hreflang"},
    "ol": {"start", "type"},
    "abbr": {"title"},
    "time": {"datetime"},
    "data": {"value"},
}

_TAGS = _HTML_TAGS | _MATHML_TAGS | _SVG_TAGS
_ATTRIBUTES = {tag: set(names) for tag, names in _HTML_ATTRIBUTES.items()}
for _tag in _MATHML_TAGS:
    _ATTRIBUTES.setdefault(_tag, set()).update(_MATHML_ATTRIBUTES)
for _tag in _SVG_TAGS:
    _ATTRIBUTES.setdefault(_tag, set()).update(_SVG_ATTRIBUTES)

# A url(...) in a style or presentation attribute may only point inside the page: url(#id).
_FOREIGN_URL = re.compile(r"url\s*\(\s*(?![\"']?#)", re.I)
_ACTIVE = re.compile(r"(javascript|vbscript|data\s*:\s*text/html)\s*:?|expression\s*\(", re.I)
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml);base64,", re.I)


# Every id of an output gets this prefix, and so do the references to it (``href="#id"``,
# ``url(#id)``): an output's ids can then neither clash with the page's own nor clobber the
# page's globals (the browser names each element with an id as a property of ``window``).
OUTPUT_ID_PREFIX = "output-"
_LOCAL_URL = re.compile(r"""url\(\s*(["']?)#""", re.I)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """Per-value checks the allow-lists cannot express: where URLs may point, and the outputs' own ids."""
    if attribute == "id":
        return OUTPUT_ID_PREFIX + value
    if ":" not in value and "(" not in value and attribute not in ("href", "src"):
        return value  # the bulk of a plot's attributes (coordinates, colours): nothing to check
    if _ACTIVE.search(value) or _FOREIGN_URL.search(value):
        return None
    if tag in _SVG_TAGS and attribute == "href":
        if value.startswith("#"):  # <use href="#id">
            return f"#{OUTPUT_ID_PREFIX}{value[1:]}"
        return value if _DATA_IMAGE.match(value) else None
    if attribute == "src":
        return value if _DATA_IMAGE.match(value) else None  # no external resources
    if tag == "a" and attribute == "href":
        return value if re.match(r"(https?:|mailto:|#)", value, re.I) else None
    return _LOCAL_URL.sub(lambda match: f"url({match.group(1)}#{OUTPUT_ID_PREFIX}", value)


def clean(markup: str) -> str:
    """``markup`` (HTML, SVG or MathML from an output) with everything active or external removed."""
    return nh3.clean(
        markup,
        tags=_TAGS,
        clean_content_tags={"script", "style", "iframe", "object", "embed", "noscript", "template", "foreignObject"},
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto", "data"},
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        filter_style_properties=_STYLE_PROPERTIES,
    )


def clean_markdown(text: str) -> str:
    """A Markdown output rendered to HTML, then cleaned like any HTML output."""
    from markdown_it import MarkdownIt

    return clean(MarkdownIt("commonmark").enable("table").render(text))
