"""The live preview in a child process, as an author runs it: for the serve tests and the benchmark.

Moved out of ``tabbook.serve`` (a tool module must not carry its own test harness).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class PrintedLines:
    """The lines a process prints, read in a thread as they come; :meth:`wait_for` finds them."""

    def __init__(self, stream):
        self.output: list[str] = []
        self._seen = 0  # lines before this one are behind the last match of wait_for
        self._printed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._printed:
                self.output.append(line)
                self._printed.notify_all()

    def wait_for(self, pattern: str, timeout: float, anywhere: bool = False):
        """The match of the next line matching ``pattern`` (AssertionError after ``timeout`` s).

        With ``anywhere``, lines printed before the last match count too: for what may be
        printed before or after it (the start's run ends before or after the address is printed)."""
        deadline = time.monotonic() + timeout
        with self._printed:
            index = 0 if anywhere else self._seen
            while True:
                while index < len(self.output):
                    match = re.search(pattern, self.output[index])
                    index += 1
                    if match:
                        self._seen = max(self._seen, index)
                        return match
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line matching {pattern!r} in {timeout} s; output:\n{''.join(self.output)}")
                self._printed.wait(left)


class ServeProcess:
    """``python -m tabbook serve --port 0 ARGS`` in ``book``, in a child process (tests, benchmark).

    Its output is collected line by line (:meth:`wait_for`, ``output``); ``cache`` is its
    ``TABBOOK_CACHE`` (the store), when given.
    """

    def __init__(self, book: Path, cache: Path | None, *args: str, start_timeout: float = 60):
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        if cache is not None:
            env["TABBOOK_CACHE"] = str(cache)
        env.pop("D2L_DATA", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tabbook", "serve", "--port", "0", *args],
            cwd=book,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = PrintedLines(self.process.stdout)
        self.output = self.lines.output
        self.wait_for = self.lines.wait_for
        self.url = self.wait_for(r"serve: (http://127\.0\.0\.1:\d+/)", start_timeout).group(1)

    def stop(self) -> int:
        """Ctrl-C, as an author stops it; killed if it has not ended in 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
