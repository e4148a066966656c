"""Plotting: headless in scripts, lazy and in-place in notebooks (one final figure per cell)."""

import inspect
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from d2l import _common

ROOT = Path(__file__).resolve().parents[2]
TOOL_PYTHON = ROOT / '.venv' / 'bin' / 'python'
MODULE = {'pytorch': 'torch', 'mxnet': 'mxnet', 'jax': 'jax', 'tensorflow': 'tensorflow'}


@pytest.mark.slow  # a fresh framework process
def test_scripts_plot_headless(framework, tmp_path):
    """A script without a display or MPLBACKEND draws with Agg, prints nothing and can save figures."""
    script = f"""
from d2l import {MODULE[framework]} as d2l
import matplotlib
x = d2l.arange(0, 3, 0.5)
d2l.plot(x, [d2l.exp(x), x], 'x', 'f(x)', legend=['exp', 'x'])
d2l.plot([1, 4, 9])
board = d2l.ProgressBoard('step')
for i in range(10):
    board.draw(i, d2l.tensor(float(i)), 'line', every_n=2)
board.fig.savefig({str(tmp_path / 'board.png')!r})
d2l.plt.savefig({str(tmp_path / 'plot.svg')!r})
print(matplotlib.get_backend())
"""
    env = {k: v for k, v in os.environ.items() if k not in ('MPLBACKEND', 'DISPLAY')}
    env['PYTHONPATH'] = str(ROOT)
    result = subprocess.run([sys.executable, '-c', script], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().lower() == 'agg'
    assert (tmp_path / 'board.png').stat().st_size > 0 and (tmp_path / 'plot.svg').stat().st_size > 0


class CountedValue:
    """A stand-in for a device tensor that counts its conversions to numpy (each one a device sync)."""

    conversions = 0

    def __init__(self, value):
        self.value = value

    def __add__(self, other):  # like a tensor: adding does not convert
        return CountedValue(self.value + other.value)

    def __array__(self, dtype=None, copy=None):
        CountedValue.conversions += 1
        return np.asarray(self.value, dtype=dtype)


def test_board_converts_values_once_and_only_when_it_draws():
    """In a script the board draws when its figure is read; each plotted point is converted once."""
    CountedValue.conversions = 0
    board = _common.ProgressBoard('x')
    for i in range(10):
        board.draw(i, CountedValue(i), 'y', every_n=10)
    assert CountedValue.conversions == 0 and board._fig is None  # stored, not converted, not drawn
    line = board.fig.gca().get_lines()[0]
    assert CountedValue.conversions == 1  # the mean of ten values, converted once
    assert line.get_xdata().tolist() == [4.5]
    for i in range(10, 20):
        board.draw(i, CountedValue(i), 'y', every_n=10)
    assert CountedValue.conversions == 1
    assert board.fig.gca().get_lines()[0].get_xdata().tolist() == [4.5, 14.5]
    assert CountedValue.conversions == 2  # earlier points are not converted again
    xs, ys = board.points('y')
    assert xs.tolist() == [4.5, 14.5] and ys.tolist() == [4.5, 14.5]


def test_board_without_display_never_draws():
    board = _common.ProgressBoard('x', display=False)
    for i in range(20):
        board.draw(i, i, 'y', every_n=5)
    assert board.fig is None
    assert board.points('y')[1].tolist() == [2.0, 7.0, 12.0, 17.0]


def test_plot_accepts_tensors_lists_and_single_curves(d2l):
    fig = _common.plt.figure()
    axes = fig.gca()
    x = d2l.arange(0, 5)
    d2l.plot(x, [x, d2l.ones_like(x)], axes=axes)
    assert len(axes.get_lines()) == 2
    d2l.plot([3, 1, 2], axes=axes)  # Y=None: against the index
    assert axes.get_lines()[0].get_xdata().tolist() == [0, 1, 2]
    _common.plt.close(fig)


NOTEBOOK_CELLS = [
    "from d2l import {module} as d2l\nimport numpy as np\nprint('before')",
    "board = d2l.ProgressBoard('x')\nfor x in np.arange(0, 10, 0.1):\n"
    "    board.draw(x, np.sin(x), 'sin', every_n=2)\n    board.draw(x, np.cos(x), 'cos', every_n=10)",
    # the figure shows every point drawn in the cell above (a pending redraw runs when the cell ends)
    "print(len(board.fig.axes[0].get_lines()[0].get_xdata()))",
    "model = d2l.LinearRegressionScratch(2, lr=0.03)\ndata = d2l.SyntheticRegressionData(w=d2l.tensor([2, -3.4]), b=4.2)\n"
    "trainer = d2l.Trainer(max_epochs=3)\nprint('training')\ntrainer.fit(model, data)",
]


@pytest.mark.slow  # a real kernel
def test_executed_notebook_keeps_one_figure_per_cell(framework, tmp_path):
    """Redraws update one display output in place, so nbclient records one figure per cell."""
    if not TOOL_PYTHON.exists():
        pytest.skip('no tool environment (.venv) with nbclient: run make setup')
    path = tmp_path / 'cells.json'
    path.write_text(json.dumps([c.format(module=MODULE[framework]) for c in NOTEBOOK_CELLS]))
    result = subprocess.run([str(TOOL_PYTHON), str(Path(__file__).parent / 'run_notebook.py'), str(path),
                             sys.executable], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout)
    assert [o['text'] for o in outputs[0] if o['output_type'] == 'stream'] == ['before\n']
    assert outputs[2] == [{'name': 'stdout', 'output_type': 'stream', 'text': '50\n'}]
    for cell in (outputs[1], outputs[3]):
        figures = [o for o in cell if o['output_type'] in ('display_data', 'execute_result')]
        assert len(figures) == 1, [o['output_type'] for o in cell]
        assert 'image/svg+xml' in figures[0]['data']
    svg = outputs[1][-1]['data']['image/svg+xml']
    assert 'sin' in svg and 'cos' in svg  # the final figure has both curves' legend
    assert any(o.get('text') == 'training\n' for o in outputs[3])  # printed text is kept
    assert 'train_loss' in outputs[3][-1]['data']['image/svg+xml']


# ------------------------------------------------------------------ a first epoch far above the rest

def _board_with_a_tall_first_epoch(ylim_from=None, **kwargs):
    """A board whose training loss is 50 at x = 0.5 and then falls from 0.3 to 0.1 (x = 1 .. 11)."""
    board = _common.ProgressBoard('epoch', **kwargs)
    if ylim_from is not None:
        board.ylim_from = ylim_from
    losses = [50.0] + [0.3 - 0.01 * i for i in range(21)]
    for i, loss in enumerate(losses):
        board.draw((i + 1) / 2, loss, 'train_loss')
    for epoch in range(1, 12):
        board.draw(epoch, 0.4 - 0.01 * epoch, 'val_loss')
    return board


def test_by_default_the_first_epoch_sets_the_range():
    board = _board_with_a_tall_first_epoch()
    assert board.ylim_from is None and 'ylim_from' not in inspect.signature(_common.ProgressBoard).parameters
    low, high = board.fig.gca().get_ylim()
    assert high >= 50  # the later curve is squashed into the bottom 1% of the plot
    _common.plt.close(board.fig)


def test_ylim_from_fits_the_range_to_the_later_points_and_marks_the_earlier_ones():
    board = _board_with_a_tall_first_epoch(ylim_from=1)
    axes = board.fig.gca()
    low, high = axes.get_ylim()
    # the range covers every point from x = 1 on (0.1 .. 0.39), with a margin, and nothing much more
    assert low < 0.11 and 0.39 < high < 0.45, (low, high)
    # the point before x = 1 (50 at 0.5) is marked by one open triangle on the upper edge, in the curve's colour
    marks = [line for line in axes.get_lines() if line.get_marker() == '^' and len(line.get_xdata())]
    assert len(marks) == 1
    assert marks[0].get_xdata().tolist() == [0.5] and marks[0].get_ydata().tolist() == [high]
    assert marks[0].get_color() == axes.get_lines()[0].get_color() and not marks[0].get_clip_on()
    # the legend still names the two curves, and only them
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ['train_loss', 'val_loss']
    _common.plt.close(board.fig)


def test_ylim_from_on_a_log_axis_and_an_explicit_ylim_wins():
    board = _board_with_a_tall_first_epoch(ylim_from=1, yscale='log')
    low, high = board.fig.gca().get_ylim()
    assert 0.09 < low < 0.1 and 0.39 < high < 0.45, (low, high)
    _common.plt.close(board.fig)
    board = _board_with_a_tall_first_epoch(ylim_from=1, ylim=[0, 100])
    assert board.fig.gca().get_ylim() == (0, 100)
    _common.plt.close(board.fig)


# ------------------------------------------------------------------ legible on a phone

PHONE_COLUMN_PX = 323  # the text column of a 390 px phone screen, where the book scales plots down
MIN_LEGEND_PX = 9


def legend_px_on_a_phone(fig):
    """The font size, in CSS pixels, of the smallest legend text of ``fig`` when the book shows the
    figure as the notebook stores it (SVG cropped to its content, as the inline backend does, at
    72 pt per inch = 96 px per inch) scaled down to fit a phone's column."""
    buffer = io.StringIO()
    fig.savefig(buffer, format='svg', bbox_inches='tight')
    width_pt = float(re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', buffer.getvalue()).group(1))
    shown_px = min(PHONE_COLUMN_PX, width_pt * 96 / 72)
    sizes = [text.get_fontsize() for axes in fig.axes if axes.get_legend()
             for text in axes.get_legend().get_texts()]
    assert sizes, 'the figure has no legend'
    return min(sizes) * 96 / 72 * shown_px / (width_pt * 96 / 72)


def test_a_default_plot_keeps_its_legend_legible_on_a_phone():
    fig = _common.plt.figure()
    _common.plot(np.arange(10), [np.arange(10) ** 2, np.arange(10)], 'x', 'f(x)', legend=['square', 'identity'])
    assert legend_px_on_a_phone(_common.plt.gcf()) >= MIN_LEGEND_PX
    _common.plt.close('all')
    del fig


def test_the_progress_board_keeps_its_legend_legible_on_a_phone():
    board = _common.ProgressBoard('epoch')
    for epoch in range(1, 11):  # what a Classifier draws: three curves, their legend in one row below
        for name, value in (('train_loss', 1 / epoch), ('val_loss', 1.1 / epoch), ('val_acc', 1 - 0.5 / epoch)):
            board.draw(epoch, value, name)
    assert legend_px_on_a_phone(board.fig) >= MIN_LEGEND_PX
    _common.plt.close(board.fig)


def test_the_measure_fails_a_wide_figure():
    """A figure twice as wide as d2l's default, at matplotlib's default 10 pt, is shrunk below 9 px."""
    fig, axes = _common.plt.subplots(figsize=(8, 3))
    axes.plot([0, 1], [0, 1], label='line')
    axes.legend(fontsize=10)
    assert legend_px_on_a_phone(fig) < MIN_LEGEND_PX
    _common.plt.close(fig)
