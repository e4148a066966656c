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
from executed import TABS, claim, executed_stdout, quoted_range, within

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
    # "The table agrees, digit for digit, whichever framework you selected."
    claim("mlp", r"The table agrees, digit for digit, whichever framework you selected")
    tables = {tab: activation_table(tab) for tab in TABS}
    reference_tab = TABS[0]
    for tab in TABS[1:]:
        assert tables[tab] == tables[reference_tab], f"{tab} vs {reference_tab}"


def test_numbers_of_the_mlp_section():
    # "The network of fig_mlp_one_hidden thus has 4 . 5 + 5 + 5 . 3 + 3 = 43 parameters."
    claim("mlp", r"\$4 \\cdot 5 \+ 5 \+ 5 \\cdot 3 \+ 3 = 43\$ parameters")
    assert 4 * 5 + 5 + 5 * 3 + 3 == 43
    # GELU "dips slightly below zero, to a minimum of about -0.17 near x ~ -0.75"
    value, where = claim("mlp", r"to a minimum of about \$(-0\.\d+)\$ near \$x \\approx (-0\.\d+)\$")
    grid = [-3 + i / 10000 for i in range(30001)]
    x_min = min(grid, key=lambda x: x * _cdf(x))
    assert round(x_min * _cdf(x_min), 2) == float(value) and round(x_min, 2) == float(where)
    # "Phi(x) and sigmoid(1.702 x) differ by less than 0.01 everywhere"
    claim("mlp", r"\$\\Phi\(x\)\$ and \$\\mathrm\{sigmoid\}\(1\.702\\,x\)\$ differ by less than \$0\.01\$ everywhere")
    assert max(abs(_cdf(x) - _sigmoid(1.702 * x)) for x in [i / 100 for i in range(-1000, 1001)]) < 0.01
    # the sigmoid's derivative "never exceeds 1/4 (reached at x = 0)", tanh's "peaks at 1 rather than 1/4"
    assert max(_sigmoid(x) * (1 - _sigmoid(x)) for x in grid) == pytest.approx(0.25)
    assert max(1 - math.tanh(x) ** 2 for x in grid) == pytest.approx(1.0)


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
    claim("mlp", r"The error indeed falls by about a factor of four per doubling")
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
    # "classifies about four out of five validation images correctly" (not, say, nine out of ten)
    assert mean <= 0.85, f"{tab} {version}: {mean} is more than about four out of five"


def seed_means(tab: str, version: str) -> tuple[float, float, float]:
    match = re.search(rf"^{version}, mean over seeds: (\d\.\d+) \(lowest (\d\.\d+), highest (\d\.\d+)\)$",
                      executed_stdout(tab, "mlp-implementation"), flags=re.MULTILINE)
    assert match, f"{tab}: the {version} MLP's mean over seeds was not printed"
    return tuple(float(v) for v in match.groups())


def test_implementation_prose_matches_the_runs():
    claim("mlp-implementation", r"Across the three seeds the network classifies about four out of five validation "
                                r"images correctly\*\*\]")
    # "in each framework the three averages lie within about a percentage point of each other"
    claim("mlp-implementation", r"in each framework the three averages lie within about a percentage point of each other")
    for tab in TABS:
        _, lowest, highest = seed_means(tab, "scratch")
        assert highest - lowest <= 0.015, f"{tab}: seed averages {lowest} .. {highest}"
    # "The concise model reaches a similar accuracy: on average over the seeds 0.825 to 0.836, depending on
    # the framework, against 0.821 to 0.824 for the scratch model."
    concise_low, concise_high, scratch_low, scratch_high = (float(v) for v in claim(
        "mlp-implementation", r"on average over the seeds (0\.\d+) to (0\.\d+), depending on the framework, against "
                              r"(0\.\d+) to (0\.\d+) for the scratch model"))
    within({tab: seed_means(tab, "concise")[0] for tab in TABS}, concise_low, concise_high, "concise MLP")
    within({tab: seed_means(tab, "scratch")[0] for tab in TABS}, scratch_low, scratch_high, "scratch MLP")
    # "about 26 times as many as softmax regression on the same data"; "784 . 256 + 256 + 256 . 10 + 10 = 203,530"
    claim("mlp-implementation", r"parameters, about 26 times as many as softmax regression on the same data")
    assert 784 * 256 + 256 + 256 * 10 + 10 == 203_530 and round(203_530 / (784 * 10 + 10)) == 26
    # "so that three runs cost less than twice a single run of ten epochs": 3 x 6 < 2 x 10
    claim("mlp-implementation", r"six epochs per seed, so that three runs cost less than twice a single run of ten epochs")


def wobble(tab: str) -> tuple[float, float, int, int]:
    """Largest rise and fall (in points) between neighbouring epochs from epoch 3 to 6, over the three seeds,
    and how many of those steps fall, recomputed from the printed per-epoch accuracies."""
    text = executed_stdout(tab, "mlp-implementation")
    runs = [[float(v) for v in line.split()]
            for line in re.findall(r"^seed \d, after each epoch: (.*)$", text, flags=re.MULTILINE)]
    assert len(runs) == 3 and all(len(run) == 6 for run in runs), f"{tab}: {runs}"
    steps = [b - a for run in runs for a, b in zip(run[2:], run[3:], strict=False)]
    match = re.search(r"^from epoch 3 to 6, between neighbouring epochs: largest rise (\d\.\d+), largest fall "
                      r"(\d\.\d+), falls (\d) of (\d)$", text, flags=re.MULTILINE)
    assert match, f"{tab}: the summary of the steps was not printed"
    rise, fall, falls, total = float(match[1]), float(match[2]), int(match[3]), int(match[4])
    assert rise == pytest.approx(max(steps), abs=1.5e-3) and fall == pytest.approx(max(0, -min(steps)), abs=1.5e-3)
    # (a step printed as 0.000 may be a tiny fall before rounding)
    assert sum(d < 0 for d in steps) <= falls <= sum(d <= 0 for d in steps) and total == 9, (falls, steps)
    return 100 * rise, 100 * fall, falls, total


def test_epoch_to_epoch_wobble_as_the_prose_quotes_it():
    # "From the third epoch on, when the curve has flattened, neighbouring epochs still differ by up to 1.4
    # to 5.1 points, depending on the framework, and in two or three of the nine steps that the three runs
    # take from epoch 3 to epoch 6 the accuracy falls, by up to 1.2 to 3.5 points."
    rise_low, rise_high = quoted_range("mlp-implementation", r"neighbouring epochs still differ by up to (\d\.\d) to "
                                                             r"(\d\.\d) points, depending on the framework")
    falls_low, falls_high = claim("mlp-implementation", r"and in (\w+) or (\w+) of the nine steps that the three runs "
                                                        r"take from epoch 3 to epoch 6 the accuracy falls")
    fall_low, fall_high = quoted_range("mlp-implementation", r"the accuracy falls, by up to (\d\.\d) to (\d\.\d) points")
    words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
    measured = {tab: wobble(tab) for tab in TABS}
    within({tab: round(max(m[0], m[1]), 1) for tab, m in measured.items()}, rise_low, rise_high, "largest step")
    within({tab: round(m[1], 1) for tab, m in measured.items()}, fall_low, fall_high, "largest fall")
    within({tab: m[2] for tab, m in measured.items()}, words[falls_low], words[falls_high], "falls of 9")
    # The summary: "still moves by up to a few points from epoch to epoch, and not always upwards"
    claim("mlp-implementation", r"still moves by up to a few points from epoch to epoch, and not always upwards")
    assert all(1 <= max(m[0], m[1]) <= 6 and m[2] >= 1 for m in measured.values()), measured


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
    # "by rounding errors that for gradient entries of this size (below one) stay under 10^{-7}"
    claim("backprop", r"for gradient entries of this size \(below one\) stay under \$10\^\{-7\}\$")
    assert error < 1e-7, f"{tab}: hand-derived gradients differ from autograd by {error}"


def test_backprop_numbers_agree_across_frameworks():
    # Same NumPy-generated data in every framework; float32 arithmetic, printed to 6 decimals.
    numbers = {tab: backprop_numbers(tab) for tab in TABS}
    for tab in TABS[1:]:
        assert numbers[tab] == pytest.approx(numbers[TABS[0]], abs=1e-5), f"{tab} vs {TABS[0]}"
