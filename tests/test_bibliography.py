"""tabbook.bibliography: citations, escaped references, and entries the style cannot format."""

from __future__ import annotations

import pytest

from tabbook.bibliography import Bibliography, safe_url
from tabbook.errors import SourceError

BIB = r"""@article{Cybenko.1989,
  author = {Cybenko, George},
  title = {Approximation by superpositions of a sigmoidal function},
  journal = {Mathematics of Control, Signals and Systems},
  year = {1989},
  doi = {10.1007/BF02551274},
}
@inproceedings{Paszke.2019,
  author = {Paszke, Adam and Gross, Sam and Massa, Francisco},
  title = {PyTorch: an imperative style},
  journal = {Advances in Neural Information Processing Systems},
  year = {2019},
}
@misc{Hostile.2020,
  author = {Mallory, M.},
  title = {A <b>bold</b> title},
  url = {https://example.org/"><img src=x onerror=alert(1)>},
  year = {2020},
}
@misc{Script.2021,
  author = {Mallory, M.},
  title = {Click me},
  url = {javascript:alert(1)},
  year = {2021},
}
@webpage{Unknown.Type.2022,
  author = {Someone, A.},
  title = {A page of an unknown type},
  year = {2022},
}
"""


@pytest.fixture
def bibliography(tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text(BIB)
    return Bibliography.load(path)


def test_author_year_citations(bibliography):
    assert bibliography.cite_text(["Cybenko.1989", "Paszke.2019"], textual=False) == "(Cybenko, 1989; Paszke et al., 2019)"
    assert bibliography.cite_text(["Cybenko.1989"], textual=True) == "Cybenko (1989)"
    html = bibliography.cite_html(["Cybenko.1989"], False, lambda key: f"#ref-{key}")
    assert html == '(<a class="cite" href="#ref-Cybenko.1989">Cybenko, 1989</a>)'


def test_a_reference_links_its_doi(bibliography):
    assert 'href="https://doi.org/10.1007/BF02551274"' in bibliography.reference_html("Cybenko.1989")


def test_an_entry_missing_a_field_is_shown_best_effort_with_a_file_line_warning(bibliography):
    text = bibliography.reference_html("Paszke.2019")
    assert "PyTorch: an imperative style" in text and "Advances in Neural Information Processing Systems" in text
    (warning,) = bibliography.warnings
    assert warning.startswith(f"{bibliography.path}:8: warning: the reference 'Paszke.2019' cannot be formatted")
    assert "no 'booktitle' field" in warning


def test_an_unknown_entry_type_is_shown_best_effort(bibliography):
    assert "A page of an unknown type" in bibliography.reference_html("Unknown.Type.2022")
    assert any("Unknown.Type.2022" in warning and "unknown to the style" in warning for warning in bibliography.warnings)


def test_fields_are_escaped_and_links_only_go_to_the_web(bibliography):
    hostile = bibliography.reference_html("Hostile.2020")
    assert "<img" not in hostile and "<b>" not in hostile and "&lt;img" in hostile  # text, never markup
    assert "href" not in hostile  # a URL that could break out of its attribute is no link
    assert 'href="javascript' not in bibliography.reference_html("Script.2021")
    assert safe_url("javascript:alert(1)") is None and safe_url("mailto:a@b.org") == "mailto:a@b.org"


def test_a_missing_file_matters_only_when_something_is_cited(tmp_path):
    assert Bibliography.load(tmp_path / "none.bib", needed=False).entries == {}
    with pytest.raises(SourceError, match="does not exist, and the book cites from it"):
        Bibliography.load(tmp_path / "none.bib", needed=True)


def test_a_broken_file_names_its_line(tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text("@article{A,\n  title = {unclosed\n")
    with pytest.raises(SourceError) as info:
        Bibliography.load(path)
    assert "cannot read the bibliography" in info.value.message
