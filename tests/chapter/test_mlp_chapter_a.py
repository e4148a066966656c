"""Checks on the executed notebooks of chapter_mlp/{mlp, mlp-implementation, backprop}.

The chapter promises numbers: activation values and autograd derivatives that agree
across frameworks, an MLP that classifies about four in five Fashion-MNIST validation
images correctly after six epochs, on average over three seeds (not for one chosen
seed), hand-derived gradients that match autograd. These tests read the
notebooks that `make run` executed (_build/eval/<tab>/chapter_mlp/<name>.ipynb)
and hold every framework to those promises. Where a value has a closed form, it is
also recomputed here in double precision, independently of any framework.
(The tool environment that runs these tests has no NumPy, so that is done with math.)
"""

from __future__ import annotations

import math
import re

import pytest
from executed import TABS, executed_stdout

# mlp-implementation.md: the mean over seeds 0, 1, 2 of each run's mean validation accuracy over
# epochs 4-6. Measured in the four frameworks: 0.821-0.824 (scratch), 0.825-0.836 (concise).
# One run's last-three-epoch mean moves by about 0.01 between seeds (one epoch's accuracy by up
# to 0.05), so the mean of three has a standard deviation of well under 0.01: 0.80 is more than
# three of them below, and it still catches a broken model (a wrong initialization scale, or a
# dead hidden layer) that trains far more slowly.
MIN_MEAN_ACCURACY = 0.80
# Each single run (mean of its last three epochs): several standard deviations of slack.
MIN_RUN_ACCURACY = 0.77


def find_float(pattern: str, text: str, what: str) -> list[float]:
    values = [float(v) for v in re.findall(pattern, text, flags=re.MULTILINE)]
    if not values:
        pytest.fail(f"no {what} printed (looked for {pattern!r})")
    return values


# ------------------------------------------------------------------ mlp.md

PROBE = [-2.0, -1.0, -0.5, 0.5, 1.0, 2.0]


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def _phi(x):  # standard normal density
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _cdf(x):  # standard normal distribution function
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


# Closed forms of each activation and of its derivative, away from ReLU's kink.
CLOSED_FORMS = {
    "relu": (lambda x: max(x, 0.0), lambda x: float(x > 0)),
    "prelu": (lambda x: x if x > 0 else 0.1 * x, lambda x: 1.0 if x > 0 else 0.1),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x))),
    "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2),
    "gelu": (lambda x: x * _cdf(x), lambda x: _cdf(x) + x * _phi(x)),
    "swish": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) + x * _sigmoid(x) * (1 - _sigmoid(x))),
}


def activation_table(tab: str) -> dict[str, list[float]]:
    """Rows of the printed table, e.g. {'x': [...], 'gelu f': [...], 'gelu df': [...]}."""
    rows = {}
    for line in executed_stdout(tab, "mlp").splitlines():
        match = re.fullmatch(r"(x|\w+ d?f)\s+((?:[+-]\d+\.\d{4}\s*){6})", line.strip())
        if match:
            rows[match.group(1)] = [float(v) for v in match.group(2).split()]
    return rows


@pytest.mark.parametrize("tab", TABS)
def test_activation_values_and_derivatives_match_closed_forms(tab):
    rows = activation_table(tab)
    assert rows.get("x") == PROBE, f"{tab}: the probe points row is missing or changed: {rows.get('x')}"
    for name, (f, df) in CLOSED_FORMS.items():
        for label, func in ((f"{name} f", f), (f"{name} df", df)):
            assert label in rows, f"{tab}: row {label!r} missing from the activation table"
            expected = [func(x) for x in PROBE]
            assert rows[label] == pytest.approx(expected, abs=1.5e-4), f"{tab}: {label}"


def test_activation_table_agrees_across_frameworks():
    tables = {tab: activation_table(tab) for tab in TABS}
    reference_tab = TABS[0]
    for tab in TABS[1:]:
        assert tables[tab].keys() == tables[reference_tab].keys(), f"{tab} prints other rows than {reference_tab}"
        for label, values in tables[reference_tab].items():
            # Printed to 4 decimals from float32: at most one unit of rounding apart.
            assert tables[tab][label] == pytest.approx(values, abs=1.5e-4), f"{label}: {tab} vs {reference_tab}"


@pytest.mark.parametrize("tab", TABS)
def test_xor_network_computes_xor(tab):
    match = re.search(r"^XOR outputs: \[([^\]]*)\]", executed_stdout(tab, "mlp"), flags=re.MULTILINE)
    assert match, f"{tab}: the XOR outputs were not printed"
    assert [float(v) for v in match.group(1).split()] == [0.0, 1.0, 1.0, 0.0]


def approximation_errors(tab: str) -> dict[int, float]:
    text = executed_stdout(tab, "mlp")
    pairs = re.findall(r"^hidden units:\s+(\d+)\s+max error: (\d+\.\d+)$", text, flags=re.MULTILINE)
    if not pairs:
        pytest.fail(f"{tab}: no universal-approximation errors printed")
    return {int(k): float(e) for k, e in pairs}


@pytest.mark.parametrize("tab", TABS)
def test_relu_interpolation_error_shrinks_fourfold_per_doubling(tab):
    errors = approximation_errors(tab)
    assert sorted(errors) == [4, 8, 16, 32, 64]
    for k in (8, 16, 32, 64):
        ratio = errors[k // 2] / errors[k]
        assert 3.0 < ratio < 5.0, f"{tab}: error ratio {ratio:.2f} between {k // 2} and {k} hidden units"
    # The bound Delta^2 / 8 * max|f''| for f = sin(2x) + 0.3x^2 on [-3, 3], |f''| <= 4.6.
    assert errors[64] <= (6 / 64) ** 2 / 8 * 4.6 + 1e-4


def test_relu_interpolation_errors_agree_across_frameworks():
    errors = {tab: approximation_errors(tab) for tab in TABS}
    for tab in TABS[1:]:
        assert errors[tab] == pytest.approx(errors[TABS[0]], abs=2e-4), f"{tab} vs {TABS[0]}"


# ------------------------------------------------------------------ mlp-implementation.md

@pytest.mark.parametrize("tab", TABS)
@pytest.mark.parametrize("version", ["scratch", "concise"])
def test_mlp_reaches_validation_accuracy_across_seeds(tab, version):
    text = executed_stdout(tab, "mlp-implementation")
    (runs_line,) = re.findall(rf"^{version}, last 3 epochs of each seed: ((?:\d\.\d{{3}} ?)+)$", text,
                              flags=re.MULTILINE) or pytest.fail(f"{tab}: no per-seed accuracies of the {version} MLP")
    runs = [float(v) for v in runs_line.split()]
    assert len(runs) == 3, f"{tab} {version}: expected three seeds, got {runs}"
    match = re.search(rf"^{version}, mean over seeds: (\d\.\d+) \(lowest (\d\.\d+), highest (\d\.\d+)\)$",
                      text, flags=re.MULTILINE)
    assert match, f"{tab}: the {version} MLP's mean over seeds was not printed"
    mean, lowest, highest = (float(v) for v in match.groups())
    assert mean == pytest.approx(sum(runs) / 3, abs=1e-3) and (lowest, highest) == (min(runs), max(runs))
    assert mean >= MIN_MEAN_ACCURACY, f"{tab} {version} MLP: mean validation accuracy {mean} < {MIN_MEAN_ACCURACY}"
    assert lowest >= MIN_RUN_ACCURACY, f"{tab} {version} MLP: one seed reached only {lowest}"


@pytest.mark.parametrize("tab", TABS)
def test_per_epoch_accuracies_are_printed_for_one_run(tab):
    (line,) = re.findall(r"^seed 0, after each epoch: (.*)$", executed_stdout(tab, "mlp-implementation"),
                         flags=re.MULTILINE) or pytest.fail(f"{tab}: the per-epoch accuracies were not printed")
    accuracies = [float(v) for v in line.split()]
    assert len(accuracies) == 6 and all(0.5 < a < 0.95 for a in accuracies), f"{tab}: {accuracies}"


# ------------------------------------------------------------------ backprop.md

def backprop_numbers(tab: str) -> list[float]:
    """The loss and the four gradient norms that the gradient check printed."""
    text = executed_stdout(tab, "backprop")
    (loss,) = find_float(r"^loss = (\d+\.\d+)$", text, f"loss in {tab}")
    norms = find_float(r"^norm of dloss/d\w+ = (\d+\.\d+)$", text, f"gradient norms in {tab}")
    assert len(norms) == 4, f"{tab}: expected the norms of dloss/dW1, db1, dW2, db2, got {norms}"
    return [loss, *norms]


@pytest.mark.parametrize("tab", TABS)
def test_hand_gradients_match_autograd(tab):
    text = executed_stdout(tab, "backprop")
    (error,) = find_float(r"^max \|hand - autograd\| = (\d\.\d+e[+-]\d+)$", text, f"gradient check in {tab}")
    assert error < 1e-5, f"{tab}: hand-derived gradients differ from autograd by {error}"


def test_backprop_numbers_agree_across_frameworks():
    # Same NumPy-generated data in every framework; float32 arithmetic, printed to 6 decimals.
    numbers = {tab: backprop_numbers(tab) for tab in TABS}
    for tab in TABS[1:]:
        assert numbers[tab] == pytest.approx(numbers[TABS[0]], abs=1e-5), f"{tab} vs {TABS[0]}"
