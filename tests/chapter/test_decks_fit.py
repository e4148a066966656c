"""Every slide of our book's decks fits its 1280 x 720 frame (`make slides` writes them from the executed notebooks).

Each deck is stepped through in Chromium (tests/deck_fit.py): no slide reaches past
its frame, nothing scrolls inside a slide, every plot loads, and code keeps its
18 px type. Before the tool packed the slides, the PyTorch deck of 1.1 had 4
slides, one of them 2,881 px tall.
"""

from __future__ import annotations

import pytest
from deck_fit import measure_decks
from executed import CONFIG, TABS

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("tab", TABS)
def test_every_slide_of_every_deck_fits_its_frame(tab, browser):
    decks = sorted((CONFIG.build_dir / "slides" / tab).rglob("*.html"))
    if not decks:
        pytest.fail(f"no decks under {CONFIG.build_dir / 'slides' / tab}: run make slides first")
    measured = measure_decks(browser, decks)
    assert [problem for deck in measured for problem in deck.problems] == []
    for deck in measured:
        assert deck.frame == (1280, 720)
        assert deck.tallest <= 720 and min(deck.code_fonts, default=18) >= 16
