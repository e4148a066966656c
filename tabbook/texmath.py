"""TeX -> MathML at build time with Temml, and the math font subset the pages need.

Temml (https://temml.org, MIT) is KaTeX's TeX parser made to write MathML for
the browsers' own MathML layout. It runs in one long-lived Node process for
the whole book (``static/texmath/server.cjs``, a line protocol: one JSON array
of ``[tex, display]`` pairs in, one JSON array of results out), started on the
first call, reused by every later one, and ended when Python exits. Its
single-file build ships inside the package (``static/texmath/temml.min.js``,
pinned by SHA-256 below and checked against the npm pin of
``scripts/js/package.json``), so an installed ``tabbook`` needs Node and
nothing else: no npm, no network.

What comes back is Temml's MathML with three changes for Chromium, the browser
the book is read and printed in:

* ``\\left`` and ``\\right`` delimiters around content no taller than a plain
  bracket are not stretchy. Chromium gives a stretchy bracket the width of
  its widest size variant (the 0.875 em of Latin Modern's assembly pieces)
  even when it is drawn at its normal size, which pads ``\\left( x \\right)``
  with visible space (crbug.com/40254692). TeX also draws these at normal size.
* A prime is set beside its base rather than as a superscript: Latin Modern
  Math's prime glyph is drawn high for use on the baseline, so as a
  superscript it floats far above its base. (Temml's own fix is a font of its
  own whose licence forbids commercial use.)
* Display math carries ``display="block"`` rather than an inline style, so the
  book's CSS can lay it out.

Errors: TeX that cannot be typeset raises :class:`MathError` (the caller adds
FILE:LINE); a missing Node or a missing or altered engine file raises
:class:`MathEngineMissing`, a :class:`~tabbook.errors.SourceError` saying to
run ``make setup``.
"""

from __future__ import annotations

import atexit
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

from tabbook.errors import SourceError

ENGINE_DIR = Path(__file__).resolve().parent / "static" / "texmath"
ENGINE_JS = ENGINE_DIR / "temml.min.js"
SERVER_JS = ENGINE_DIR / "server.cjs"
ENGINE_NAME = "temml"
ENGINE_VERSION = "0.13.5"
# temml.min.js of the npm package temml@0.13.5 (dist/temml.min.js), byte for byte.
ENGINE_SHA256 = "1ab19148afe0dbc836b7a74f344071b3f3a70a7a8259ae4049e76894fcdf8d95"
# Bump when the post-processing below changes what a formula becomes (it keys the disk cache).
POSTPROCESS_VERSION = 1


class MathError(Exception):
    """Why this TeX cannot be typeset (the message has no FILE:LINE; the caller adds it)."""


class MathEngineMissing(SourceError):
    """Node or the vendored engine is missing: nothing can be converted until ``make setup`` runs."""

    def __init__(self, path, message):
        super().__init__(path, None, message)


# -- the Node process ---------------------------------------------------------------


class _Engine:
    """One Node process running ``server.cjs``; a lock keeps one request in flight."""

    def __init__(self):
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        node = shutil.which("node")
        if node is None:
            raise MathEngineMissing("node", "Node.js is missing: the math is typeset by Temml in Node; run `make setup` (it installs Debian's nodejs)")
        for path in (ENGINE_JS, SERVER_JS):
            if not path.is_file():
                raise MathEngineMissing(path, "the math engine is missing from the installed tabbook: run `make setup`, or reinstall tabbook")
        digest = hashlib.sha256(ENGINE_JS.read_bytes()).hexdigest()
        if digest != ENGINE_SHA256:
            raise MathEngineMissing(ENGINE_JS, f"the math engine is not the pinned Temml {ENGINE_VERSION} (sha256 {digest}): run `make setup`")
        process = subprocess.Popen(
            [node, str(SERVER_JS), str(ENGINE_JS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1,
        )
        hello = process.stdout.readline()
        try:
            info = json.loads(hello)
        except ValueError:
            process.kill()
            detail = (hello + process.stderr.read()).strip()
            raise MathEngineMissing(SERVER_JS, f"the math engine did not start ({detail[-500:] or 'no output'}): run `make setup`") from None
        if info.get("version") != ENGINE_VERSION:
            process.kill()
            raise MathEngineMissing(ENGINE_JS, f"the math engine is Temml {info.get('version')}, not the pinned {ENGINE_VERSION}: run `make setup`")
        return process

    def convert(self, pairs: list[tuple[str, bool]]) -> list[dict]:
        """Temml's answer for each (tex, display): {"m": MathML} or {"e": reason}. One round trip."""
        if not pairs:
            return []
        request = json.dumps([[tex, bool(display)] for tex, display in pairs], ensure_ascii=False) + "\n"
        with self.lock:
            for attempt in (1, 2):  # a process that died (killed, out of memory) is started again once
                if self.process is None or self.process.poll() is not None:
                    self.process = self._start()
                try:
                    self.process.stdin.write(request)
                    self.process.stdin.flush()
                    line = self.process.stdout.readline()
                except (BrokenPipeError, OSError):
                    line = ""
                if line:
                    answer = json.loads(line)
                    if isinstance(answer, dict):  # {"fatal": ...}: a request the server could not read
                        raise RuntimeError(f"math engine: {answer.get('fatal')}")
                    return answer
                stderr = self._stop()
                if attempt == 2:
                    raise MathEngineMissing(SERVER_JS, f"the math engine stopped ({stderr.strip()[-500:] or 'no message'})")
        raise AssertionError("unreachable")

    def _stop(self) -> str:
        process, self.process = self.process, None
        if process is None:
            return ""
        try:
            process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return process.stderr.read() if process.stderr else ""

    def close(self) -> None:
        with self.lock:
            self._stop()


_ENGINE = _Engine()
atexit.register(_ENGINE.close)

# -- caches -------------------------------------------------------------------------

_MEMORY: dict[tuple[str, bool], str | MathError] = {}
_DISK: dict = {"dir": None, "entries": None, "new": 0}
_DISK_LOCK = threading.Lock()


def cache_key() -> str:
    """What the disk cache is keyed by: the engine, its version and this module's post-processing."""
    return f"{ENGINE_NAME}-{ENGINE_VERSION}-{ENGINE_SHA256[:12]}-p{POSTPROCESS_VERSION}"


def use_disk_cache(directory: Path | None) -> None:
    """Keep converted math in ``directory`` (one JSON file per engine version) across runs; None turns it off.

    Entries are read on the first conversion and written back by :func:`save_disk_cache`
    (also called at exit)."""
    with _DISK_LOCK:
        _DISK.update(dir=Path(directory) if directory else None, entries=None, new=0)


def _disk_entries() -> dict | None:
    if _DISK["dir"] is None:
        return None
    if _DISK["entries"] is None:
        path = _DISK["dir"] / f"{cache_key()}.json"
        try:
            _DISK["entries"] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            _DISK["entries"] = {}
    return _DISK["entries"]


def save_disk_cache() -> None:
    """Write the disk cache if it has new entries (atomically: a reader never sees half a file)."""
    with _DISK_LOCK:
        entries = _DISK["entries"]
        if _DISK["dir"] is None or not entries or not _DISK["new"]:
            return
        _DISK["dir"].mkdir(parents=True, exist_ok=True)
        path = _DISK["dir"] / f"{cache_key()}.json"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
        _DISK["new"] = 0


atexit.register(save_disk_cache)


def _disk_key(latex: str, display: bool) -> str:
    return ("D" if display else "I") + latex


# -- the interface ------------------------------------------------------------------


def to_mathml(latex: str, display: bool) -> str:
    """One formula as MathML (``<math>``, no xmlns); raises :class:`MathError`."""
    (result,) = to_mathml_many([(latex, display)])
    if isinstance(result, MathError):
        raise result
    return result


def to_mathml_many(items: list[tuple[str, bool]]) -> list[str | MathError]:
    """Every (latex, display) as MathML, or the :class:`MathError` saying why not, in order.

    What is not cached goes to the engine in one round trip: call this with a
    whole book's math to convert it at once."""
    items = [(latex, bool(display)) for latex, display in items]
    missing = list(dict.fromkeys(item for item in items if item not in _MEMORY))
    if missing:
        with _DISK_LOCK:
            disk = _disk_entries()
            if disk is not None:
                for item in missing:
                    stored = disk.get(_disk_key(*item))
                    if stored is not None:
                        _MEMORY[item] = MathError(stored["e"]) if "e" in stored else stored["m"]
        missing = [item for item in missing if item not in _MEMORY]
    if missing:
        answers = _ENGINE.convert([(_prepare(latex), display) for latex, display in missing])
        with _DISK_LOCK:
            disk = _disk_entries()
            for (latex, display), answer in zip(missing, answers, strict=True):
                result = _result(latex, display, answer)
                _MEMORY[(latex, display)] = result
                if disk is not None:
                    disk[_disk_key(latex, display)] = {"e": str(result)} if isinstance(result, MathError) else {"m": result}
                    _DISK["new"] += 1
    return [_MEMORY[item] for item in items]


def _prepare(latex: str) -> str:
    return latex.strip()


def _shown(latex: str) -> str:
    return " ".join(latex.split())


def _result(latex: str, display: bool, answer: dict) -> str | MathError:
    if "e" in answer:
        return MathError(f"cannot typeset the math ${_shown(latex)}$ ({answer['e']})")
    mathml = answer["m"]
    if not mathml.startswith("<math"):
        # \ref and \eqref make a link, not math: the dialect's references are :eqref: roles
        return MathError(f"cannot typeset the math ${_shown(latex)}$ (\\ref and \\eqref are not math: use the :eqref: role outside the math)")
    try:
        return postprocess(mathml)
    except ET.ParseError as exc:  # Temml's MathML is well-formed XML; this would be a bug of ours
        return MathError(f"cannot typeset the math ${_shown(latex)}$ (the engine's MathML does not parse: {exc})")


# -- post-processing ----------------------------------------------------------------

_DISPLAY_ROOT = re.compile(r'^<math display="block" class="tml-display" style="display:block math;">')


def postprocess(mathml: str) -> str:
    """Temml's MathML, as the book's pages need it (see the module's docstring)."""
    mathml = _DISPLAY_ROOT.sub('<math display="block">', mathml)
    if not any(mark in mathml for mark in ('stretchy="true"', "tml-prime", "<msub", "<msup", "<munder", "<mover")):
        return mathml
    root = ET.fromstring(mathml)
    _unstretch_short_fences(root, scale=1.0, display=root.get("display") == "block")
    _primes_beside_their_base(root)
    _subscripts_of_characters(root)
    _no_operator_space_in_scripts(root)
    return ET.tostring(root, encoding="unicode", short_empty_elements=False)


# Extents in em of the font size, as (height above the baseline, depth below it).
_TOKEN = (0.70, 0.20)
_BRACKET = (0.75, 0.25)  # a bracket at its normal size (Latin Modern Math: 0.75 above, 0.25 below)
_SLACK = 0.15  # content may pass a normal bracket by this much, as in TeX, before it stretches
_LARGE_OPERATORS = set("∑∏∐∫∬∭∮⋃⋂⋁⋀⨁⨂⨀⨄")
_SCRIPT = 0.71
_X_HEIGHT = 0.45
# letters no taller than an x (an accent over them stays within a bracket's height)
_SHORT_LETTERS = set("acegmnopqrsuvwxyzıȷαγεηικμνοπρστυφχψωϵϱϕ")


def _extent(node, scale: float, display: bool) -> tuple[float, float]:
    """A rough (height, depth) of what ``node`` draws, enough to tell whether a bracket must stretch."""
    tag = node.tag
    children = list(node)
    if tag in ("mi", "mn", "mtext", "ms", "mo"):
        text = "".join(node.itertext())
        if not text.strip():
            return (0.0, 0.0)
        if tag == "mo" and text in _LARGE_OPERATORS and display:
            return (1.0 * scale, 0.5 * scale)
        if tag == "mo" and node.get("stretchy") == "true":
            return (_BRACKET[0] * scale, _BRACKET[1] * scale)  # grows with its row, which the row's other children give
        height = _X_HEIGHT if set(text) <= _SHORT_LETTERS else _TOKEN[0]
        return (height * scale, _TOKEN[1] * scale)
    if tag == "mspace":
        return (0.0, 0.0)
    if tag == "mfrac" and len(children) == 2:
        inner = scale if display else scale * _SCRIPT
        num = _extent(children[0], inner, False)
        den = _extent(children[1], inner, False)
        return (0.35 * scale + sum(num), 0.15 * scale + sum(den))
    if tag in ("msup", "msub", "msubsup") and children:
        base = _extent(children[0], scale, display)
        height, depth = base
        if tag in ("msub", "msubsup") and len(children) > 1:
            sub = _extent(children[1], scale * _SCRIPT, False)
            depth = max(depth, 0.25 * scale + sub[1])
        if tag == "msup" and len(children) > 1:
            sup = _extent(children[1], scale * _SCRIPT, False)
            height = max(height, 0.36 * scale + sup[0])
        if tag == "msubsup" and len(children) > 2:
            sup = _extent(children[2], scale * _SCRIPT, False)
            height = max(height, 0.36 * scale + sup[0])
        return (height, depth)
    if tag in ("munder", "mover", "munderover") and children:
        base = _extent(children[0], scale, display)
        height, depth = base
        if tag == "mover" and len(children) == 2 and _is_accent(node, children[1]):
            return (height + 0.25 * scale, depth)
        rest = children[1:]
        under = rest[0] if tag in ("munder", "munderover") and rest else None
        over = rest[-1] if tag in ("mover", "munderover") and rest else None
        if under is not None:
            extent = _extent(under, scale * _SCRIPT, False)
            depth = depth + 0.1 * scale + sum(extent)
        if over is not None:
            extent = _extent(over, scale * _SCRIPT, False)
            height = height + 0.1 * scale + sum(extent)
        return (height, depth)
    if tag in ("msqrt", "mroot"):
        inner = _extent(children[0], scale, display) if children else (0.0, 0.0)
        return (inner[0] + 0.12 * scale, inner[1] + 0.05 * scale)
    if tag == "mtable":
        rows = [max((sum(_extent(cell, scale, display)) for cell in row), default=0.0) for row in children]
        total = sum(rows) + 0.3 * scale * max(len(rows) - 1, 0)
        return (total / 2 + 0.25 * scale, total / 2 - 0.25 * scale)
    if tag == "mstyle" and node.get("displaystyle") is not None:
        display = node.get("displaystyle") == "true"
    if tag == "mstyle" and node.get("scriptlevel") is not None:
        scale = scale * (_SCRIPT if node.get("scriptlevel") not in ("0", "-1") else 1.0)
    extents = [_extent(child, scale, display) for child in children]
    return (max((e[0] for e in extents), default=0.0), max((e[1] for e in extents), default=0.0))


def _is_accent(mover, over) -> bool:
    """\\hat, \\bar, \\tilde...: a single mark over the base (Temml does not always say accent="true")."""
    if mover.get("accent") == "true":
        return True
    return over.tag == "mo" and len("".join(over.itertext()).strip()) == 1 and over.get("stretchy") != "true"


def _is_fence(node, form: str) -> bool:
    return node.tag == "mo" and node.get("fence") == "true" and node.get("stretchy") == "true" and node.get("form") == form


def _unstretch_short_fences(node, scale: float, display: bool) -> None:
    """Make the \\left/\\right delimiters of rows no taller than a normal bracket non-stretchy."""
    children = list(node)
    if node.tag == "mrow" and len(children) >= 2 and _is_fence(children[0], "prefix") and _is_fence(children[-1], "postfix"):
        inner = [_extent(child, scale, display) for child in children[1:-1]]
        height = max((e[0] for e in inner), default=0.0)
        depth = max((e[1] for e in inner), default=0.0)
        if height <= (_BRACKET[0] + _SLACK) * scale and depth <= (_BRACKET[1] + _SLACK) * scale:
            for child in children:
                if child.tag == "mo" and child.get("stretchy") == "true":  # \left, \middle, \right
                    child.set("stretchy", "false")
    # the children's own rows, with the scale and style they are drawn in
    if node.tag == "mfrac":
        inner_scale, inner_display = (scale if display else scale * _SCRIPT), False
        for child in children:
            _unstretch_short_fences(child, inner_scale, inner_display)
        return
    if node.tag in ("msup", "msub", "msubsup", "munder", "mover", "munderover") and children:
        _unstretch_short_fences(children[0], scale, display)
        for child in children[1:]:
            _unstretch_short_fences(child, scale * _SCRIPT, False)
        return
    if node.tag == "mstyle" and node.get("displaystyle") is not None:
        display = node.get("displaystyle") == "true"
    for child in children:
        _unstretch_short_fences(child, scale, display)


_PRIMES = {1: "′", 2: "″", 3: "‴", 4: "⁗"}


def _is_prime(node) -> bool:
    return node.tag == "mo" and "tml-prime" in (node.get("class") or "").split()


def _primes_beside_their_base(root) -> None:
    """x' as x followed by the prime (drawn high by the font), not x with a superscript prime.

    ``<msup>x ′</msup>`` becomes ``<mrow>x ′</mrow>``; ``<msup>x <mrow>′ 2</mrow></msup>``
    (x'^2) becomes ``<msup><mrow>x ′</mrow> 2</msup>``; ``<msubsup>x i ′</msubsup>``
    (x_i') becomes ``<msub><mrow>x ′</mrow> i</msub>``.
    """
    for parent in list(root.iter()):
        for index, node in enumerate(list(parent)):
            if node.tag not in ("msup", "msubsup"):
                continue
            children = list(node)
            script = children[-1] if len(children) in (2, 3) else None
            if script is None:
                continue
            if _is_prime(script):
                primes, rest = [script], []
            elif script.tag == "mrow" and len(script) and _is_prime(script[0]):
                primes = [child for child in script if _is_prime(child)]
                if primes != list(script)[: len(primes)]:
                    continue
                rest = list(script)[len(primes):]
            else:
                continue
            base = ET.Element("mrow")
            base.append(children[0])
            # f'' as one double prime, as TeX's fonts draw it: two primes side by side stand apart
            prime = primes[0]
            prime.attrib.pop("class", None)
            prime.text = _PRIMES.get(len(primes), "′" * len(primes))
            prime.tail = None
            base.append(prime)
            scripts = ([children[1]] if node.tag == "msubsup" else []) + rest
            if not scripts:
                replacement = base
            else:
                sub = node.tag == "msubsup"
                if sub and rest:
                    replacement = ET.Element("msubsup")
                    sup_row = ET.Element("mrow")
                    sup_row.extend(rest)
                    replacement.extend([base, children[1], sup_row])
                elif sub:
                    replacement = ET.Element("msub")
                    replacement.extend([base, children[1]])
                else:
                    replacement = ET.Element("msup")
                    sup_row = rest[0] if len(rest) == 1 else ET.Element("mrow")
                    if len(rest) > 1:
                        sup_row.extend(rest)
                    replacement.extend([base, sup_row])
            replacement.tail = node.tail
            parent.remove(node)
            parent.insert(index, replacement)


def _is_character(node) -> bool:
    """A letter or digit, possibly accented (\\hat{y}): a base TeX hangs its subscript from the baseline."""
    if node.tag in ("mi", "mn"):
        return True
    if node.tag == "mover" and len(node) == 2 and _is_accent(node, node[1]):
        return _is_character(node[0])
    return False


def _subscripts_of_characters(root) -> None:
    """The subscript of a letter at TeX's height: y_i as in TeX, not hung from y's descender.

    MathML Core lowers every subscript to the base's depth plus the font's
    SubscriptBaselineDropMin (0.2 em in Latin Modern Math); TeX does that for
    boxes only, never for a character. A character base with no depth
    (``<mpadded depth="0">``) gets TeX's position; the letter is drawn as before."""
    for node in list(root.iter()):
        if node.tag in ("msub", "msubsup") and len(node) >= 2 and _is_character(node[0]):
            base = node[0]
            padded = ET.Element("mpadded", {"depth": "0"})
            node.remove(base)
            padded.append(base)
            padded.tail, base.tail = base.tail, None
            node.insert(0, padded)


_SCRIPTED = {"msub": 1, "msup": 1, "msubsup": 1, "munder": 1, "mover": 1, "munderover": 1}


def _no_operator_space_in_scripts(root) -> None:
    """i=1 under a sum, n\\to\\infty under a limit: no space around operators in scripts, as in TeX.

    TeX puts the medium and thick spaces of binary operators and relations
    only in display and text style; Chromium adds them at every script level.
    An operator whose spacing Temml set explicitly keeps it."""

    def visit(node, in_script: bool) -> None:
        if in_script and node.tag == "mo" and "lspace" not in node.attrib and "rspace" not in node.attrib:
            node.set("lspace", "0em")
            node.set("rspace", "0em")
        for index, child in enumerate(node):
            script = in_script or (node.tag in _SCRIPTED and index >= _SCRIPTED[node.tag])
            visit(child, script)

    visit(root, False)


# -- the math font ------------------------------------------------------------------

_TEXT = re.compile(r">([^<>]+)<")
# Code points every page with math may need whatever its formulas: the digits and
# letters of equation numbers and \text, and the invisible operators.
_ALWAYS = "0123456789()[]{}.,;:+-=−/|′″‴ \u00a0\u2061\u2062\u2063"


FONT_SUBSET_VERSION = 2  # raised when a subset of the same characters comes out differently (2: no save date)


def subset_math_font(font_path, mathml_fragments) -> bytes:
    """The math font as WOFF2, cut down to the glyphs of ``mathml_fragments`` (MathML strings).

    Kept with each character: its size variants and the parts that assemble it
    when stretched (brackets, radicals, large operators), the italic and
    script-style forms the MATH and GSUB tables map it to, and the MATH table's
    constants. Everything else goes. Subsetting takes about a second, so with a
    disk cache (:func:`use_disk_cache`) a font is kept by its characters."""
    text = set(_ALWAYS)
    for fragment in mathml_fragments:
        for run in _TEXT.findall(fragment):
            text.update(html.unescape(run))
        if "<msqrt" in fragment or "<mroot" in fragment:
            text.add("√")  # the radical sign is drawn by the element, not written in it
    font_bytes = Path(font_path).read_bytes()
    key = hashlib.sha256(font_bytes + "".join(sorted(text)).encode() + f"{cache_key()}-font{FONT_SUBSET_VERSION}".encode()).hexdigest()[:32]
    cached = _DISK["dir"] / "fonts" / f"{key}.woff2" if _DISK["dir"] is not None else None
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    data = _subset_font(font_bytes, text)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, cached)
    return data


def _subset_font(font_bytes: bytes, text: set[str]) -> bytes:
    import logging

    from fontTools import subset
    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "FFTM NOT subset": fontTools' own notes, not ours
    # the font's own date, not today's: the same characters give the same bytes on every machine
    # (shards merged into one site, a rebuild that changes nothing)
    font = TTFont(io.BytesIO(font_bytes), recalcTimestamp=False)
    cmap = font.getBestCmap()
    unicodes = sorted({ord(char) for char in text if ord(char) in cmap})
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]  # ssty (script sizes), dtls, ...: whichever the browser asks for
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.drop_tables = [table for table in options.drop_tables if table != "MATH"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)  # fontTools keeps the MATH table's variants and assembly parts of kept glyphs
    out = io.BytesIO()
    font.flavor = "woff2"
    font.save(out)
    return out.getvalue()
