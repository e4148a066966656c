"""What a long run is doing: running, done, failed, and the time left.

A book of hundreds of notebooks runs for hours, so ``tabbook run`` says at every
moment which notebooks are running, how many are done or failed, and about
how long the rest will take. The estimate comes from recorded times (the last
summary or ``timings.json``): the notebooks still queued are dealt out in run
order to whichever worker frees up first, each taking its recorded time, and
the running ones take what is left of theirs.

On a terminal it is a live tqdm bar under the per-notebook lines. Elsewhere
(CI logs, a pipe) it prints plain lines: one when a notebook starts, and the
progress at the end of the line of each that finishes.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Hashable, Iterable, Mapping
from contextlib import contextmanager


def time_left(running_left: Iterable[float], queued: Iterable[float], workers: int) -> float:
    """Seconds until the last notebook ends, if each takes its expected time.

    ``running_left``: what the running notebooks still need; ``queued``: the
    expected times of those not started, in the order they will start; each
    starts on the first of ``workers`` slots to come free.
    """
    running = sorted(max(0.0, left) for left in running_left)
    slots = running + [0.0] * max(0, workers - len(running))
    heapq.heapify(slots)
    for seconds in queued:
        heapq.heappush(slots, heapq.heappop(slots) + seconds)
    return max(slots, default=0.0)


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Progress of the notebooks a run executes.

    ``expected`` maps each notebook's key to (its label, its expected seconds,
    its lane), in the order they will start; ``workers`` gives each lane's
    width (the CPU, and the GPUs where there are any). ``start`` and
    ``finish`` may be called from any thread.
    """

    def __init__(
        self,
        out,
        expected: Mapping[Hashable, tuple[str, float, Hashable]],
        workers: Mapping[Hashable, int],
        live: bool | None = None,
        clock=time.monotonic,
    ):
        self.out = out
        self.expected = dict(expected)
        self.workers = dict(workers)
        self.clock = clock
        self.running: dict[Hashable, float] = {}  # key -> when it started
        self.finished: set[Hashable] = set()
        self.done = 0
        self.failed = 0
        self._lock = threading.RLock()
        self.live = out.isatty() if live is None and hasattr(out, "isatty") else bool(live)
        self._bar = None
        self._stop = threading.Event()
        if self.live:
            from tqdm import tqdm

            self._bar = tqdm(
                total=len(self.expected),
                file=out,
                unit="nb",
                dynamic_ncols=True,
                bar_format="{n_fmt}/{total_fmt} {bar} {desc}",
            )
            self._ticker = threading.Thread(target=self._tick, name="tabbook-progress", daemon=True)
            self._ticker.start()

    # ----------------------------------------------------------------- state

    def time_left(self) -> float:
        """The estimate over all lanes: the lane that ends last."""
        with self._lock:
            now = self.clock()
            lanes = {}
            for key, (_label, seconds, lane) in self.expected.items():
                running, queued = lanes.setdefault(lane, ([], []))
                if key in self.running:
                    running.append(seconds - (now - self.running[key]))
                elif key not in self.finished:
                    queued.append(seconds)
            return max(
                (time_left(running, queued, self.workers.get(lane, 1)) for lane, (running, queued) in lanes.items()),
                default=0.0,
            )

    def status(self) -> str:
        """One line: counts, what is running, the time left."""
        with self._lock:
            parts = [f"{self.done}/{len(self.expected)} done"]
            if self.failed:
                parts.append(f"{self.failed} failed")
            if self.running:
                names = [self.expected[key][0] for key in self.running]
                shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                parts.append(f"running {shown}")
            if self.done < len(self.expected):
                parts.append(f"about {format_duration(self.time_left())} left")
            return "; ".join(parts)

    # ----------------------------------------------------------------- events

    def start(self, key: Hashable, line: str | None = None) -> None:
        """``key`` started; plain output prints ``line`` (default: ``started`` and its label)."""
        with self._lock:
            self.running[key] = self.clock()
            if self._bar is not None:
                self._refresh()
            else:
                self._print(line or f"{'started':>10}  {self.expected[key][0]}")

    @contextmanager
    def running_while(self, key: Hashable, line: str | None = None):
        """``start`` on entering and ``ended`` on leaving: the kernel's lifetime."""
        self.start(key, line)
        try:
            yield
        finally:
            self.ended(key)

    def ended(self, key: Hashable) -> None:
        """``key``'s kernel is done: it no longer counts as running or left to do (``finish`` reports it)."""
        with self._lock:
            self.running.pop(key, None)
            self.finished.add(key)

    def finish(self, key: Hashable, line: str, failed: bool = False) -> None:
        """``key`` ended: print its line (with the progress after it, in plain output)."""
        with self._lock:
            self.running.pop(key, None)
            self.finished.add(key)
            self.done += 1
            self.failed += bool(failed)
            if self._bar is not None:
                self._bar.write(line, file=self.out)
                self._bar.update(1)
                self._refresh()
            else:
                self._print(f"{line}  [{self.status()}]")

    def close(self) -> None:
        self._stop.set()
        if self._bar is not None:
            with self._lock:
                self._bar.close()

    # ----------------------------------------------------------------- output

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _refresh(self) -> None:
        counts = f"{self.failed} failed; " if self.failed else ""
        running = ", ".join(self.expected[key][0] for key in self.running) or "-"
        left = format_duration(self.time_left())
        self._bar.set_description_str(f"{counts}about {left} left; running {running}", refresh=True)

    def _tick(self) -> None:
        """The time left changes while nothing finishes: redraw once a second."""
        while not self._stop.wait(1.0):
            with self._lock:
                if self._bar is not None and not self._bar.disable:
                    self._refresh()
