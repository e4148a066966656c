"""The execution store: successful executions by content key (``$TABBOOK_CACHE/eval``).

Why a module of its own: the store outlives checkouts and runs, is shared by
concurrent runs and merged from other machines, so it must never serve
something it cannot vouch for. Each entry is a notebook (``<key>.ipynb``)
whose ``tabbook_execution`` metadata records

- the key's inputs other than the code (format, tab, kernel, environment,
  book hash, working directory), so the key can be recomputed from the entry's
  own code cells: an entry proves that it belongs under its name;
- a SHA256 digest of the entry's content, so a damaged or hand-edited entry
  is noticed.

Before an entry is used it is validated (nbformat schema, our metadata, the
key, the digest). An invalid entry is reported once, moved to ``corrupt/``,
and the notebook executes again: never a traceback. Concurrent runs take a
lock per key (``locks/<key>.lock``), so one run executes a notebook while the
other waits for it and uses its result. ``tabbook cache`` reports, prunes and
imports (modelled on jupyter-cache's ``cache list`` / ``clear`` / ``add``).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tabbook.envs import cache_dir
from tabbook.errors import SourceError
from tabbook.fileio import atomic_write, notebook_text

# Bump when the stored format or the meaning of a key changes: old entries are then never looked up.
STORE_FORMAT = "tabbook-eval-3"  # 3: code cells carry content-derived ids, which the key covers
CORRUPT_DIR = "corrupt"
LOCK_DIR = "locks"
# used/<key>/<checkout id>: touched whenever a run of that checkout uses the entry (its last use).
USED_DIR = "used"
# What an entry's tabbook_execution metadata holds for the store alone.
STORE_ONLY = ("key_inputs", "digest")
# Files next to the entries that are not entries (the data-fingerprint memo).
_NOT_ENTRIES = {"data-fingerprints.json"}


def store_dir() -> Path:
    return cache_dir() / "eval"


def code_cells(nb) -> list:
    return [cell for cell in nb["cells"] if cell.get("cell_type") == "code"]


def key_of(code, inputs: dict) -> str:
    """The content key: a hash of the code cells (source and hide mark) and the key's other inputs."""
    payload = {**inputs, "format": STORE_FORMAT, "code": code}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def code_of(nb) -> list:
    """What of the code cells a key covers: their ids, sources and hide marks, not their outputs or the prose.

    The ids (made from each cell's content by tabbook.parse) are what outputs
    travel by (``tabbook.notebooks.attach_outputs``), so an entry matches a
    notebook only when every output has its cell.
    """
    result = []
    for cell in code_cells(nb):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        result.append([cell.get("id"), source, (cell.get("metadata", {}).get("tabbook") or {}).get("hide")])
    return result


def content_digest(nb) -> str:
    """SHA256 of an entry's whole content, its own digest field left out."""
    data = json.loads(json.dumps(nb))
    info = data.get("metadata", {}).get("tabbook_execution")
    if isinstance(info, dict):
        info.pop("digest", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def checkout_id(root: Path) -> str:
    """A short name for one checkout (its folder) in the store's use records."""
    return hashlib.sha256(str(root).encode()).hexdigest()[:16]


class InvalidEntry(Exception):
    """An entry that must not be served: what is wrong with it."""


def validate_entry(text: str, key: str):
    """The entry ``text`` stored under ``key`` as a notebook, or InvalidEntry saying why not."""
    import nbformat

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidEntry(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidEntry(f"not a notebook (a JSON {type(data).__name__})")
    if data.get("nbformat") != 4:
        raise InvalidEntry(f"not an nbformat 4 notebook (nbformat {data.get('nbformat')!r})")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise InvalidEntry(f"not a valid notebook: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # nbformat's reader trips over shapes the schema would reject
        raise InvalidEntry(f"not a valid notebook ({type(exc).__name__}: {exc})") from None
    info = nb.metadata.get("tabbook_execution")
    if not isinstance(info, dict):
        raise InvalidEntry("no tabbook_execution metadata")
    if info.get("key") != key:
        raise InvalidEntry(f"it claims the key {info.get('key')!r}")
    if info.get("status") != "ok":
        raise InvalidEntry(f"its status is {info.get('status')!r}, not 'ok'")
    inputs = info.get("key_inputs")
    if not isinstance(inputs, dict) or key_of(code_of(nb), inputs) != key:
        raise InvalidEntry("its code and key inputs do not hash to its key")
    if info.get("digest") != content_digest(nb):
        raise InvalidEntry("its content does not match its digest")
    return nb


@dataclass
class Entry:
    key: str
    path: Path
    size: int
    mtime: float


class Store:
    """The store at ``root`` (default ``$TABBOOK_CACHE/eval``)."""

    def __init__(self, root: Path | None = None, say=None):
        self.root = Path(root) if root is not None else store_dir()
        self.say = say or (lambda text: None)
        self._local = threading.local()

    def path(self, key: str) -> Path:
        return self.root / f"{key}.ipynb"

    # -- reading

    def load(self, key: str):
        """The valid entry for ``key``, or None. An invalid one is reported and set aside."""
        try:
            text = self.path(key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            return self._set_aside(key, f"unreadable ({exc})")
        try:
            return validate_entry(text, key)
        except InvalidEntry as exc:
            return self._set_aside(key, str(exc))

    def _set_aside(self, key: str, reason: str) -> None:
        """Move an invalid entry to ``corrupt/`` (kept for a look, never read again) and say so once."""
        source = self.path(key)
        target = self.root / CORRUPT_DIR / f"{key}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}.ipynb"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            where = f"moved to {target}"
        except FileNotFoundError:  # another run set it aside first
            return None
        except OSError as exc:
            where = f"could not be moved ({exc.strerror}); delete {source}"
        self.say(f"store: the entry {source} is invalid: {reason}; {where}; the notebook is executed again")
        return None

    # -- writing

    def save(self, key: str, nb, inputs: dict) -> None:
        """Store ``nb`` (a successful execution) under ``key``, with its key inputs and digest."""
        import nbformat

        entry = copy.deepcopy(nb)
        info = entry.metadata.setdefault("tabbook_execution", {})
        info.update({"key": key, "status": "ok", "key_inputs": inputs})
        info.pop("digest", None)
        nbformat.validate(entry)
        # The digest of the entry as it will be read back (nbformat joins split lines on reading).
        entry = nbformat.reads(notebook_text(entry), as_version=4)
        entry.metadata.tabbook_execution["digest"] = content_digest(entry)
        atomic_write(self.path(key), notebook_text(entry))

    # -- one run per key at a time

    @contextlib.contextmanager
    def lock(self, key: str, stop: threading.Event | None = None, on_wait=None):
        """Hold the lock of ``key`` (across processes) while executing it; waits while another run holds it.

        ``stop`` (Ctrl-C) ends the wait with KeyboardInterrupt; ``on_wait()`` is called once if we wait.
        """
        path = self.root / LOCK_DIR / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            waited = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waited and on_wait is not None:
                        on_wait()
                    waited = True
                    if stop is not None and stop.wait(0.2):
                        raise KeyboardInterrupt from None
                    if stop is None:
                        time.sleep(0.2)
            try:
                yield waited
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- the cache command

    def entries(self) -> list[Entry]:
        found = []
        for path in sorted(self.root.glob("*.ipynb")):
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append(Entry(path.stem, path, stat.st_size, stat.st_mtime))
        return found

    # -- who uses what: the store is shared by every book and checkout on the machine

    def mark_used(self, keys, checkout: Path) -> None:
        """Record that the checkout at ``checkout`` uses these entries now (``used/<key>/<checkout id>``).

        ``cache --prune`` removes only entries that no checkout used for a while, or with
        ``--this-book`` those no other checkout used: pruning from one book never takes
        another's entries. A record that cannot be written only makes an entry look older."""
        checkout = Path(checkout).resolve()
        name = checkout_id(checkout)
        for key in dict.fromkeys(keys):
            stamp = self.root / USED_DIR / key / name
            try:
                stamp.parent.mkdir(parents=True, exist_ok=True)
                stamp.write_text(f"{checkout}\n")
            except OSError:
                continue

    def users(self, key: str) -> dict[str, float]:
        """checkout id -> when that checkout last used the entry."""
        found = {}
        for stamp in (self.root / USED_DIR / key).glob("*"):
            try:
                found[stamp.name] = stamp.stat().st_mtime
            except OSError:
                continue
        return found

    def prune_plan(self, keep: set[str], unused_since: float, checkout: Path | None = None, leftovers_before: float | None = None) -> list[tuple[Path, str]]:
        """What ``cache --prune`` removes, and why: the entries not in ``keep`` that no checkout used
        since ``unused_since`` (an entry's creation counts as a use), or, given ``checkout``
        (``--this-book``), that only that checkout ever used; set-aside entries; temporary files
        of writes older than ``leftovers_before``."""
        own = checkout_id(Path(checkout).resolve()) if checkout is not None else None
        doomed = []
        for entry in self.entries():
            if entry.key in keep:
                continue
            users = self.users(entry.key)
            last = max([entry.mtime, *users.values()])
            if last < unused_since:
                days = (time.time() - last) / 86400
                doomed.append((entry.path, f"no book or checkout used it for {days:.0f} day(s)"))
            elif own is not None and set(users) == {own}:
                doomed.append((entry.path, "only this checkout used it, and its notebooks no longer do"))
        doomed += [(path, "set aside as invalid") for path in sorted((self.root / CORRUPT_DIR).glob("*"))]
        if leftovers_before is not None:
            doomed += [(path, "the temporary file of a write that never finished") for path in self.leftovers(leftovers_before)]
        return doomed

    def remove(self, doomed: list[tuple[Path, str]]) -> tuple[list[Path], int]:
        """Remove what :meth:`prune_plan` listed (an entry with its use records); return them and the bytes freed."""
        removed, freed = [], 0
        for path, _why in doomed:
            try:
                size = path.stat().st_size
                path.unlink()
            except OSError:
                continue
            if path.parent == self.root and path.suffix == ".ipynb":
                shutil.rmtree(self.root / USED_DIR / path.stem, ignore_errors=True)
            removed.append(path)
            freed += size
        return removed, freed

    def leftovers(self, older_than: float) -> list[Path]:
        """Temporary files of writes that never finished (a killed run), older than ``older_than``."""
        old = []
        for path in self.root.glob(".*.tmp"):
            try:
                if path.stat().st_mtime < older_than:
                    old.append(path)
            except OSError:
                continue
        return old

    def describe_path(self, path: Path) -> str:
        """What a file of the store is, for the lists of ``cache --prune``."""
        if path.parent == self.root and path.suffix == ".ipynb":
            return self.describe(Entry(path.stem, path, 0, 0.0))
        return ""

    def describe(self, entry: Entry) -> str:
        """Which notebook an entry is: 'tab source', or what is wrong with it."""
        try:
            metadata = json.loads(entry.path.read_text(encoding="utf-8"))["metadata"]
            info = metadata["tabbook_execution"]
            if "key_inputs" not in info:
                return "(an older tool's entry, never used)"
            return f"{info['key_inputs']['tab']} {metadata['tabbook']['source']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "(not a valid entry)"

    def import_from(self, other: Path) -> dict[str, list]:
        """Copy the valid entries of the store at ``other`` that this one lacks.

        Entries are content-addressed, so an entry present on both sides is the
        same execution of the same code: nothing to merge and no conflict.
        """
        result = {"added": [], "present": [], "invalid": []}
        if not other.is_dir():
            raise SourceError(other, None, "no such store (a folder of <key>.ipynb entries)")
        for path in sorted(other.glob("*.ipynb")):
            key = path.stem
            if self.path(key).is_file() and self.load(key) is not None:
                result["present"].append(key)
                continue
            try:
                nb = validate_entry(path.read_text(encoding="utf-8"), key)
            except (OSError, UnicodeDecodeError, InvalidEntry) as exc:
                result["invalid"].append(f"{path}: {exc}")
                continue
            atomic_write(self.path(key), notebook_text(nb))
            result["added"].append(key)
        return result
