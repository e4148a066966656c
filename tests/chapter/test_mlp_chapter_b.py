"""Checks on the executed notebooks of chapter_mlp/{numerical-stability-and-init, generalization-deep, dropout}.

These sections make claims that their code demonstrates: the sigmoid's derivative
never exceeds 1/4, a constant initialization keeps hidden units identical, a
backward signal sent through random layers follows the chi-square random walk
that the text derives, Xavier initialization has the variance of
its formula, He initialization keeps a deep ReLU stack stable, a network
memorizes noisy labels after it has learned the clean ones, dropout_layer keeps
the expectation, and dropout MLPs train well on Fashion-MNIST. The tests read the
notebooks that `make run` executed (_build/eval/<tab>/chapter_mlp/<name>.ipynb)
and hold every framework to those claims. Deterministic numbers must agree
across frameworks; random ones must fall where the theory puts them, with
margins of several standard deviations, computed in the comments.
(The tool environment that runs these tests has no NumPy, hence math.)
"""

from __future__ import annotations

import ast
import math
import re

import pytest
from executed import TABS, claim, executed_stdout, quoted_range, within

# Dropout MLPs (784-256-256-10, dropout 0.5/0.5, SGD lr 0.1, batch 256, 10 epochs).
# (Accuracy is measured with prediction_accuracy: dropout off.)
# A plain MLP gets 0.83-0.85 in this budget; dropout at 0.5 slows training a little,
# and at lr 0.1 the validation accuracy moves by up to about 0.03 between epochs.
# Measured here: 0.84-0.86 in every framework. 0.80 leaves room for an unlucky epoch
# while still catching a model whose dropout is wrong (e.g. never rescaled, or
# applied during evaluation, which costs several points).
MIN_DROPOUT_ACCURACY = 0.80


def matches(pattern: str, text: str, what: str, count: int | None = None) -> list[tuple[str, ...]]:
    """All matches of a line pattern (groups as tuples); fails if there are none or not `count`."""
    found = [m.groups() for m in re.finditer(pattern, text, flags=re.MULTILINE)]
    if not found or (count is not None and len(found) != count):
        pytest.fail(f"expected {count or 'some'} lines of {what} (pattern {pattern!r}), found {len(found)}")
    return found


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# ------------------------------------------------------------------ numerical-stability-and-init.md

STABILITY = "numerical-stability-and-init"


def sigmoid_gradients(tab: str) -> dict[int, float]:
    rows = matches(r"^sigmoid'\((-?\d+)\) = (\d\.\d{4})$", executed_stdout(tab, STABILITY),
                   f"sigmoid derivatives in {tab}", count=5)
    return {int(x): float(g) for x, g in rows}


@pytest.mark.parametrize("tab", TABS)
def test_sigmoid_gradient_matches_closed_form(tab):
    grads = sigmoid_gradients(tab)
    assert sorted(grads) == [0, 2, 4, 6, 8]
    for x, g in grads.items():
        assert g == pytest.approx(_sigmoid(x) * (1 - _sigmoid(x)), abs=6e-5), f"{tab}: sigmoid'({x})"
    assert grads[0] == 0.25 and max(grads.values()) == 0.25
    # "The derivative is a quarter at the origin and has all but disappeared by |x| = 6": 1% of its peak
    claim(STABILITY, r"The derivative is a quarter at the origin and has all but disappeared by \$\|x\| = 6\$")
    assert grads[6] / grads[0] < 0.011


def test_products_of_many_factors():
    # "Fifty factors of 0.8 multiply to about 10^{-5}; fifty factors of 1.25 to about 7 x 10^{4}."
    claim(STABILITY, r"Fifty factors of \$0\.8\$ multiply to about \$10\^\{-5\}\$; fifty factors of \$1\.25\$ to "
                     r"about \$7 \\times 10\^\{4\}\$")
    assert round(math.log10(0.8 ** 50)) == -5 and round(1.25 ** 50 / 1e4) == 7
    # "ten stacked sigmoid layers shrink the signal by at least 4^{10} ~ 10^{6}"
    claim(STABILITY, r"ten stacked sigmoid layers shrink the signal by at least \$4\^\{10\} \\approx 10\^\{6\}\$")
    assert round(math.log10(4 ** 10)) == 6


def test_sigmoid_gradients_agree_across_frameworks():
    grads = {tab: sigmoid_gradients(tab) for tab in TABS}
    for tab in TABS[1:]:
        assert grads[tab] == pytest.approx(grads[TABS[0]], abs=1.5e-4), f"{tab} vs {TABS[0]}"


def symmetry_result(tab: str) -> tuple[float, list[list[float]]]:
    text = executed_stdout(tab, STABILITY)
    ((loss,),) = matches(r"^loss after 20 steps: (\d+\.\d{4})$", text, f"symmetry loss in {tab}", count=1)
    rows = matches(r"^W1 row: (.*)$", text, f"rows of W1 in {tab}", count=3)
    return float(loss), [[float(w) for w in row.split()] for (row,) in rows]


@pytest.mark.parametrize("tab", TABS)
def test_constant_initialization_keeps_hidden_units_identical(tab):
    loss, W1 = symmetry_result(tab)
    for row in W1:
        assert len(row) == 4 and len(set(row)) == 1, f"{tab}: hidden units differ after training: {row}"
    assert any(abs(row[0] - 0.3) > 0.01 for row in W1), f"{tab}: W1 did not move from 0.3: {W1}"
    # "the loss has dropped from 1.19 at the start to less than a fifth of that (in every framework, to the
    # same four decimals)"
    claim(STABILITY, r"the loss has dropped from \$1\.19\$ at the start to less than a fifth of that \(in every "
                     r"framework, to the same four decimals\)")
    ((start,),) = matches(r"^loss at the start: (\d+\.\d{4})$", executed_stdout(tab, STABILITY), "start loss", 1)
    assert round(float(start), 2) == 1.19 and loss < float(start) / 5, f"{tab}: {start} -> {loss}"


def test_symmetry_experiment_agrees_across_frameworks():
    # Same fixed data and weights, 20 float32 steps, printed to 4 decimals.
    # The prose says "to the same four decimals": the printed lines are identical.
    printed = {tab: re.findall(r"^(?:loss .*|W1 row: .*)$", executed_stdout(tab, STABILITY), flags=re.MULTILINE)
               for tab in TABS}
    for tab in TABS[1:]:
        assert printed[tab] == printed[TABS[0]], f"{tab} vs {TABS[0]}"


def backward_walks(tab: str) -> dict[tuple[int, float], list[float]]:
    """(width, std) -> log10 length of the backward signal after 25, 50, 75 and 100 layers."""
    rows = matches(r"^width +(\d+), std (\d\.\d{4}): log10 length after 25, 50, 75, 100 layers: (.*)$",
                   executed_stdout(tab, STABILITY), f"backward-signal walks in {tab}", 4)
    return {(int(n), float(std)): [float(v) for v in values.split()] for n, std, values in rows}


def _digamma(x: float) -> float:
    result = 0.0
    while x < 6:
        result, x = result - 1 / x, x + 1
    return result + math.log(x) - 1 / (2 * x) - 1 / (12 * x ** 2) + 1 / (120 * x ** 4)


def _trigamma(x: float) -> float:
    result = 0.0
    while x < 6:
        result, x = result + 1 / x ** 2, x + 1
    return result + 1 / x + 1 / (2 * x ** 2) + 1 / (6 * x ** 3) - 1 / (30 * x ** 5)


@pytest.mark.parametrize("tab", TABS)
def test_backward_signal_is_a_chi_square_random_walk(tab):
    # Each layer multiplies the squared length by s^2 chi^2_n (eq_chi_square_step): log10 of the length
    # after k layers has mean k/2 (log s^2 + log 2 + digamma(n/2)) / ln 10 and variance
    # k/4 trigamma(n/2) / ln(10)^2. Every value must lie within 5 standard deviations of its mean.
    walks = backward_walks(tab)
    assert sorted(walks) == [(4, 0.5), (4, 1.0), (256, 0.0625), (256, 1.0)], f"{tab}: {sorted(walks)}"
    for (n, std), values in walks.items():
        drift = (math.log(std ** 2) + math.log(2) + _digamma(n / 2)) / 2 / math.log(10)
        spread = (_trigamma(n / 2) / 4) ** 0.5 / math.log(10)
        for k, value in zip((25, 50, 75, 100), values, strict=True):
            # printed to one decimal: allow 0.05 of rounding on top
            assert abs(value - k * drift) <= 5 * spread * k ** 0.5 + 0.05, \
                f"{tab}, width {n}, std {std}: {value} after {k} layers, expected {k * drift:.2f}"
    # What the text says: unit variance explodes ("10^{120} after 100 layers of width 256"), variance 1/n
    # "stays within a decade of where it started" in width 256 and "drifts downwards, by several orders of
    # magnitude over 100 layers" in width 4.
    claim(STABILITY, r"which makes \$10\^\{120\}\$ after 100 layers of width 256")
    assert walks[(4, 1.0)][-1] > 15 and round(walks[(256, 1.0)][-1]) in (120, 121)
    assert walks[(4, 0.5)][-1] <= -3
    assert all(abs(v) < 1 for v in walks[(256, 0.0625)])


def _walk_theory(n: int, std: float, layers: int = 100) -> tuple[float, float, float]:
    """Drift per layer, mean and standard deviation after `layers` layers of log10 of the length."""
    drift = (math.log(std ** 2) + math.log(2) + _digamma(n / 2)) / 2 / math.log(10)
    spread = (_trigamma(n / 2) / 4) ** 0.5 / math.log(10)
    return drift, layers * drift, spread * layers ** 0.5


def test_random_walk_numbers_in_the_prose():
    # "a drift of about -0.06 decades per layer for n = 4, against -0.001 for n = 256"
    narrow, wide = claim(STABILITY, r"a drift of about \$(-\d\.\d+)\$ decades per layer for \$n = 4\$, against "
                                    r"\$(-\d\.\d+)\$ for \$n = 256\$")
    assert _walk_theory(4, 0.5)[0] == pytest.approx(float(narrow), abs=0.005)
    assert _walk_theory(256, 1 / 16)[0] == pytest.approx(float(wide), abs=0.0005)
    # "after 100 layers of width 4 with s = 1/2 the log10 length has a mean of -5.9 and a standard deviation
    # of 1.7 decades"
    mean, std = claim(STABILITY, r"has a mean of \$(-\d\.\d)\$ and a standard deviation of \$(\d\.\d)\$ decades")
    _, theory_mean, theory_std = _walk_theory(4, 0.5)
    assert round(theory_mean, 1) == float(mean) and round(theory_std, 1) == float(std)
    # "their final values for this setting lie between -8.0 and -5.0: three decades apart, but all within two
    # standard deviations of the mean"
    low, high = quoted_range(STABILITY, r"final values for this setting lie between \$(-\d+\.\d)\$ and \$(-\d+\.\d)\$")
    finals = {tab: backward_walks(tab)[(4, 0.5)][-1] for tab in TABS}
    assert min(finals.values()) == low and max(finals.values()) == high, finals
    (apart,) = claim(STABILITY, r"\$: (\w+) decades apart, but all within two standard deviations of the mean")
    assert round(high - low) == {"two": 2, "three": 3, "four": 4}[apart]
    assert all(abs(v - theory_mean) <= 2 * theory_std for v in finals.values()), finals
    # "In width 256 the standard deviation after 100 layers is only 0.2 decades, and the frameworks agree to
    # within a few tenths."
    (wide_std,) = claim(STABILITY, r"In width 256 the standard deviation after 100 layers is only \$(\d\.\d)\$ "
                                   r"decades, and the frameworks agree to within a few tenths")
    assert round(_walk_theory(256, 1 / 16)[2], 1) == float(wide_std)
    for setting in ((256, 1.0), (256, 0.0625)):
        values = [backward_walks(tab)[setting][-1] for tab in TABS]
        assert max(values) - min(values) <= 0.5, f"width 256: {values}"


@pytest.mark.parametrize("tab", TABS)
def test_xavier_initializer_has_the_derived_variance(tab):
    text = executed_stdout(tab, STABILITY)
    ((formula,),) = matches(r"^variance by eq\. \(Xavier\): (\S+)$", text, f"Xavier formula in {tab}", 1)
    ((empirical,),) = matches(r"^variance of the weights: +(\S+)$", text, f"weight variance in {tab}", 1)
    ((largest, bound),) = matches(r"^largest absolute weight: +(\S+) \(bound (\S+)\)$", text,
                                  f"largest weight in {tab}", 1)
    target = 2 / (784 + 256)
    assert float(formula) == pytest.approx(target, rel=1e-3)
    # "The empirical variance agrees with the formula to within sampling error": 200,704 uniform weights
    # (kurtosis 9/5) estimate the variance with a relative standard error of sqrt(0.8 / 200704) = 0.2%;
    # 1% is five of them (and the printout's rounding).
    claim(STABILITY, r"The empirical variance agrees with the formula to within sampling error, and no weight "
                     r"exceeds the bound")
    assert float(empirical) == pytest.approx(target, rel=0.01), f"{tab}: {empirical} vs {target}"
    assert float(largest) <= float(bound) == pytest.approx(math.sqrt(6 / 1040), abs=1e-4)


# Each framework's default for a layer with n_in = 784 inputs and n_out = 256 outputs, as its tab text
# states it: (standard deviation, bound on |w|).
_LECUN_TRUNCATION = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]
DEFAULT_INITS = {
    "pytorch": ((1 / 784) ** 0.5 / 3 ** 0.5, (1 / 784) ** 0.5),  # U(-1/sqrt(n_in), 1/sqrt(n_in))
    "mxnet": (0.07 / 3 ** 0.5, 0.07),  # U(-0.07, 0.07), whatever the size
    "jax": ((1 / 784) ** 0.5, 2 * (1 / 784) ** 0.5 / _LECUN_TRUNCATION),  # lecun_normal: variance 1/n_in, truncated
    "tensorflow": ((2 / 1040) ** 0.5, (6 / 1040) ** 0.5),  # GlorotUniform: the Xavier bound of eq_xavier_uniform
}


@pytest.mark.parametrize("tab", TABS)
def test_default_initializations_are_what_the_tab_text_says(tab):
    ((std, largest),) = matches(r"^default weights of a layer with 784 inputs and 256 outputs: standard deviation "
                                r"(\d\.\d{4}), largest \|w\| (\d\.\d{4})$", executed_stdout(tab, STABILITY),
                                f"default weights in {tab}", 1)
    expected_std, bound = DEFAULT_INITS[tab]
    # 200,704 weights: the standard deviation is estimated to 0.1-0.2%; the printout has 4 decimals
    assert float(std) == pytest.approx(expected_std, rel=0.01, abs=1e-4), f"{tab}: {std} vs {expected_std:.4f}"
    assert float(largest) <= round(bound, 4) + 1e-4, f"{tab}: {largest} beyond {bound:.4f}"
    assert float(largest) >= 0.95 * bound, f"{tab}: {largest}: the weights do not reach the bound {bound:.4f}"
    claim(STABILITY, r"drawn uniformly from \$\[-0\.07, 0\.07\]\$ and biases are zero")
    claim(STABILITY, r"only Keras uses the Xavier scheme derived below, none of the four uses He initialization, and "
                     r"MXNet's default does not even depend on the layer's size")


DEPTH_ROW = r"activations layer 1 (\S+), layer 20 (\S+); weight gradients layer 1 (\S+), layer 20 (\S+)$"


def depth_profiles(tab: str) -> dict[str, tuple[float, float, float, float]]:
    """init name -> (activation size at layers 1 and 20, weight-gradient size at layers 1 and 20)."""
    rows = matches(r"^ *(.+?): " + DEPTH_ROW, executed_stdout(tab, STABILITY), f"depth experiment in {tab}", 4)
    return {name: tuple(float(v) for v in values) for name, *values in rows}


def _per_layer(first: float, last: float) -> float:
    """The mean factor per layer between layer 1 and layer 20 (19 factors)."""
    return (last / first) ** (1 / 19)


@pytest.mark.parametrize("tab", TABS)
def test_he_initialization_keeps_deep_relu_stack_stable(tab):
    table = depth_profiles(tab)
    assert list(table) == ["N(0, 1)", "N(0, 0.01^2)", "Xavier", "He"], f"{tab}: rows {list(table)}"
    # Per-layer factors of the typical activation: sqrt(128) std for N(0, 1), 0.11 for std 0.01,
    # 1/sqrt(2) for Xavier, 1 for He. Over 19 layers: 10^20, 10^-18, 1.4e-3 and 1.
    he_first, he_last, he_grad, _ = table["He"]
    xavier_first, xavier_last, xavier_grad, _ = table["Xavier"]
    assert 0.1 < he_last < 10 and 0.2 < he_last / he_first < 5, f"{tab}: He profile {table['He']}"
    assert he_grad / xavier_grad > 50, f"{tab}: He vs Xavier gradients {he_grad}, {xavier_grad}"
    # "the activations still shrink, by a factor of about 1/sqrt(2) per layer"
    claim(STABILITY, r"by a factor of about \$1/\\sqrt\{2\}\$ per layer: after 20 layers")
    assert _per_layer(xavier_first, xavier_last) == pytest.approx(2 ** -0.5, abs=0.05)


def test_xavier_shrinks_as_the_prose_quotes():
    # "after 20 layers they are 600 to 1,300 times smaller than after the first (the factor alone predicts
    # 2^{19/2} ~ 720)"
    low, high = (float(v.replace(",", "")) for v in claim(
        STABILITY, r"after 20 layers they are ([\d,]+) to ([\d,]+) times smaller than after the first"))
    claim(STABILITY, r"\(the factor alone predicts \$2\^\{19/2\} \\approx 720\$\)")
    assert round(2 ** 9.5, -1) == 720
    # (from values printed to two digits, so to the nearest ten)
    shrink = {tab: round(depth_profiles(tab)["Xavier"][0] / depth_profiles(tab)["Xavier"][1], -1) for tab in TABS}
    within(shrink, low, high, "Xavier: activations at layer 1 / layer 20")
    assert min(shrink.values()) - low < 100 and high - max(shrink.values()) < 100, shrink


def test_he_keeps_the_order_of_magnitude_as_the_prose_quotes():
    # "at layer 20 they are between 0.6 and 1.0 times their size at layer 1, depending on the framework's
    # random numbers"
    low, high = quoted_range(STABILITY, r"at layer 20 they are between (\d\.\d+) and (\d\.\d+) times their size "
                                        r"at layer 1")
    ratios = {tab: depth_profiles(tab)["He"][1] / depth_profiles(tab)["He"][0] for tab in TABS}
    within(ratios, low, high, "He: activations at layer 20 / layer 1")
    assert min(ratios.values()) - low < 0.05 and high - max(ratios.values()) < 0.05, ratios


@pytest.mark.parametrize("tab", TABS)
def test_badly_scaled_initializations_explode_or_vanish(tab):
    table = depth_profiles(tab)
    big, small = table["N(0, 1)"], table["N(0, 0.01^2)"]
    # "each layer multiplies the typical activation by about sqrt(256/2) ~ 11, and after 20 layers the
    # activations, and with them the gradients, are larger than 10^{20}"
    claim(STABILITY, r"by about \$\\sqrt\{256/2\} \\approx 11\$, and after 20 layers the activations, and with them "
                     r"the gradients, are larger than \$10\^\{20\}\$")
    assert round(_per_layer(big[0], big[1])) == 11 and min(big[1:]) > 1e20, f"{tab}: N(0, 1): {big}"
    # "With a standard deviation of 0.01 each layer multiplies by about 0.11 and both signals shrink to
    # 10^{-16} and below."
    claim(STABILITY, r"With a standard deviation of \$0\.01\$ each layer multiplies by about \$0\.11\$ and both "
                     r"signals shrink to \$10\^\{-16\}\$ and below")
    assert round(_per_layer(small[0], small[1]), 2) == 0.11 and max(small[1:]) <= 1e-16, f"{tab}: {small}"


@pytest.mark.parametrize("tab", TABS)
def test_square_relu_layers_get_gradients_of_one_size(tab):
    # "In this experiment the first and the last layer receive weight gradients of about the same size,
    # whatever the initialization": within a factor of three. Both ends' weight gradients pass through 19
    # layer factors (forward below, backward above).
    claim(STABILITY, r"the first and the last layer receive weight gradients of about the same size, whatever "
                     r"the initialization")
    for name, (_, _, first, last) in depth_profiles(tab).items():
        assert 1 / 3 < first / last < 3, f"{tab}, {name}: weight gradients {first} (layer 1) vs {last} (layer 20)"


@pytest.mark.parametrize("tab", TABS)
def test_orthogonal_matrices_keep_the_length(tab):
    # "The length is still 1, up to the rounding errors of 100 products in single precision."
    claim(STABILITY, r"The length is still \$1\$, up to the rounding errors of 100 products in single precision")
    ((length,),) = matches(r"^length after 100 orthogonal layers of width 4: (\d\.\d{6})$",
                           executed_stdout(tab, STABILITY), f"the orthogonal walk in {tab}", 1)
    assert abs(float(length) - 1) <= 1e-5, f"{tab}: {length}"


# ------------------------------------------------------------------ generalization-deep.md

GENERALIZATION = "generalization-deep"


def noisy_label_results(tab: str) -> dict[str, float]:
    text = executed_stdout(tab, GENERALIZATION)
    ((wrong,),) = matches(r"^fraction of wrong labels: (\d\.\d+)$", text, f"label noise in {tab}", 1)
    runs = {name: (float(b), int(e), float(f)) for name, b, e, f in matches(
        r"^val, (clean|noisy) labels: best (\d\.\d+) \(epoch (\d+)\), final (\d\.\d+)$",
        text, f"validation summaries in {tab}", 2)}
    ((memorized_early, memorized_best, best_epoch, memorized),) = matches(
        r"^wrong labels memorized: (\d\.\d+) at epoch 3, (\d\.\d+) at epoch (\d+), (\d\.\d+) at the end$", text,
        f"memorization in {tab}", 1)
    ((stop, keep, kept_acc, final_acc),) = matches(
        r"^early stopping: stops after epoch (\d+), keeps epoch (\d+) with validation accuracy (\d\.\d+) "
        r"\(training to the end: (\d\.\d+)\)$", text, f"early stopping in {tab}", 1)
    return {"wrong": float(wrong), "clean_best": runs["clean"][0], "clean_final": runs["clean"][2],
            "noisy_best": runs["noisy"][0], "noisy_final": runs["noisy"][2], "noisy_best_epoch": runs["noisy"][1],
            "memorized_early": float(memorized_early), "memorized_best": float(memorized_best),
            "memorized_best_epoch": int(best_epoch),
            "memorized": float(memorized),
            "stop": int(stop), "keep": int(keep), "kept_acc": float(kept_acc), "final_acc": float(final_acc)}


@pytest.mark.parametrize("tab", TABS)
def test_network_memorizes_noisy_labels_and_early_stopping_helps(tab):
    r = noisy_label_results(tab)
    # 2000 labels, each wrong with probability 0.4: standard deviation 0.011.
    assert abs(r["wrong"] - 0.4) < 0.05, f"{tab}: {r['wrong']} of the labels are wrong"
    assert r["clean_best"] >= 0.78, f"{tab}: clean-label MLP reaches only {r['clean_best']}"
    # Early in training the network sees through the noise ...
    assert r["noisy_best"] >= 0.70, f"{tab}: noisy-label MLP peaks at {r['noisy_best']}"
    # "it agrees with their wrong labels less often than chance (one in ten) would", and at its best it has
    # memorized few of them ...
    assert r["memorized_early"] < 0.1, f"{tab}: {r['memorized_early']} of the wrong labels fit after 3 epochs"
    assert r["memorized_best_epoch"] == r["noisy_best_epoch"]
    assert r["memorized_best"] < 0.2, f"{tab}: {r['memorized_best']} of the wrong labels fit at the best epoch"
    # "... climbs steadily, to more than half of them by the end, and the validation accuracy falls by ten
    # points or more"
    assert r["memorized"] > 0.5, f"{tab}: only {r['memorized']} of the wrong labels memorized"
    assert r["noisy_best"] - r["noisy_final"] >= 0.10, f"{tab}: memorization did not hurt enough: {r}"
    # ... much more than overtraining on clean labels does ("overtraining costs a few points at most").
    assert r["clean_best"] - r["clean_final"] <= 0.03, f"{tab}: {r}"
    assert r["noisy_best"] - r["noisy_final"] > r["clean_best"] - r["clean_final"], f"{tab}: {r}"
    # "its best validation accuracy is several points below that of the clean run"
    assert 0.04 <= r["clean_best"] - r["noisy_best"] <= 0.10, f"{tab}: {r}"
    # "Early stopping with a patience of five epochs catches the good phase": it keeps the best epoch; it
    # "recovers most of the accuracy lost to memorization, and it ends training well before the 30 epochs"
    assert r["keep"] == r["noisy_best_epoch"] and r["kept_acc"] == r["noisy_best"], f"{tab}: {r}"
    assert r["stop"] == r["keep"] + 5 and r["stop"] <= 20 and r["final_acc"] == r["noisy_final"], f"{tab}: {r}"


def test_generalization_prose_matches_the_runs():
    claim(GENERALIZATION, r"overtraining costs a few points at most")
    claim(GENERALIZATION, r"its best validation accuracy is several points below that of the clean run")
    claim(GENERALIZATION, r"less often than chance \(one in ten\) would")
    claim(GENERALIZATION, r"to more than half of them by the end, and the validation accuracy falls by ten points "
                          r"or more")
    claim(GENERALIZATION, r"Early stopping with a patience of five epochs catches the good phase")
    claim(GENERALIZATION, r"it ends training well before the 30 epochs we allowed")
    # "(0.6 against about 0.044 for each wrong label)", "some 670,000 parameters for 2000 examples"
    claim(GENERALIZATION, r"\(\$0\.6\$ against about \$0\.044\$ for each wrong label\)")
    assert round(0.4 / 9, 3) == 0.044
    claim(GENERALIZATION, r"some 670,000 parameters for 2000 examples")
    assert round(784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10, -4) == 670_000


# ------------------------------------------------------------------ dropout.md

DROPOUT = "dropout"


def dropout_checks(tab: str) -> dict[float, list[float]]:
    rows = matches(r"^dropout = (\d\.\d): (\[\[.*\]\])$", executed_stdout(tab, DROPOUT),
                   f"dropout_layer checks in {tab}", 3)
    return {float(p): [v for row in ast.literal_eval(values) for v in row] for p, values in rows}


@pytest.mark.parametrize("tab", TABS)
def test_dropout_layer_at_zero_half_and_one(tab):
    results = dropout_checks(tab)
    X = [float(i) for i in range(16)]
    assert results[0.0] == X, f"{tab}: dropout 0 changed its input: {results[0.0]}"
    assert results[1.0] == [0.0] * 16, f"{tab}: dropout 1 left survivors: {results[1.0]}"
    half = results[0.5]
    assert len(half) == 16 and all(y in (0.0, 2 * x) for x, y in zip(X, half, strict=True)), \
        f"{tab}: dropout 0.5 must give 0 or 2x per entry: {half}"
    # 15 nonzero inputs: all kept or all dropped has probability 2^-14.
    kept = sum(1 for x, y in zip(X, half, strict=True) if x > 0 and y == 2 * x)
    assert 0 < kept < 15, f"{tab}: dropout 0.5 kept {kept} of 15 nonzero entries"


@pytest.mark.parametrize("tab", TABS)
def test_dropout_preserves_expectation(tab):
    text = executed_stdout(tab, DROPOUT)
    ((fraction,),) = matches(r"^fraction dropped: (\d\.\d+)$", text, f"dropped fraction in {tab}", 1)
    ((mean, variance),) = matches(r"^mean: (\d\.\d+), variance: (\d\.\d+)$", text, f"moments in {tab}", 1)
    # 10^6 entries with p = 0.3: standard errors 0.0005 (fraction), 0.0007 (mean), 0.001 (variance).
    assert abs(float(fraction) - 0.3) <= 0.005
    assert abs(float(mean) - 1.0) <= 0.006
    assert abs(float(variance) - 0.3 / 0.7) <= 0.01


@pytest.mark.parametrize("tab", TABS)
def test_dropout_is_active_only_in_training_mode(tab):
    rows = matches(r"^training=(True|False): two passes differ by up to (\d+\.\d{4})$",
                   executed_stdout(tab, DROPOUT), f"dropout switch checks in {tab}", 4)
    for version, pair in zip(("scratch", "concise"), (rows[:2], rows[2:]), strict=True):
        diffs = dict((mode, float(diff)) for mode, diff in pair)
        assert diffs["True"] > 0.01, f"{tab} {version}: dropout seems inactive in training mode: {diffs}"
        assert diffs["False"] == 0.0, f"{tab} {version}: prediction is not deterministic: {diffs}"


@pytest.mark.parametrize("tab", TABS)
@pytest.mark.parametrize("version", ["scratch", "concise"])
def test_dropout_mlp_reaches_validation_accuracy(tab, version):
    ((accuracy,),) = matches(rf"^validation accuracy \({version}\): (\d\.\d+)$", executed_stdout(tab, DROPOUT),
                             f"{version} validation accuracy in {tab}", 1)
    assert float(accuracy) >= MIN_DROPOUT_ACCURACY, \
        f"{tab} {version} dropout MLP: validation accuracy {accuracy} < {MIN_DROPOUT_ACCURACY}"


def test_dropout_accuracy_as_the_prose_quotes_it():
    # "both dropout models end with a validation accuracy of 0.85 to 0.86"
    low, high = quoted_range(DROPOUT, r"both dropout models end with a validation accuracy of (0\.\d+) to (0\.\d+)\.")
    for version in ("scratch", "concise"):
        values = {tab: float(matches(rf"^validation accuracy \({version}\): (\d\.\d+)$",
                                     executed_stdout(tab, DROPOUT), "validation accuracy", 1)[0][0]) for tab in TABS}
        within({tab: round(v, 2) for tab, v in values.items()}, low, high, f"{version} dropout MLP")


def dropout_losses(tab: str) -> tuple[float, float, float]:
    text = executed_stdout(tab, DROPOUT)
    ((on,),) = matches(r"^training images, dropout on: +loss (\d+\.\d+)$", text, f"dropout-on loss in {tab}", 1)
    ((off,),) = matches(r"^training images, dropout off: +loss (\d+\.\d+)$", text, f"dropout-off loss in {tab}", 1)
    ((val,),) = matches(r"^validation images: +loss (\d+\.\d+)$", text, f"validation loss in {tab}", 1)
    return float(on), float(off), float(val)


@pytest.mark.parametrize("tab", TABS)
def test_training_loss_with_dropout_lies_above_the_loss_without(tab):
    on, off, val = dropout_losses(tab)
    # The text's explanation: the board's training loss is that of thinned networks; measured the
    # same way as the validation loss (dropout off), the training loss is the lower one. The losses are
    # taken over the whole training and validation sets, so what varies from run to run is the trained
    # network, not a sample.
    # "With dropout switched off, the training loss falls below the validation loss ... with dropout on,
    # it rises above the validation loss, in every framework"
    claim(DROPOUT, r"With dropout switched off, the training loss falls below the validation loss, as it does for "
                   r"any network that has been fitted to its training data; with dropout on, it rises above the "
                   r"validation loss\*\*\], in every framework")
    assert on - off > 0.03, f"{tab}: dropout on {on}, off {off}: thinned networks should do visibly worse"
    assert off < val < on, f"{tab}: dropout on {on}, off {off}, validation {val}"
    # "The network barely overfits (its training loss without dropout is only a little below its
    # validation loss)": by at most 0.06 (measured 0.04-0.05), against losses of about 0.4
    claim(DROPOUT, r"its training loss without dropout is only a little below its validation loss")
    assert val - off <= 0.06, f"{tab}: training loss {off}, validation loss {val}"


def memorization_runs(tab: str) -> dict[str, tuple[float, int, float, float]]:
    """'no dropout' / 'dropout 0.5' -> (best validation accuracy, its epoch, final, memorized at the end)."""
    rows = matches(r"^(no dropout|dropout 0\.5): val best (\d\.\d+) \(epoch (\d+)\), final (\d\.\d+); wrong labels "
                   r"memorized at the end: (\d\.\d+)$", executed_stdout(tab, DROPOUT), f"noisy-label runs in {tab}", 2)
    return {name: (float(b), int(e), float(f), float(m)) for name, b, e, f, m in rows}


@pytest.mark.parametrize("tab", TABS)
def test_dropout_curbs_memorization_of_noisy_labels(tab):
    runs = memorization_runs(tab)
    (best0, _, final0, memorized0), (_, _, final, memorized) = runs["no dropout"], runs["dropout 0.5"]
    # "the first one repeats the noisy-label run of sec_generalization_deep": the same seeds and data. (The
    # notebooks may have run with different numbers of threads, which changes the last bits of PyTorch's
    # and TensorFlow's sums and, over 30 epochs, the second or third decimal.)
    r = noisy_label_results(tab)
    assert (best0, final0, memorized0) == pytest.approx((r["noisy_best"], r["noisy_final"], r["memorized"]), abs=0.03)
    # "At the end of training the network with dropout reproduces fewer than one in five of the wrong
    # labels, against more than half without dropout, and its final validation accuracy is more than ten
    # points higher."
    assert memorized < 0.2 and memorized0 > 0.5, f"{tab}: {runs}"
    assert final - final0 > 0.10, f"{tab}: {runs}"


def test_memorization_numbers_as_the_prose_quotes_them():
    claim(DROPOUT, r"reproduces fewer than one in five of the wrong labels, against more than half without "
                   r"dropout, and its final validation accuracy is more than ten points higher")
    # "its final accuracy lies at most 4 points below that of its best epoch, where the network without
    # dropout loses 16 to 22 points"
    (most,) = claim(DROPOUT, r"its final accuracy lies at most (\d+) points below that of its best epoch")
    low, high = quoted_range(DROPOUT, r"where the network without dropout loses (\d+) to (\d+) points")
    runs = {tab: memorization_runs(tab) for tab in TABS}
    with_dropout = {tab: round(100 * (r["dropout 0.5"][0] - r["dropout 0.5"][2])) for tab, r in runs.items()}
    without = {tab: round(100 * (r["no dropout"][0] - r["no dropout"][2])) for tab, r in runs.items()}
    within(with_dropout, 0, float(most), "points lost by training to the end with dropout")
    within(without, low, high, "points lost by training to the end without dropout")
