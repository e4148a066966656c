"""The models the d2l benchmark trains, and their data, as it sees them: sizes, hyperparameters and
the matrix products of an epoch. Standard library only: both the benchmark (in the tool's
environment) and its worker (in a framework's environment) import it.

- ``mlp``: the chapter's MLP (``d2l.MLP``) on Fashion-MNIST, SGD.
- ``house-prices``: house-prices.md's ``HousePriceMLP`` (one hidden layer of 256, dropout 0.2, AdamW
  with weight decay 0.1, lr 0.01) on the first of its five folds of the Ames sales; the validation
  rows come as one batch. The number of features depends on the data (the worker counts them).
"""

BATCH, LR = 256, 0.1  # minibatch size, SGD learning rate
TRAIN, VAL = 60000, 10000  # Fashion-MNIST's training and validation examples
INPUTS, HIDDEN, OUTPUTS = 784, 256, 10  # the MLP's layer widths

HOUSE = {'hidden': 256, 'dropout': 0.2, 'weight_decay': 0.1, 'lr': 0.01, 'batch': 256, 'folds': 5}

MODELS = ('mlp', 'house-prices')


def epoch_gemms(train=TRAIN, val=VAL, batch=BATCH, inputs=INPUTS, hidden=HIDDEN, outputs=OUTPUTS, val_batch=None):
    """The matrix products of one epoch of a one-hidden-layer MLP, as (m, k, n) triples (an (m, k) by
    (k, n) product), in the order they run. Per training batch of b examples: the forward pass
    (X W1, H W2), then the backward pass (H^T dO for W2's gradient, dO W2^T for the hidden layer's,
    X^T dH for W1's; the inputs need no gradient). Per validation batch (``val_batch`` examples,
    default ``batch``): the forward pass."""
    gemms = []
    for start in range(0, train, batch):
        b = min(batch, train - start)
        gemms += [(b, inputs, hidden), (b, hidden, outputs),
                  (hidden, b, outputs), (b, outputs, hidden), (inputs, b, hidden)]
    val_batch = val_batch or batch
    for start in range(0, val, val_batch):
        b = min(val_batch, val - start)
        gemms += [(b, inputs, hidden), (b, hidden, outputs)]
    return gemms


def gemm_flops(gemms):
    """FLOPs of the products ``gemms`` (biases and activations are negligible)."""
    return sum(2 * m * k * n for m, k, n in gemms)
