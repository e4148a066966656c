"""Tests of tabbook.progress: the time-left estimate and the plain and live displays."""

from __future__ import annotations

import io

import pytest

from tabbook.progress import Progress, format_duration, time_left


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_time_left_deals_queued_notebooks_to_the_first_free_worker():
    assert time_left([], [], 2) == 0
    assert time_left([], [10, 10, 10, 10], 2) == 20
    assert time_left([], [30, 10, 10, 10], 2) == 30  # the 10s fill in beside the 30
    assert time_left([5], [10], 1) == 15  # one worker: the queue waits for the running one
    assert time_left([5, 1], [10], 2) == 11  # starts when the 1 s one ends
    assert time_left([-3], [4], 1) == 4  # overdue counts as ending now
    assert time_left([], [7, 7, 7], 8) == 7  # more workers than notebooks


@pytest.mark.parametrize(
    "seconds, text", [(0, "0 s"), (59.4, "59 s"), (61, "1 min 01 s"), (3599, "59 min 59 s"), (7380, "2 h 03 min")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def make(out, clock, live=None, workers=None):
    expected = {
        "a": ("pytorch chapter/a", 30.0, False),
        "b": ("jax chapter/a", 10.0, False),
        "c": ("jax chapter/b", 10.0, False),
    }
    return Progress(out, expected, workers or {False: 2}, live=live, clock=clock)


def test_plain_output_when_not_a_terminal():
    out, clock = io.StringIO(), Clock()
    progress = make(out, clock)
    assert not progress.live
    assert progress.time_left() == 30
    progress.start("a")
    progress.start("b")
    clock.now += 4
    assert progress.time_left() == 26  # a: 26 left; b: 6 left, then c's 10 s
    progress.finish("b", "     4.0 s  jax         chapter/a")
    progress.start("c")
    clock.now += 10
    progress.finish("c", "    FAILED  jax         chapter/b", failed=True)
    clock.now += 20
    progress.finish("a", "    34.0 s  pytorch     chapter/a")
    progress.close()
    assert out.getvalue().splitlines() == [
        "   started  pytorch chapter/a",
        "   started  jax chapter/a",
        "     4.0 s  jax         chapter/a  [1/3 done; running pytorch chapter/a; about 26 s left]",
        "   started  jax chapter/b",
        "    FAILED  jax         chapter/b  [2/3 done; 1 failed; running pytorch chapter/a; about 16 s left]",
        "    34.0 s  pytorch     chapter/a  [3/3 done; 1 failed]",
    ]
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()  # nothing for a terminal only


def test_lanes_are_estimated_separately():
    out, clock = io.StringIO(), Clock()
    expected = {"g1": ("g1", 60.0, True), "g2": ("g2", 60.0, True), "c1": ("c1", 5.0, False)}
    progress = Progress(out, expected, {True: 1, False: 4}, clock=clock)
    assert progress.time_left() == 120  # one GPU: the two GPU notebooks one after the other


def test_live_display_on_a_terminal_shows_running_done_failed_and_time_left():
    out, clock = Terminal(), Clock()
    progress = make(out, clock)
    assert progress.live
    progress.start("a")
    progress.start("b")
    progress.finish("b", "    FAILED  jax         chapter/a", failed=True)
    text = out.getvalue()
    assert "    FAILED  jax         chapter/a\n" in text  # the notebook's own line, above the bar
    assert "1/3" in text and "1 failed" in text and "running pytorch chapter/a" in text and "left" in text
    progress.close()
    assert "started" not in out.getvalue()  # no plain lines on a terminal


def test_a_notebook_stops_counting_as_running_when_its_kernel_ends():
    out, clock = io.StringIO(), Clock()
    progress = make(out, clock, workers={False: 1})
    with progress.running_while("a"):
        assert "running pytorch chapter/a" in progress.status()
    assert "running" not in progress.status()  # ended, not yet reported
    assert progress.time_left() == 20  # b and c, one after the other
    progress.finish("a", "    30.0 s  pytorch     chapter/a")
    assert out.getvalue().splitlines()[-1].endswith("[1/3 done; about 20 s left]")
