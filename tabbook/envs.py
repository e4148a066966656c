"""Create the book's virtual environments (``make setup``).

One environment per ``[env-<name>]`` section of config.ini, built from its
pinned requirements file and keyed by a hash of that file (and the Python
version), under ``$TABBOOK_CACHE/envs`` (default ``~/.cache/tabbook/envs``):
fresh clones and CI reuse what an earlier setup built. Running it again
changes nothing that is already right, so it is cheap and idempotent.

The environments are shared by every clone of the book on the machine, so
nothing in them may point at one clone: a second clone's setup must not
change what the first clone's kernels import. So the checkout is never
installed into them; instead each process finds its own checkout:

- ``.venv`` links to the tool environment; ``.venv/bin/python -m tabbook``
  and ``-m pytest`` run from the book's root, which Python puts first on the
  path;
- ``tabbook run`` starts kernels with the checkout first on ``PYTHONPATH``;
- the registered kernels (one per framework, inside the tool environment,
  where its Jupyter finds them; the user's own Jupyter configuration is left
  alone) start through a launcher that puts first on the path the checkout
  holding the notebook's folder, so ``jupyter lab`` in any clone imports that
  clone's ``d2l``.

An editable install left in an environment by an older setup is removed.

Standard library only: it runs on the system Python before any environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tabbook.config import BookConfig, EnvSpec, load_config
from tabbook.errors import SourceError

COMPLETE_MARK = ".tabbook-complete"
# No bytecode compiled at install: Python compiles each module the first time it is imported (only
# what the book imports, a small part of torch, TensorFlow or JAX). Installing took half the time.
PIP_OPTIONS = ("--no-compile",)
TOOL_ENV = "tool"


def cache_dir() -> Path:
    """Where environments and the execution cache live, outside any checkout."""
    base = os.environ.get("TABBOOK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tabbook"
    )
    return Path(base)


def requirements_hash(spec: EnvSpec) -> str:
    """Hash of what the environment is built from: its requirements and the Python."""
    digest = hashlib.sha256()
    if spec.requirements is None:  # a tab without [env-<tab>]: the tool's own Python (config.DEFAULT_KERNEL)
        digest.update(f"{sys.executable}\0{spec.kernel}".encode())
    else:
        try:
            digest.update(spec.requirements.read_bytes())
        except OSError as exc:
            raise SourceError(spec.requirements, None, f"the requirements file of [env-{spec.name}] cannot be read ({exc.strerror}); fix its requirements = line in config.ini") from None
    if spec.no_deps:
        digest.update(b"no_deps")
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()[:16]


def env_dir(spec: EnvSpec) -> Path:
    return cache_dir() / "envs" / f"{spec.name}-{requirements_hash(spec)}"


def env_python(spec: EnvSpec) -> Path:
    return env_dir(spec) / "bin" / "python"


def _run_logged(command: list[str], log, start: float) -> None:
    """Run ``command``, writing each line of its output to ``log`` after the seconds since ``start``
    (so the log shows where the time goes: ``bench/setup_bench.py`` reads it)."""
    log.write(f"{time.perf_counter() - start:7.1f} $ {' '.join(command)}\n")
    log.flush()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        for line in proc.stdout:
            log.write(f"{time.perf_counter() - start:7.1f} {line}")
        log.flush()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, command)


def _pip(python: Path, spec: EnvSpec, *args: str, log, start: float) -> None:
    # The requirements file is also a constraints file on every pip call, so
    # no later install can move a pin (mxnet breaks if numpy moves).
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *PIP_OPTIONS, "-c", str(spec.requirements), *args]
    _run_logged(command, log, start)


def build_env(spec: EnvSpec) -> tuple[str, float, bool]:
    """Create ``spec``'s environment unless a complete one exists. Returns (name, seconds, built)."""
    start = time.perf_counter()
    target = env_dir(spec)
    if (target / COMPLETE_MARK).exists():
        return spec.name, 0.0, False
    if target.exists():  # a half-built environment from an interrupted setup
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    log_path = target.parent / f"{target.name}.log"
    with open(log_path, "w") as log:
        try:
            _run_logged([sys.executable, "-m", "venv", str(target)], log, start)
            no_deps = ("--no-deps",) if spec.no_deps else ()  # the file pins every package
            _pip(target / "bin" / "python", spec, *no_deps, "-r", str(spec.requirements), log=log, start=start)
        except subprocess.CalledProcessError:
            tail = "".join(log_path.read_text().splitlines(keepends=True)[-25:])
            raise SourceError(
                spec.requirements, None, f"creating the '{spec.name}' environment failed; last lines of {log_path}:\n{tail}"
            ) from None
    (target / COMPLETE_MARK).write_text(spec.requirements.read_text())
    return spec.name, time.perf_counter() - start, True


def remove_checkout_install(spec: EnvSpec) -> None:
    """Uninstall an editable install of a checkout that an older setup put into the shared environment."""
    target = env_dir(spec)
    stamp = target / ".tabbook-checkout"
    installed = list((target / "lib").glob("python*/site-packages/__editable__*d2l_mlp_book*"))
    if not stamp.exists() and not installed:
        return
    with open(target.parent / f"{target.name}.log", "a") as log:
        command = [str(target / "bin" / "python"), "-m", "pip", "uninstall", "--yes", "d2l-mlp-book"]
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    stamp.unlink(missing_ok=True)


def link_venv(config: BookConfig) -> None:
    """Point ``.venv`` at the tool environment, replacing any older link atomically."""
    link = config.root / ".venv"
    target = env_dir(config.envs[TOOL_ENV])
    if link.is_symlink() and os.readlink(link) == str(target):
        return
    if link.exists() and not link.is_symlink():
        raise SourceError(link, None, "exists and is not a link made by 'make setup'; move it away and run 'make setup' again")
    tmp = config.root / f".venv.tmp-{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)


# Run by each registered kernel before ipykernel: the checkout that holds the kernel's working
# directory (the notebook's folder) goes first on the path, for the kernel and its subprocesses.
KERNEL_LAUNCHER = """\
import os, sys
here = os.getcwd()
while True:
    if os.path.isfile(os.path.join(here, {config!r})) and os.path.isdir(os.path.join(here, {package!r})):
        sys.path.insert(0, here)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        break
    parent = os.path.dirname(here)
    if parent == here:
        break
    here = parent
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""


def kernel_spec(config: BookConfig, spec: EnvSpec) -> dict:
    """The kernelspec of one framework: the same for every clone, so clones never overwrite each other's."""
    launcher = KERNEL_LAUNCHER.format(config=config.config_path.name, package=config.library_package)
    return {
        "argv": [str(env_python(spec)), "-c", launcher, "-f", "{connection_file}"],
        "display_name": f"Python 3 (d2l, {spec.name})",
        "language": "python",
        "metadata": {"tabbook": {"env": spec.name, "requirements_hash": requirements_hash(spec)}},
    }


def register_kernels(config: BookConfig) -> None:
    """Write one kernelspec per framework into the tool environment's Jupyter path."""
    kernels = env_dir(config.envs[TOOL_ENV]) / "share" / "jupyter" / "kernels"
    for tab in config.tabs:
        spec = config.envs[tab]
        if spec.requirements is None:
            continue
        folder = kernels / spec.kernel
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(kernel_spec(config, spec), indent=1) + "\n"
        path = folder / "kernel.json"
        if path.exists() and path.read_text() == text:
            continue
        with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as out:
            out.write(text)
        os.replace(out.name, path)


def setup(config: BookConfig, names: list[str] | None = None, jobs: int = 0, build_only: bool = False) -> None:
    # a tab without [env-<tab>] runs in the tool's own Python: nothing to build
    wanted = [config.envs[name] for name in (names or config.envs) if config.envs[name].requirements]
    if TOOL_ENV not in config.envs:
        raise SourceError(config.config_path, None, f"config.ini has no [env-{TOOL_ENV}] section")
    for spec in wanted:
        if not spec.requirements.is_file():
            raise SourceError(config.config_path, None, f"[env-{spec.name}] requirements file {spec.requirements} does not exist")
    # Downloads dominate: building the environments side by side saves minutes.
    with ThreadPoolExecutor(max_workers=jobs or len(wanted)) as pool:
        for name, seconds, built in pool.map(build_env, wanted):
            state = f"built in {seconds:.0f} s" if built else "up to date"
            print(f"env {name:<11} {state}  {env_dir(config.envs[name])}", flush=True)
    if build_only:
        return
    for spec in wanted:
        remove_checkout_install(spec)
    link_venv(config)
    register_kernels(config)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tabbook.envs", description="Create the book's environments.")
    parser.add_argument("names", nargs="*", help="environments to create (default: all in config.ini)")
    parser.add_argument("--print-dir", metavar="NAME", help="print where environment NAME lives and exit")
    parser.add_argument("--build-only", action="store_true",
                        help="only build the environments: leave .venv and the registered kernels as they are")
    args = parser.parse_args(argv)
    try:
        config = load_config()
        if args.print_dir:
            print(env_dir(config.envs[args.print_dir]))
            return 0
        unknown = [name for name in args.names if name not in config.envs]
        if unknown:
            raise SourceError(config.config_path, None, f"no [env-{unknown[0]}] section; known: {', '.join(config.envs)}")
        setup(config, args.names or None, build_only=args.build_only)
    except SourceError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
