"""Checks on the executed notebooks of chapter_mlp/house-prices.md.

The section promises that an MLP predicts Ames sale prices better than a linear model, measured by
the mean 5-fold validation log-RMSE (each fold with its own random initialization; no seed is
set), and that the chosen model does about as well on the held-out sales. These tests read what
each framework's notebook printed (`make run` executes them).
"""

from __future__ import annotations

import re

import pytest
from executed import TABS, executed_stdout

MAX_LINEAR = 0.18
MAX_BEST_MLP = 0.16
FLOAT = r"(\d+\.\d+)"


def cv_lines(tab: str) -> dict[str, tuple[float, list[float]]]:
    """name -> (mean, fold errors) from lines like 'linear model: 5-fold validation log-RMSE 0.153
    (std 0.021; folds 0.118 ...)'."""
    pattern = rf"^(.+?): 5-fold validation log-RMSE {FLOAT} \(std {FLOAT}; folds ((?:\d+\.\d+ ?)+)\)$"
    lines = {}
    for match in re.finditer(pattern, executed_stdout(tab, "house-prices"), flags=re.MULTILINE):
        lines[match.group(1)] = (float(match.group(2)), [float(v) for v in match.group(4).split()])
    return lines


def summary(tab: str, label: str) -> float:
    match = re.search(rf"^{label}: 5-fold validation log-RMSE {FLOAT}$",
                      executed_stdout(tab, "house-prices"), flags=re.MULTILINE)
    if not match:
        pytest.fail(f"{tab}: no line '{label}: 5-fold validation log-RMSE ...' printed")
    return float(match.group(1))


@pytest.mark.parametrize("tab", TABS)
def test_data_and_encoding(tab):
    out = executed_stdout(tab, "house-prices")
    assert "sales, columns: (2930, 80)" in out
    assert "development sales: 2344" in out and "held-out sales: 586" in out
    match = re.search(r"features: \(2344, (\d+)\) targets: \(2344, 1\)", out)
    assert match, f"{tab}: the encoded development set's shape is missing"
    assert "missing values left: 0" in out


@pytest.mark.parametrize("tab", TABS)
def test_each_line_reports_the_mean_of_its_five_folds(tab):
    lines = cv_lines(tab)
    assert "linear model" in lines and sum(name.startswith("MLP") for name in lines) == 3, sorted(lines)
    for name, (mean, folds) in lines.items():
        assert len(folds) == 5, f"{tab}: {name}"
        assert mean == pytest.approx(sum(folds) / 5, abs=1.1e-3)  # each printed to 3 places, f"{tab}: {name}: mean of {folds}"


@pytest.mark.parametrize("tab", TABS)
def test_linear_baseline_within_018(tab):
    linear = summary(tab, "linear model")
    assert linear == cv_lines(tab)["linear model"][0]
    assert linear <= MAX_LINEAR, f"{tab}: linear model's mean 5-fold validation log-RMSE {linear}"


@pytest.mark.parametrize("tab", TABS)
def test_best_mlp_within_016_and_better_than_linear(tab):
    match = re.search(rf"^best MLP \((.+)\): 5-fold validation log-RMSE {FLOAT}$",
                      executed_stdout(tab, "house-prices"), flags=re.MULTILINE)
    assert match, f"{tab}: no 'best MLP (...)' line printed"
    name, best = match.group(1), float(match.group(2))
    mlps = {n: mean for n, (mean, _) in cv_lines(tab).items() if n.startswith("MLP")}
    assert mlps[name] == best == min(mlps.values()), f"{tab}: the chosen MLP is not the one with the lowest mean"
    assert best <= MAX_BEST_MLP, f"{tab}: best MLP's mean 5-fold validation log-RMSE {best}"
    assert best < summary(tab, "linear model")


@pytest.mark.parametrize("tab", TABS)
def test_held_out_error_close_to_the_cross_validated_one(tab):
    match = re.search(rf"^held-out log-RMSE: {FLOAT}$", executed_stdout(tab, "house-prices"),
                      flags=re.MULTILINE)
    assert match, f"{tab}: no held-out log-RMSE printed"
    held_out, best = float(match.group(1)), summary(tab, r"best MLP \(.+\)")
    assert held_out <= MAX_BEST_MLP and abs(held_out - best) <= 0.04, f"{tab}: {held_out} vs {best}"
