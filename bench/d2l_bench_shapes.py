"""The chapter's MLP and its data as the d2l benchmark sees them: sizes, and the matrix products of an
epoch. Standard library only: both the benchmark (in the tool's environment) and its worker (in a
framework's environment) import it."""

BATCH, LR = 256, 0.1  # minibatch size, SGD learning rate
TRAIN, VAL = 60000, 10000  # Fashion-MNIST's training and validation examples
INPUTS, HIDDEN, OUTPUTS = 784, 256, 10  # the MLP's layer widths


def epoch_gemms(train=TRAIN, val=VAL, batch=BATCH, inputs=INPUTS, hidden=HIDDEN, outputs=OUTPUTS):
    """The matrix products of one epoch of the MLP, as (m, k, n) triples (an (m, k) by (k, n) product),
    in the order they run. Per training batch of b examples: the forward pass (X W1, H W2), then the
    backward pass (H^T dO for W2's gradient, dO W2^T for the hidden layer's, X^T dH for W1's; the
    inputs need no gradient). Per validation batch: the forward pass."""
    gemms = []
    for start in range(0, train, batch):
        b = min(batch, train - start)
        gemms += [(b, inputs, hidden), (b, hidden, outputs),
                  (hidden, b, outputs), (b, outputs, hidden), (inputs, b, hidden)]
    for start in range(0, val, batch):
        b = min(batch, val - start)
        gemms += [(b, inputs, hidden), (b, hidden, outputs)]
    return gemms
