"""Stepping through slide decks in Chromium and measuring every slide against its frame.

For tests/test_slides.py (the slide fixture book) and tests/chapter/test_decks_fit.py
(our book's decks). A slide fits when nothing on it reaches past its frame (the
deck's width x height, whatever reveal.js scales it to), nothing scrolls inside
it, and its plots have loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

_MEASURE = """() => {
  const slide = Reveal.getCurrentSlide();
  const scale = Reveal.getScale();
  const box = slide.getBoundingClientRect();
  const {width, height} = Reveal.getConfig();
  const problems = [];
  let bottom = 0, right = 0;
  for (const element of slide.querySelectorAll('*')) {
    const r = element.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    bottom = Math.max(bottom, (r.bottom - box.top) / scale);
    right = Math.max(right, (r.right - box.left) / scale);
    const style = getComputedStyle(element);
    const scrolls = (style.overflowX !== 'visible' && element.scrollWidth > element.clientWidth + 1)
                 || (style.overflowY !== 'visible' && element.scrollHeight > element.clientHeight + 1);
    if (scrolls) problems.push(`${element.tagName.toLowerCase()}.${element.className} scrolls inside the slide`);
  }
  if (bottom > height + 1) problems.push(`content reaches ${Math.round(bottom)} px of a ${height} px frame`);
  if (right > width + 1) problems.push(`content reaches ${Math.round(right)} px across a ${width} px frame`);
  for (const img of slide.querySelectorAll('img')) {
    if (!img.complete || img.naturalWidth === 0) problems.push(`image ${img.getAttribute('src')} did not load`);
  }
  const code = [...slide.querySelectorAll('.cell pre')].map(pre => parseFloat(getComputedStyle(pre).fontSize));
  return {bottom: Math.round(bottom), right: Math.round(right), problems, width, height,
          codeFont: code.length ? Math.min(...code) : null, text: slide.innerText};
}"""


@dataclass
class Deck:
    """One deck as measured: each slide's content height, what is wrong with each, and their text."""

    path: Path
    frame: tuple[int, int] = (0, 0)
    heights: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    code_fonts: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def tallest(self) -> int:
        return max(self.heights, default=0)


def measure_decks(browser, decks: list[Path]) -> list[Deck]:
    """Open each deck, show each of its slides in turn and measure it (viewport 1280 x 720, as a projector)."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    measured = []
    try:
        for path in decks:
            page.goto(path.resolve().as_uri())
            page.wait_for_function("window.Reveal && Reveal.isReady()")
            page.evaluate("document.fonts.ready.then(() => true)")
            deck = Deck(path)
            for index in range(page.evaluate("Reveal.getTotalSlides()")):
                page.evaluate(f"Reveal.slide({index})")
                page.wait_for_function(f"Reveal.getIndices().h === {index}")
                try:  # plots are lazy images: those on the slide load now (one that does not is a problem below)
                    page.wait_for_function("[...Reveal.getCurrentSlide().querySelectorAll('img')].every(i => i.complete)", timeout=5000)
                except PlaywrightTimeout:
                    pass
                result = page.evaluate(_MEASURE)
                deck.frame = (result["width"], result["height"])
                deck.heights.append(result["bottom"])
                deck.problems += [f"{path.name} slide {index + 1}: {problem}" for problem in result["problems"]]
                if result["codeFont"] is not None:
                    deck.code_fonts.append(result["codeFont"])
                deck.texts.append(result["text"])
            measured.append(deck)
    finally:
        page.close()
    return measured
