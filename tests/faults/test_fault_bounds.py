"""Bounded work from untrusted outputs (issue 22, "Unbounded work"): the work grows with the input, and
every notebook's outputs have a budget.

The work is bounded by comparing the time at n and at 16n (a linear path takes about 16 times as
long, a quadratic one 256 times), not by a wall-clock limit the loaded test machine could miss.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabbook.outputs import OutputRenderer, cut_outputs, output_size, terminal_text

pytestmark = pytest.mark.timeout(120)  # a quadratic path at these sizes runs for hours

# The expression the renderer used before (quadratic in the length of a line).
_OLD_CARRIAGE_RETURN = re.compile(r"[^\n]*\r(?!\n)")


FACTOR = 16  # linear work grows 16 times, quadratic work 256 times
LINEAR = 64  # the bound between them: far from both, whatever the load on the machine


def _growth(make_input, work, n: int, rounds: int = 8, tries: int = 9) -> float:
    """How much longer ``work`` takes on an input ``FACTOR`` times as large. The two are timed
    in turns and the fastest of each is compared: a busy machine slows some turns, never all
    (the small input is done ``FACTOR`` times as often, so both timings cover the same bytes)."""
    small, large = make_input(n), make_input(FACTOR * n)
    small_times, large_times = [], []
    for _ in range(tries):
        started = time.perf_counter()
        for _ in range(FACTOR * rounds):
            work(small)
        small_times.append((time.perf_counter() - started) / FACTOR)
        started = time.perf_counter()
        for _ in range(rounds):
            work(large)
        large_times.append(time.perf_counter() - started)
    return min(large_times) / max(min(small_times), 1e-9)


@given(text=st.text("ab\r\n", max_size=30))
@settings(max_examples=2000, deadline=None)
def test_carriage_returns_are_read_as_before(text):
    assert terminal_text(text) == _OLD_CARRIAGE_RETURN.sub("", text)


def test_progress_bars_keep_their_last_state():
    assert terminal_text("epoch 1\r 10%\r 50%\r100%\ndone\r\n") == "100%\ndone\r\n"


def test_a_long_output_line_renders_in_linear_time():
    """One 1.5 MB line did not render in 300 s (the regular expression backtracked over the line at every character)."""
    renderer = OutputRenderer(40, max_output_mb=100)

    def render(text):
        renderer.render_one({"output_type": "stream", "name": "stdout", "text": text})

    def long_line(n):
        return "x" * n + "\r\n" + "\x1b[31mred\x1b[0m 50%\r100%\n"

    growth = _growth(long_line, render, 25_000)
    assert growth < LINEAR, f"{FACTOR} times the input took {growth:.1f} times as long (linear: about {FACTOR}, quadratic: {FACTOR ** 2})"
    # ... and a million progress-bar redraws too.
    growth = _growth(lambda n: "step\r" * (n // 5) + "\n", render, 25_000)
    assert growth < LINEAR, growth


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _notebook(outputs_per_cell: list[list[dict]]) -> dict:
    return {"cells": [{"cell_type": "code", "source": "", "outputs": outputs} for outputs in outputs_per_cell]}


def test_a_long_log_in_many_pieces_is_cut_to_its_first_and_last_lines():
    """A 200,000-line log arrived as 16 stream outputs, each under the size limit: none was cut."""
    lines = [f"step {i}: loss {1 / (i + 1):.6f}" for i in range(200_000)]
    pieces = [_stream("\n".join(lines[i : i + 12_500]) + "\n") for i in range(0, 200_000, 12_500)]
    nb = _notebook([pieces])
    cut = cut_outputs(nb, 4_000_000, 20_000_000, 10_000)
    [output] = nb["cells"][0]["outputs"]
    shown = output["text"].splitlines()
    assert len(shown) == 10_001  # 10,000 lines and the note
    assert shown[0] == "step 0: loss 1.000000" and shown[-1] == lines[-1]
    assert "190,000 lines" in shown[5_000] and "max_output_lines" in shown[5_000]
    assert cut > 0 and output_size(output) < sum(map(output_size, pieces)) / 10


def test_short_streams_are_left_as_they_came():
    pieces = [_stream("a\n"), {"output_type": "stream", "name": "stderr", "text": "warn\n"}, _stream("b\n")]
    nb = _notebook([list(pieces)])
    assert cut_outputs(nb, 4_000_000, 20_000_000, 10_000) == 0
    assert nb["cells"][0]["outputs"] == pieces


def test_a_notebook_has_one_output_budget():
    """40 outputs of 3.9 MB made a 156 MB store entry and page: each was under the limit of one output."""
    big = "y" * 3_900_000
    nb = _notebook([[_stream(big)] for _ in range(40)])
    cut = cut_outputs(nb, 4_000_000, 20_000_000, 10_000)
    sizes = [sum(output_size(output) for output in cell["outputs"]) for cell in nb["cells"]]
    assert sum(sizes) <= 20_000_000 + 40 * 300  # the budget, and a short note in each cell that lost its output
    assert sizes[:5] == [3_900_000] * 5  # the first outputs are kept whole
    assert "max_notebook_output_mb" in nb["cells"][-1]["outputs"][-1]["text"]
    assert cut >= 40 * 3_900_000 - 20_000_000 - 1_000  # the notes that stand for the cut count too


def test_cutting_outputs_is_linear_in_their_size():
    def notebook(n):
        return _notebook([[_stream("line\n" * (n // 5))] for _ in range(8)])

    growth = _growth(lambda n: n, lambda n: cut_outputs(notebook(n), 4_000_000, 20_000_000, 10_000), 10_000, rounds=2)
    assert growth < LINEAR, growth


def test_an_error_is_shown_even_past_the_budget():
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": ["ValueError: bad"]}
    nb = _notebook([[_stream("y" * 3_000_000)], [_stream("z" * 3_000_000), error]])
    cut_outputs(nb, 4_000_000, 4_000_000, 10_000)
    stream, shown_error = nb["cells"][1]["outputs"]
    assert shown_error == error
    assert "max_notebook_output_mb" in stream["text"] and "max_output_mb" not in stream["text"]  # the note names the budget
