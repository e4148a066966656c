"""The chapter's plots, as the executed notebooks store them, are legible on a phone.

A phone shows a plot scaled down to the width of its text column (about 323 px on a 390 px screen; a
plot narrower than that keeps its size). Matplotlib's SVG gives the figure's width in points (96 px per
72 pt) and draws each piece of text as glyph outlines scaled by ``scale(s -s)``, where ``s`` is the font
size in points divided by 100. From both we get the size, in CSS pixels, of every legend's text on a
phone; it must be at least 9 px.
"""

from __future__ import annotations

import re

import pytest
from executed import TABS, claim, executed_notebook

PHONE_COLUMN_PX = 323
MIN_LEGEND_PX = 9
NAMES = ["mlp", "mlp-implementation", "numerical-stability-and-init", "generalization-deep", "dropout",
         "house-prices"]
_SVG_WIDTH = re.compile(r'<svg[^>]*\swidth="([\d.]+)pt"')
_LEGEND = re.compile(r'<g id="legend_\d+">(.*?)\n  </g>', re.DOTALL)
_GLYPH_SCALE = re.compile(r"scale\(([\d.]+) -[\d.]+\)")


def plots(tab: str, name: str) -> list[tuple[int, str]]:
    _, notebook = executed_notebook(tab, name)
    return [(index, output["data"]["image/svg+xml"]) for index, cell in enumerate(notebook.cells)
            for output in cell.get("outputs", []) if "image/svg+xml" in output.get("data", {})]


def legend_px_on_a_phone(svg: str) -> list[float]:
    """The font size in CSS pixels of every text of every legend of the plot, shown in a phone's column."""
    width_px = float(_SVG_WIDTH.search(svg).group(1)) * 96 / 72
    shrink = min(1.0, PHONE_COLUMN_PX / width_px)
    return [float(s) * 100 * 96 / 72 * shrink for legend in _LEGEND.findall(svg) for s in _GLYPH_SCALE.findall(legend)]


@pytest.mark.parametrize("tab", TABS)
@pytest.mark.parametrize("name", NAMES)
def test_legends_are_legible_on_a_phone(tab, name):
    found = plots(tab, name)
    assert found, f"{tab} {name}: no plot"
    small = {}
    for index, svg in found:
        sizes = legend_px_on_a_phone(svg)
        if sizes and min(sizes) < MIN_LEGEND_PX:
            small[index] = round(min(sizes), 1)
    assert not small, f"{tab} {name}: legend text under {MIN_LEGEND_PX} px on a phone in cells {small}"


def test_the_measure_sees_legends():
    # the sections with legends: at least one legend per notebook, so the test above measures something
    for name in ("mlp-implementation", "generalization-deep", "dropout", "house-prices"):
        assert any(legend_px_on_a_phone(svg) for _, svg in plots(TABS[0], name)), name


@pytest.mark.parametrize("tab", TABS)
def test_the_house_price_board_marks_its_tall_first_epoch(tab):
    """"In the first epoch the training loss starts far above where it ends": with ylim_from=1 the board
    fits its y-range to the points from epoch 1 on, and draws an open triangle on its upper edge only for
    an earlier point above that range."""
    claim("house-prices", r"In the first epoch the training loss starts far above where it ends")
    (_, svg), = [(i, s) for i, s in plots(tab, "house-prices")]
    # matplotlib writes a marker as a path in <defs> and uses it per point; '^' is the triangle up
    assert re.search(r'<path id="m[0-9a-f]+" d="M 0 -3 \nL -3 3 \nL 3 3 \nz\n"', svg), f"{tab}: no open triangle"
