"""The settings the prose states are the settings the code uses, in every framework's code.

The chapter's sentences name learning rates, batch sizes, widths, depths, epochs and seeds. These tests
find each such sentence and the code that it describes (the code cells of the section, read from the
Markdown source for each tab), so that changing one without the other fails.
"""

from __future__ import annotations

import re

import pytest
from executed import CHAPTER, TABS, claim

from tabbook.config import load_config
from tabbook.parse import CODE, read_document

CONFIG = load_config(CHAPTER.parent)


def code(name: str, tab: str) -> str:
    """All code of the section that the notebook of ``tab`` runs (tab.selected branches resolved)."""
    document = read_document(CONFIG, CHAPTER / f"{name}.md")
    return "\n".join(text for cell in document.cells if cell.kind == CODE and tab in cell.tabs
                     for _, text in cell.lines_for(tab))


def in_code(name: str, pattern: str) -> None:
    for tab in TABS:
        assert re.search(pattern, code(name, tab)), f"{name} [{tab}]: no code matching {pattern!r}"


def test_mlp_implementation_settings():
    name = "mlp-implementation"
    claim(name, r"We use one hidden layer of \$h = 256\$ units")
    claim(name, r"We use a learning rate of 0\.1 and minibatches of 256 examples")
    claim(name, r"we train every model three times, with the seeds 0, 1 and 2")
    claim(name, r"We train the scratch model for six epochs per seed")
    claim(name, r"average the last three epochs of each run")
    in_code(name, r"FashionMNIST\(batch_size=256\)")
    in_code(name, r"MLPScratch\(num_inputs=784, num_hiddens=256, num_outputs=10, lr=0\.1\)")
    in_code(name, r"MLP\(num_hiddens=256, num_outputs=10, lr=0\.1\), data, num_epochs=6\)")
    in_code(name, r"seeds=\(0, 1, 2\)")
    in_code(name, r"def summarize\(name, runs, last=3\)")
    claim(name, r"standard deviation \$\\sigma = 0\.01\$ and set the biases to zero")
    in_code(name, r"sigma(: float)? ?= ?0\.01")


def test_numerical_stability_settings():
    name = "numerical-stability-and-init"
    claim(name, r"multiplies it by 100 random matrices")
    in_code(name, r"def backward_log10_norms\(width, std, depth=100")
    in_code(name, r"\[\(4, 1\.0\), \(4, 0\.5\), \(256, 1\.0\), \(256, 1 / 16\)\]")
    claim(name, r"three inputs, four hidden tanh units and one output, set every weight to \$0\.3\$, and take twenty "
                r"steps of gradient descent on a squared loss for four fixed examples")
    in_code(name, r"for step in range\(20\)")
    for tab in TABS:
        assert re.search(r"0\.5 \* g1|lr=0\.5|0\.5 \* W1\.grad", code(name, tab)), tab
    claim(name, r"a stack of 20 fully connected ReLU layers of width 256 \(no biases\), feed it a batch of 256")
    in_code(name, r"def depth_profile\(std, (key, )?depth=20, width=256, batch=256\)")
    claim(name, r"for a layer with 784 inputs and 256 outputs")
    claim(name, r"send a unit vector through 100 orthogonal matrices of width 4")
    in_code(name, r"for layer in range\(100\)")


def test_generalization_settings():
    name = "generalization-deep"
    claim(name, r"We take 2000 training images of Fashion-MNIST and corrupt a fraction \$\\rho = 0\.4\$")
    in_code(name, r"def fashion_mnist_subset\(data, n=2000\)")
    in_code(name, r"corrupt_labels\(y_clean, 0\.4\)")
    claim(name, r"an MLP with two hidden layers of 512 units")
    claim(name, r"Early stopping with a patience of five epochs")
    in_code(name, r"def early_stopping\(val_acc, patience=5\)")
    in_code(name, r"num_epochs=30, batch_size=64")
    for tab in TABS:
        assert len(re.findall(r"\b512\b", code(name, tab))) >= 2 and re.search(r"[Aa]dam", code(name, tab)), tab


def test_dropout_settings():
    name = "dropout"
    claim(name, r"two hidden layers of 256 units each and a dropout probability of 0\.5 after both, using minibatch "
                r"SGD with a learning rate of 0\.1, minibatches of 256 examples, and ten epochs")
    in_code(name, r"num_hiddens=\(256, 256\), dropouts=\(0\.5, 0\.5\),\s+lr=0\.1\)")
    in_code(name, r"FashionMNIST\(batch_size=256\)")
    in_code(name, r"Trainer\(max_epochs=10\)")
    claim(name, r"For a matrix of ones and \$p = 0\.3\$")
    in_code(name, r"d2l\.ones\(\(1000, 1000\)\), 0\.3")
    claim(name, r"once with a dropout probability of 0\.5 after each hidden layer")
    in_code(name, r"\('dropout 0\.5', 0\.5\)")


def test_house_price_settings():
    name = "house-prices"
    claim(name, r"We train it for 20 epochs on minibatches of 256 sales, with a learning rate of 0\.01 and a weight "
                r"decay of 1\.0, so that every step shrinks the weights by 1%")
    assert 0.01 * 1.0 == pytest.approx(0.01)
    in_code(name, r"HousePriceMLP\(num_hiddens=\(\), lr=0\.01, weight_decay=1\.0\)")
    in_code(name, r"def train\(model, data, seed, max_epochs=20\)")
    in_code(name, r"AmesHousing\(\)")  # batch_size=256 by default
    claim(name, r"three networks with one hidden layer of 256 units: one without any regularization, one with a little "
                r"weight decay and dropout, and one with a lot of both\. They share the learning rate of 0\.01 and the "
                r"20 epochs")
    in_code(name, r"'MLP, no regularization': dict\(dropout=0\.0, weight_decay=0\.0\)")
    in_code(name, r"'MLP, dropout 0\.5, decay 1\.0': dict\(dropout=0\.5, weight_decay=1\.0\)")
    in_code(name, r"HousePriceMLP\(num_hiddens=\(256,\), lr=0\.01, \*\*config\)")
    claim(name, r"With \$K=5\$ each model trains on 80% of the development sales")
    in_code(name, r"def k_fold\(make_model, data, k=5\)")
    claim(name, r"The random numbers of fold \$i\$ are seeded with \$i\$")
    in_code(name, r"train\(model, fold, seed=i\)")
