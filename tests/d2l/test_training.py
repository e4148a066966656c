"""Training with d2l.Module / Classifier / Trainer: the chapter's MLP on Fashion-MNIST, and linear
regression from scratch and concise (which exercise SGD, scratch parameters and gradient clipping)."""

import os

import numpy as np
import pytest

from d2l import _common

pytestmark = pytest.mark.slow  # trains models for epochs

_np = _common.as_numpy


def _counting(calls):
    """as_numpy that records its calls in ``calls``."""
    def counting_as_numpy(x):
        calls.append(type(x))
        return _np(x)
    return counting_as_numpy


def seed_everything(framework, seed=0):
    """Repeatable runs: at lr 0.1 the validation accuracy after an epoch varies by a few points
    between random initializations and data orders (and rarely by more)."""
    np.random.seed(seed)  # also d2l.jax's keys and data order
    if framework == 'pytorch':
        import torch
        torch.manual_seed(seed)
    elif framework == 'mxnet':
        import mxnet
        mxnet.random.seed(seed)
    elif framework == 'tensorflow':
        import tensorflow as tf
        tf.keras.utils.set_random_seed(seed)


def make_mlp(d2l, num_outputs=10, num_hiddens=256, lr=0.1):
    """The chapter's MLP (784-256-10, ReLU), as mlp-implementation.md saves it into d2l."""
    return d2l.MLP(num_hiddens=num_hiddens, num_outputs=num_outputs, lr=lr)


def predict(model, trainer, X, framework):
    if framework == 'jax':
        return _np(trainer.state.apply_fn({'params': trainer.state.params}, X))
    return _np(model(X))


@pytest.fixture(scope='module')
def trained_mlp(d2l, framework, real_files):
    """The MLP after 2 epochs, with the board's redraws and its conversions of values to numpy."""
    os.environ['D2L_DATA'] = os.path.dirname(real_files['train-labels-idx1-ubyte'])
    redraws, conversions = [], []
    original_redraw, original_as_numpy = _common.ProgressBoard._redraw, _common.as_numpy

    def counting_redraw(board):
        redraws.append(board)
        original_redraw(board)

    _common.ProgressBoard._redraw = counting_redraw
    _common.as_numpy = _counting(conversions)
    try:
        seed_everything(framework)
        data = d2l.FashionMNIST(batch_size=256)
        model = make_mlp(d2l)
        trainer = d2l.Trainer(max_epochs=2, num_gpus=1)  # no GPU here: falls back to the CPU
        trainer.fit(model, data)
        during_fit = len(conversions)
        lines = model.board.fig.axes[0].get_lines()  # a script's board draws when its figure is read
        on_read = len(conversions) - during_fit
    finally:
        _common.ProgressBoard._redraw = original_redraw
        _common.as_numpy = original_as_numpy
    assert len(lines) == 3  # train_loss, val_loss, val_acc
    return data, model, trainer, redraws, (during_fit, on_read)


def test_mlp_reaches_075_validation_accuracy(trained_mlp, framework):
    data, model, trainer, _, _ = trained_mlp
    xs, accs = model.board.points('val_acc')
    assert xs.tolist() == [1.0, 2.0]
    assert accs[-1] >= 0.75, f'validation accuracy after 2 epochs: {accs}'
    # the same, counted directly over the whole validation set
    correct = 0
    for X, y in data.val_dataloader():
        correct += int((predict(model, trainer, X, framework).argmax(axis=1) == _np(y)).sum())
    assert correct / len(data.val) >= 0.75
    xs, losses = model.board.points('train_loss')
    assert len(losses) == 4 and losses[-1] < losses[0]


def test_board_redraws_a_few_times_per_epoch_and_syncs_once_per_point(trained_mlp):
    _, model, trainer, redraws, conversions = trained_mlp
    assert trainer.num_train_batches == 235 and trainer.num_val_batches == 40
    # per epoch: two train_loss points (117 steps each), one val_loss and one val_acc point
    assert len(redraws) == 4 * trainer.max_epochs
    # the board keeps the framework's values as they are: in a script nothing is converted (a device
    # sync) while training; reading the figure converts once per plotted point, not once per step
    during_fit, on_read = conversions
    assert during_fit == 0
    assert on_read == 4 * trainer.max_epochs
    leftover = model.board.raw_points['train_loss']  # 2 * 235 = 4 * 117 + 2: two steps not plotted yet
    assert len(leftover) == 2 and not isinstance(leftover[0][1], (float, np.floating))


def _regression(d2l, framework, concise, clip=0):
    data = d2l.SyntheticRegressionData(w=d2l.tensor([2, -3.4]), b=4.2)
    model = d2l.LinearRegression(lr=0.03) if concise else d2l.LinearRegressionScratch(2, lr=0.03)
    trainer = d2l.Trainer(max_epochs=10, gradient_clip_val=clip)
    trainer.fit(model, data)
    if concise:
        w, b = model.get_w_b(trainer.state) if framework == 'jax' else model.get_w_b()
    elif framework == 'jax':
        w, b = trainer.state.params['w'], trainer.state.params['b']
    else:
        w, b = model.w, model.b
    return _np(w).reshape(-1), float(_np(b).reshape(-1)[0])


@pytest.mark.parametrize('concise', [False, True], ids=['scratch', 'concise'])
def test_linear_regression_recovers_the_parameters(d2l, framework, concise):
    w, b = _regression(d2l, framework, concise)
    np.testing.assert_allclose(w, [2, -3.4], atol=0.05)
    assert abs(b - 4.2) < 0.05


def test_gradient_clipping_slows_but_does_not_stop_training(d2l, framework):
    w, b = _regression(d2l, framework, concise=False, clip=1.0)
    assert np.all(np.abs(w - [2, -3.4]) < 2.0) and abs(b - 4.2) < 4.0
    assert np.linalg.norm(w) > 0.5  # it moved from ~0


def test_jax_dropout_model_trains_with_the_trainers_keys(d2l, framework, real_files):
    """The dropout model of the books' JAX tab: `training` field, loss with rngs from the TrainState."""
    if framework != 'jax':
        pytest.skip('the TrainState and its dropout_rng are JAX-only')
    import optax
    from flax import linen as nn

    class DropoutMLP(d2l.Classifier):
        num_outputs: int
        num_hiddens: int
        dropout: float
        lr: float
        training: bool = True

        @nn.compact
        def __call__(self, X):
            X = nn.relu(nn.Dense(self.num_hiddens)(X.reshape((X.shape[0], -1))))
            X = nn.Dropout(self.dropout, deterministic=not self.training)(X)
            return nn.Dense(self.num_outputs)(X)

        def loss(self, params, X, Y, state, averaged=True):
            Y_hat = state.apply_fn({'params': params}, *X, mutable=False, rngs={'dropout': state.dropout_rng})
            fn = optax.softmax_cross_entropy_with_integer_labels
            return fn(Y_hat, Y).mean(), {}

    os.environ['D2L_DATA'] = os.path.dirname(real_files['train-labels-idx1-ubyte'])
    seed_everything(framework)
    data = d2l.FashionMNIST(batch_size=256)
    model = DropoutMLP(num_outputs=10, num_hiddens=256, dropout=0.5, lr=0.1)
    trainer = d2l.Trainer(max_epochs=1)
    trainer.fit(model, data)
    assert model.board.points('val_acc')[1][-1] >= 0.7
    # dropout is active in training (two keys give two outputs) and off in validation
    X = next(iter(data.val_dataloader()))[0]
    variables = {'params': trainer.state.params}
    out = [model.clone(training=True).apply(variables, X, rngs={'dropout': d2l.get_key()}) for _ in range(2)]
    assert not np.allclose(out[0], out[1])
    assert np.allclose(model.clone(training=False).apply(variables, X), model.clone(training=False).apply(variables, X))
    keys = d2l._derived_keys(trainer.state.dropout_rng, 3)
    assert keys.shape == (3, 2) and len({tuple(k) for k in keys}) == 3
