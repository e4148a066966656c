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


GRADS = ([[3.0], [4.0]], [12.0])  # w's and b's gradients: global norm 13


def _clipped(d2l, framework, clip):
    """GRADS (as the framework holds them for linear regression from scratch) through the Trainer's
    clip_gradients at ``clip``: the resulting (w, b) gradients as numpy arrays."""
    trainer = d2l.Trainer(max_epochs=1, gradient_clip_val=clip)
    if framework in ('jax', 'tensorflow'):  # gradients are values: clip_gradients returns new ones
        grads = {'w': d2l.tensor(GRADS[0]), 'b': d2l.tensor(GRADS[1])} if framework == 'jax' else \
            [d2l.tensor(GRADS[0]), d2l.tensor(GRADS[1])]
        out = trainer.clip_gradients(clip, grads)
        return [_np(g) for g in ((out['w'], out['b']) if framework == 'jax' else out)]
    model = d2l.LinearRegressionScratch(2, lr=0.1)  # gradients are stored on the parameters, clipped in place
    if framework == 'pytorch':
        model.w.grad, model.b.grad = d2l.tensor(GRADS[0]), d2l.tensor(GRADS[1])
    else:
        model.w.grad[:], model.b.grad[:] = d2l.tensor(GRADS[0]), d2l.tensor(GRADS[1])
    trainer.clip_gradients(clip, model)
    return [_np(model.w.grad), _np(model.b.grad)]


@pytest.mark.parametrize('clip, scale', [(1.3, 0.1), (6.5, 0.5), (13.0, 1.0), (26.0, 1.0)])
def test_clip_gradients_scales_to_the_clip_value_and_keeps_the_direction(d2l, framework, clip, scale):
    """Against the unclipped gradients: above the clip value their global norm becomes the clip
    value, in the same direction; at or below it nothing changes."""
    clipped = _clipped(d2l, framework, clip)
    for got, unclipped in zip(clipped, GRADS, strict=True):
        np.testing.assert_allclose(got, scale * np.array(unclipped), rtol=1e-5)
    assert np.sqrt(sum(float((g ** 2).sum()) for g in clipped)) == pytest.approx(min(clip, 13.0), rel=1e-5)


def _one_step(d2l, framework, clip, lr=0.03):
    """Linear regression from scratch trained by the Trainer for one SGD step (one batch, one epoch)
    with gradient_clip_val=clip: the parameters (w and b, flattened) before and after the step."""
    seed_everything(framework)
    data = d2l.SyntheticRegressionData(w=d2l.tensor([2, -3.4]), b=4.2, num_train=32, num_val=32, batch_size=32)
    model = d2l.LinearRegressionScratch(2, lr=lr)
    trainer = d2l.Trainer(max_epochs=1, gradient_clip_val=clip)
    if framework == 'jax':
        import jax
        params = []
        for epochs in (0, 1):  # no epoch: the initial parameters; one: after the step (the same key)
            trainer = d2l.Trainer(max_epochs=epochs, gradient_clip_val=clip)
            trainer.fit(model, data, key=jax.random.key(0))
            params.append(np.concatenate([_np(trainer.state.params[k]).ravel() for k in ('w', 'b')]))
        return params
    before = np.concatenate([np.array(_np(p)).ravel() for p in (model.w, model.b)])
    trainer.fit(model, data)
    return before, np.concatenate([_np(p).ravel() for p in (model.w, model.b)])


def test_the_trainer_clips_the_step_it_takes(d2l, framework):
    """One SGD step moves the parameters by lr times the gradient: unclipped, its norm is the
    gradient's (far above the clip value here); clipped, exactly lr times the clip value."""
    lr, clip = 0.03, 0.01
    before, after = _one_step(d2l, framework, 0, lr)
    unclipped = np.linalg.norm(after - before) / lr
    assert unclipped > 100 * clip, unclipped
    before_clipped, after_clipped = _one_step(d2l, framework, clip, lr)
    np.testing.assert_allclose(before_clipped, before)  # the same start
    assert np.linalg.norm(after_clipped - before_clipped) / lr == pytest.approx(clip, rel=1e-3)
    # the same direction as the unclipped step
    np.testing.assert_allclose((after_clipped - before_clipped) / clip, (after - before) / unclipped, rtol=1e-3, atol=1e-6)


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


def _jax_process(code, **env):
    import subprocess
    import sys
    environ = {k: v for k, v in os.environ.items() if k != 'JAX_COMPILATION_CACHE_DIR'}
    environ.update(env)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return subprocess.run([sys.executable, '-c', 'from d2l import jax as d2l\nimport jax\n' + code],
                          env=dict(environ, PYTHONPATH=root), capture_output=True, text=True, check=True).stdout


def test_jax_keeps_compiled_steps_on_disk_for_later_processes(framework, tmp_path):
    """d2l.jax turns on JAX's persistent compilation cache (in $D2L_JAX_CACHE here): what one process
    compiles, the next one reads back instead of compiling again."""
    if framework != 'jax':
        pytest.skip("JAX's compilation cache")
    cache = tmp_path / 'cache'
    code = ('print(jax.config.jax_compilation_cache_dir)\n'
            'print(float(jax.jit(lambda x: (x * 2).sum())(jax.numpy.arange(7.0))))\n')
    assert _jax_process(code, D2L_JAX_CACHE=str(cache)).split() == [str(cache), '42.0']
    entries = sorted(p.name for p in cache.iterdir())
    assert entries  # the compiled program is on disk
    _jax_process(code, D2L_JAX_CACHE=str(cache))
    assert sorted(p.name for p in cache.iterdir()) == entries  # read back, not compiled and written again
    # off with an empty value, and a cache the user chose is left alone
    assert _jax_process(code, D2L_JAX_CACHE='').split()[0] == 'None'
    mine = str(tmp_path / 'mine')
    assert _jax_process(code, D2L_JAX_CACHE=str(cache), JAX_COMPILATION_CACHE_DIR=mine).split()[0] == mine
