"""Execution, part 1 of 3: plan. Which notebooks exist, what each depends on, and which are stale.

Why a content key: authors fix a typo and want the page back at once, so a
notebook is executed again only when something it depends on changed. Its key
(``tabbook.store.key_of``) is a hash of its code cells (ids, sources and hide
marks, not the prose), its kernel, its environment's requirements hash, the
library package's source, and the content of the data the book declares
(``[build] data``: glob patterns of the files its notebooks read). The ``d2l``
package verifies the datasets it downloads by their published SHA-256, so its
source already stands for their content; a book whose notebooks read other
files names them in ``[build] data``.

An unchanged rerun must take well under 2 s: each file in ``_build/eval`` has
a stamp (``stamps.json``) of the converted notebook and key it was made from,
and the file's size, mtime and content digest; a notebook whose stamp matches
is up to date and neither the store is read nor the file rewritten.

Planning needs no kernel: it converts the book's Documents (``tabbook.book``)
into notebooks and sorts each into :class:`Decision` kinds, which
``tabbook.execute`` hands to ``tabbook.run`` and ``tabbook.record``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tabbook.artifacts import eval_path
from tabbook.config import BookConfig
from tabbook.envs import requirements_hash
from tabbook.fileio import atomic_write
from tabbook.notebooks import build_notebooks
from tabbook.store import Store, code_cells, code_of, key_of, store_dir

# What planning decides for each notebook.
CURRENT = "current"  # _build/eval already holds exactly this notebook with its outputs
NO_CODE = "no-code"  # nothing to execute: written as it is
STORED = "stored"  # the store holds its execution
STALE = "stale"  # it must be executed


@dataclass
class Job:
    """One notebook of the run: which file and tab, its key, where it goes."""

    source: Path
    source_rel: str
    tab: str
    name: str
    nb: object
    key: str
    target: Path
    stamp: str = ""
    inputs: dict = field(default_factory=dict)

    @property
    def log(self) -> Path:
        """Where the kernel process's own output goes: next to the executed notebook."""
        return self.target.with_suffix(".log")

    @property
    def has_code(self) -> bool:
        return bool(code_cells(self.nb))


@dataclass
class Decision:
    """What planning found for one job; ``execution`` is the recorded run of a CURRENT one, ``stored`` the entry of a STORED one."""

    job: Job
    kind: str
    execution: dict | None = None
    stored: object = None


def source_rel(config: BookConfig, path: Path) -> str:
    """``path`` relative to the book's root (its name when outside)."""
    try:
        return Path(path).resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return Path(path).name


# --------------------------------------------------------------------------- keys


def library_source_hash(config: BookConfig, tab: str) -> str:
    """Hash of the library source a notebook of ``tab`` can import.

    That is every ``.py`` file of the package except the other frameworks'
    modules (hand-written ``d2l/torch.py`` and generated ``d2l/_saved/torch.py``
    are both named after the tab's library file), so saving new code for one
    framework re-executes only that framework's notebooks.
    """
    package = config.root / config.library_package
    own = config.lib_files[tab].stem if tab in config.lib_files else None
    others = {path.stem for path in config.lib_files.values()} - {own}
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts or path.stem in others:
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class DataFingerprints:
    """Content hashes of data files, memoized by (path, size, mtime) in the store.

    The content is hashed, not the path or mtime, so a copy in another place
    keeps its key; the memo makes that cost paid once per file, not per run.
    """

    def __init__(self, memo_path: Path):
        self.memo_path = memo_path
        try:
            self.memo = json.loads(memo_path.read_text())
        except (OSError, ValueError):
            self.memo = {}
        if not isinstance(self.memo, dict) or not all(isinstance(v, str) for v in self.memo.values()):
            self.memo = {}  # not what we write: rebuild it
        self.changed = False

    def of(self, path: Path) -> str:
        """The file's content hash; a file that cannot be read gets a hash of why (never an error here)."""
        try:
            stat = path.stat()
        except OSError as exc:
            return f"unreadable: {exc.strerror}"
        memo_key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if memo_key not in self.memo:
            digest = hashlib.sha256()
            try:
                with open(path, "rb") as data:
                    for block in iter(lambda: data.read(1 << 20), b""):
                        digest.update(block)
            except OSError as exc:
                return f"unreadable: {exc.strerror}"
            # The file changed (or is new): forget what was known about its older versions.
            prefix = f"{path.resolve()}|"
            self.memo = {key: value for key, value in self.memo.items() if not key.startswith(prefix)}
            self.memo[memo_key] = digest.hexdigest()
            self.changed = True
        return self.memo[memo_key]

    def save(self) -> None:
        if self.changed:
            atomic_write(self.memo_path, json.dumps(self.memo, indent=0, sort_keys=True))
            self.changed = False


def data_files(config: BookConfig) -> list[Path]:
    """The files ``[build] data`` names: glob patterns relative to the root, ``$VARIABLES`` expanded."""
    files = set()
    for pattern in config.data:
        expanded = os.path.expandvars(os.path.expanduser(pattern))
        full = expanded if os.path.isabs(expanded) else str(config.root / expanded)
        for name in glob.glob(full, recursive=True):
            path = Path(name)
            if path.is_file():
                files.add(path.resolve())
            elif path.is_dir():
                files.update(child.resolve() for child in path.rglob("*") if child.is_file())
    return sorted(files)


def data_fingerprint(config: BookConfig, fingerprints: DataFingerprints) -> str:
    """One hash of the content of every file the book declares as data (its name and bytes)."""
    parts = [f"{path.name}:{fingerprints.of(path)}" for path in data_files(config)]
    fingerprints.save()
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


def key_inputs(tab: str, source_dir: str, kernel: str, env_hash: str, book_hash: str) -> dict:
    """What a notebook's outputs depend on besides its code (recorded in its store entry).

    ``source_dir`` is the notebook's working directory relative to the book
    (relative paths such as ``../data`` resolve from it); ``book_hash`` covers
    the library source and the declared data, computed once per run.
    """
    return {"tab": tab, "kernel": kernel, "env": env_hash, "book": book_hash, "cwd": source_dir}


# --------------------------------------------------------------------------- the plan


def plan(config: BookConfig, documents, tabs) -> list[Job]:
    """Convert every Document (``[(path, Document)]``) and key each notebook of ``tabs`` (no kernel needed)."""
    memo = DataFingerprints(store_dir() / "data-fingerprints.json")
    data = data_fingerprint(config, memo)
    book_hashes = {tab: hashlib.sha256(f"{library_source_hash(config, tab)}|{data}".encode()).hexdigest() for tab in tabs}
    env_hashes = {tab: requirements_hash(config.envs[tab]) for tab in tabs}
    jobs = []
    for path, document in documents:
        rel = source_rel(config, path)
        source_dir = source_rel(config, path.parent) if rel != path.name else "."
        name = config.notebook_name(path)
        for tab, nb in build_notebooks(config, document, tabs).items():
            inputs = key_inputs(tab, source_dir, config.envs[tab].kernel, env_hashes[tab], book_hashes[tab])
            key = key_of(code_of(nb), inputs)
            # The converted notebook (prose included) and its key: what its file in _build/eval is made of,
            # with the stderr lines its environment drops from stored outputs (tabbook.record).
            drop = list(config.envs[tab].drop_stderr)
            stamp = hashlib.sha256(json.dumps([key, nb, *([drop] if drop else [])], sort_keys=True).encode()).hexdigest()
            jobs.append(Job(path, rel, tab, name, nb, key, eval_path(config, tab, name), stamp, inputs))
    return jobs


def load_stored(store: Store, key: str, nb):
    """The valid stored execution for ``key`` whose code cells match ``nb``'s, or None."""
    stored = store.load(key)
    if stored is None or code_of(stored) != code_of(nb):
        return None
    return stored


def decide(config: BookConfig, jobs: list[Job], stamps: Stamps, store: Store, force: bool) -> list[Decision]:
    """What each job needs: nothing (CURRENT), writing (NO_CODE, STORED) or executing (STALE)."""
    decisions = []
    for job in jobs:
        execution = None if force else stamps.current(source_rel(config, job.target), job.stamp, job.target)
        if execution is not None:
            decisions.append(Decision(job, CURRENT, execution=execution))
        elif not job.has_code:
            decisions.append(Decision(job, NO_CODE))
        elif (stored := None if force else load_stored(store, job.key, job.nb)) is not None:
            decisions.append(Decision(job, STORED, stored=stored))
        else:
            decisions.append(Decision(job, STALE))
    return decisions


class Stamps:
    """What each file in ``_build/eval`` was made from (``_build/eval/stamps.json``): read here, written by ``tabbook.record``."""

    def __init__(self, path: Path):
        self.path = path
        self.entries = self._read()
        self.changes: dict[str, dict | None] = {}

    def _read(self) -> dict:
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            entries = {}
        # Anything but what we write (a hand edit, another tool) is dropped: it only costs a store read.
        items = entries.items() if isinstance(entries, dict) else []
        return {rel: entry for rel, entry in items if isinstance(entry, dict)}

    def _file_state(self, target: Path) -> list | None:
        """The file's size, mtime and a digest of its content: a file damaged in place with its size
        and time kept (a disk error, an editor that restores mtime) is not taken for the one recorded."""
        try:
            stat = target.stat()
            data = target.read_bytes()
        except OSError:
            return None
        return [stat.st_size, stat.st_mtime_ns, hashlib.sha256(data).hexdigest()]

    def current(self, rel: str, stamp: str, target: Path) -> dict | None:
        """The execution info recorded for ``target`` if it is still exactly what ``stamp`` makes.

        Size and mtime first (no read when they differ), then the content's digest: reading and
        hashing the whole of ``_build/eval`` (4 MB for the book) takes about 10 ms."""
        entry = self.entries.get(rel)
        if not entry or entry.get("stamp") != stamp or not isinstance(entry.get("file"), list):
            return None
        try:
            stat = target.stat()
        except OSError:
            return None
        if entry["file"][:2] != [stat.st_size, stat.st_mtime_ns] or entry["file"] != self._file_state(target):
            return None
        execution = entry.get("execution")
        return execution if isinstance(execution, dict) else {}

    def record(self, rel: str, stamp: str, target: Path, execution: dict) -> None:
        self.entries[rel] = self.changes[rel] = {"stamp": stamp, "file": self._file_state(target), "execution": execution}

    def forget(self, rel: str) -> None:
        self.entries.pop(rel, None)
        self.changes[rel] = None

    def save(self) -> None:
        """Write this run's changes over the file as it is now: a concurrent run's entries are kept."""
        entries = self._read()
        for rel, entry in self.changes.items():
            if entry is None:
                entries.pop(rel, None)
            else:
                entries[rel] = entry
        atomic_write(self.path, json.dumps(entries, indent=0, sort_keys=True) + "\n")
