"""Where ``make setup``'s environments spend their time on a machine that has none.

    python3 bench/setup_bench.py [--pip-cache] [--keep] [NAMES ...]

Builds the environments of config.ini (or NAMES) with ``python3 -m tabbook.envs --build-only`` into
a fresh ``TABBOOK_CACHE`` under /tmp, with pip's cache off (``PIP_NO_CACHE_DIR=1``, as on a fresh
machine; ``--pip-cache`` gives pip a fresh cache of its own instead), then reads each environment's
log, whose lines carry the seconds since its build started, and prints per environment: the
virtual environment, finding and downloading the packages (pip's resolution), building wheels from
source distributions, installing them, and what came from the network and from this machine's local
wheels. The temporary cache is deleted unless ``--keep``. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^\s*(\d+\.\d)\s(.*)$")


def phases(log: Path) -> dict:
    """Seconds of each phase of one environment's build, from its time-stamped log."""
    marks = {}
    downloads = local = 0
    megabytes = 0.0
    for line in log.read_text(errors="replace").splitlines():
        match = STAMP.match(line)
        if not match:
            continue
        seconds, text = float(match.group(1)), match.group(2)
        if text.startswith("$ ") and " pip install " in text:
            marks.setdefault("pip", seconds)
        elif text.startswith("Building wheels for collected packages"):
            marks.setdefault("build", seconds)
        elif text.startswith("Installing collected packages"):
            marks.setdefault("install", seconds)
        elif text.startswith("Successfully installed"):
            marks.setdefault("done", seconds)
        elif text.lstrip().startswith("Downloading "):
            downloads += 1
            size = re.search(r"\(([\d.]+) (kB|MB|GB)\)", text)
            if size:
                megabytes += float(size.group(1)) * {"kB": 1e-3, "MB": 1, "GB": 1e3}[size.group(2)]
        elif text.startswith("Processing /opt/") or text.startswith("Processing ./"):
            local += 1
    pip, done = marks.get("pip", 0.0), marks.get("done", 0.0)
    install = marks.get("install", done)
    build = marks.get("build", install)
    return {"venv": pip, "resolve+download": build - pip, "build wheels": install - build,
            "install": done - install, "total": done, "downloads": downloads, "MB": megabytes, "local": local}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="environments to build (default: all of config.ini)")
    parser.add_argument("--pip-cache", action="store_true", help="a fresh pip cache instead of none")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cache (its path is printed)")
    args = parser.parse_args(argv)
    cache = Path(tempfile.mkdtemp(prefix="tabbook-setup-bench-"))
    env = dict(os.environ, TABBOOK_CACHE=str(cache))
    env.pop("PIP_NO_CACHE_DIR", None)
    if args.pip_cache:
        env["PIP_CACHE_DIR"] = str(cache / "pip")
    else:
        env["PIP_NO_CACHE_DIR"] = "1"
    load = os.getloadavg()
    start = time.perf_counter()
    try:
        result = subprocess.run([sys.executable, "-m", "tabbook.envs", "--build-only", *args.names], cwd=ROOT, env=env)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            return result.returncode
        load = [max(a, b) for a, b in zip(load, os.getloadavg(), strict=True)]
        print(f"\nsetup benchmark: environments built side by side into an empty TABBOOK_CACHE, pip cache "
              f"{'fresh' if args.pip_cache else 'off'}; {os.cpu_count()} CPUs; load average (highest seen "
              f"before and after) {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"all environments: {seconds:.0f} s\n")
        columns = ["venv", "resolve+download", "build wheels", "install", "total"]
        print(f"| {'environment':<11} | " + " | ".join(f"{c:>16}" for c in columns)
              + " | downloads (MB) | local wheels |")
        print("|" + "|".join("-" * (n + 2) for n in [11] + [16] * len(columns) + [14, 12]) + "|")
        for log in sorted((cache / "envs").glob("*.log")):
            p = phases(log)
            name = log.stem.rsplit("-", 1)[0]
            print(f"| {name:<11} | " + " | ".join(f"{p[c]:>14.1f} s" for c in columns)
                  + f" | {p['downloads']:>4} ({p['MB']:>6.1f}) | {p['local']:>12} |")
    finally:
        if args.keep:
            print(f"\nkept: {cache}")
        else:
            shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
