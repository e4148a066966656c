"""Model code as the d2l.ai books write it, trained with d2l.Trainer in every framework.

Readers bring such code: reshapes with ``X.shape[0]`` in the forward pass, branches on whether the
model is training, methods added with ``add_to_class`` to a subclass, ``save_hyperparameters`` with
default arguments, and (in JAX) dropout that draws its own random numbers. The data is a small
linear regression problem whose last minibatch is smaller than the others (1000 = 31 * 32 + 8),
so a compiled step sees two batch sizes.
"""

import warnings

import numpy as np
import pytest

from d2l import _common

_np = _common.as_numpy
W, B = [2.0, -3.4], 4.2


def _data(d2l):
    return d2l.SyntheticRegressionData(w=d2l.tensor(W), b=B, num_train=1000, num_val=1000, batch_size=32)


def _fit(d2l, model, data, epochs=3):
    """Train; fail if a step had to fall back from compiled to eager."""
    trainer = d2l.Trainer(max_epochs=epochs)
    with warnings.catch_warnings():
        warnings.filterwarnings('error', message='d2l.Trainer')
        trainer.fit(model, data)
    return trainer


def _weights(framework, model, trainer):
    """(w, b) of the model's one dense layer, found as each framework names it."""
    if framework == 'jax':
        dense = trainer.state.params['net']
        return _np(dense['kernel']).reshape(-1), float(_np(dense['bias'])[0])
    if framework == 'pytorch':
        return _np(model.net.weight).reshape(-1), float(_np(model.net.bias)[0])
    if framework == 'mxnet':
        return _np(model.net.weight.data()).reshape(-1), float(_np(model.net.bias.data())[0])
    kernel, bias = model.net.get_weights()
    return kernel.reshape(-1), float(bias[0])


def _regression_classes(d2l, framework):
    """Base: a one-layer regression model whose forward flattens with X.shape[0]; Noisy: a subclass
    whose forward (added with add_to_class) adds noise to its inputs only while training."""
    if framework == 'pytorch':
        import torch
        from torch import nn

        class Base(d2l.Module):
            def __init__(self, lr=0.1, noise=0.0):
                super().__init__()
                self.save_hyperparameters()
                self.net = nn.LazyLinear(1)

            def forward(self, X):
                return self.net(X.reshape(X.shape[0], -1))

            def loss(self, y_hat, y):
                return ((y_hat - y) ** 2).mean() / 2

        class Noisy(Base):
            pass

        @d2l.add_to_class(Noisy)
        def forward(self, X):
            if self.training:
                X = X + self.noise * torch.randn(X.shape)
            return self.net(X.reshape(X.shape[0], -1))

    elif framework == 'mxnet':
        from mxnet import autograd, np
        from mxnet.gluon import nn

        class Base(d2l.Module):
            def __init__(self, lr=0.1, noise=0.0):
                super().__init__()
                self.save_hyperparameters()
                self.net = nn.Dense(1)
                self.net.initialize()

            def forward(self, X):
                return self.net(X.reshape(X.shape[0], -1))

            def loss(self, y_hat, y):
                return ((y_hat - y) ** 2).mean() / 2

        class Noisy(Base):
            pass

        @d2l.add_to_class(Noisy)
        def forward(self, X):
            if autograd.is_training():
                X = X + self.noise * np.random.normal(size=X.shape)
            return self.net(X.reshape(X.shape[0], -1))

    elif framework == 'tensorflow':
        import tensorflow as tf

        class Base(d2l.Module):
            def __init__(self, lr=0.1, noise=0.0):
                super().__init__()
                self.save_hyperparameters()
                self.net = tf.keras.layers.Dense(1)

            def forward(self, X):
                return self.net(tf.reshape(X, (X.shape[0], -1)))

            def loss(self, y_hat, y):
                return tf.reduce_mean((y_hat - y) ** 2) / 2

        class Noisy(Base):
            pass

        @d2l.add_to_class(Noisy)
        def forward(self, X):
            if self.training:
                X = X + self.noise * tf.random.normal(X.shape)
            return self.net(tf.reshape(X, (X.shape[0], -1)))

    else:
        import jax
        from flax import linen as nn

        class Base(d2l.Module):
            lr: float = 0.1
            noise: float = 0.0
            training: bool = True

            def setup(self):
                self.net = nn.Dense(1)

            def forward(self, X):
                return self.net(X.reshape(X.shape[0], -1))

            def loss(self, params, X, y, state):
                y_hat = state.apply_fn({'params': params}, *X, rngs={'dropout': state.dropout_rng})
                return ((y_hat - y) ** 2).mean() / 2

        class Noisy(Base):
            pass

        @d2l.add_to_class(Noisy)
        def forward(self, X):
            if self.training:  # the noise comes from the 'dropout' stream that the Trainer feeds
                X = X + self.noise * jax.random.normal(self.make_rng('dropout'), X.shape)
            return self.net(X.reshape(X.shape[0], -1))

    return Base, Noisy


def _eval_mode(framework, model):
    if framework == 'pytorch':
        model.eval()
    elif framework in ('tensorflow', 'jax'):
        model.training = False


def test_shape0_reshape_trains_and_recovers_the_weights(d2l, framework):
    Base, _ = _regression_classes(d2l, framework)
    model = Base()
    trainer = _fit(d2l, model, _data(d2l))
    w, b = _weights(framework, model, trainer)
    np.testing.assert_allclose(w, W, atol=0.05)
    assert abs(b - B) < 0.05
    xs, losses = model.board.points('val_loss')
    assert xs.tolist() == [1.0, 2.0, 3.0] and losses[-1] < 1e-3


def test_save_hyperparameters_keeps_the_defaults(d2l, framework):
    Base, _ = _regression_classes(d2l, framework)
    model = Base(noise=0.5)
    assert (model.lr, model.noise) == (0.1, 0.5)
    if framework != 'jax':  # flax modules are dataclasses: their fields are the hyperparameters
        assert model.hparams == {'lr': 0.1, 'noise': 0.5}

    class Data(d2l.DataModule):  # the books' data modules, in every framework
        def __init__(self, num_train=100, batch_size=8, noise=0.1):
            super().__init__()
            self.save_hyperparameters(ignore=['noise'])

    data = Data(batch_size=16)
    assert (data.num_train, data.batch_size, data.root, data.num_workers) == (100, 16, '../data', 4)
    assert not hasattr(data, 'noise') and data.hparams == {'num_train': 100, 'batch_size': 16}


def test_training_branch_of_a_subclass_method_added_with_add_to_class(d2l, framework):
    Base, Noisy = _regression_classes(d2l, framework)
    assert vars(Noisy)['forward'].__qualname__ == '_regression_classes.<locals>.forward'
    assert vars(Base)['forward'].__qualname__.endswith('Base.forward')  # the base class is unchanged
    model = Noisy(noise=1.0)
    data = _data(d2l)
    trainer = _fit(d2l, model, data)
    # Trained on noisy inputs the fit is shrunk towards 0, but validation saw clean inputs: the
    # validation loss that the compiled step plotted is the clean loss of the final weights.
    w, b = _weights(framework, model, trainer)
    assert np.all(np.abs(w) < np.abs(W) - 0.3) and abs(b - B) < 0.5
    _eval_mode(framework, model)
    X, y = data.X[1000:], data.y[1000:]
    if framework == 'jax':
        y_hat = model.apply({'params': trainer.state.params}, X)
    else:
        y_hat = model(X)
    clean_loss = float(((_np(y_hat) - _np(y)) ** 2).mean() / 2)
    plotted = model.board.points('val_loss')[1][-1]  # the mean of the per-batch losses
    assert plotted == pytest.approx(clean_loss, rel=0.1)
    assert model.board.points('train_loss')[1][-1] > 1.2 * plotted  # training saw the noise (about 2x)


def test_jax_dropout_with_its_own_keys(d2l, framework):
    """A from-scratch dropout in the books' JAX style: bernoulli masks from self.make_rng('dropout')."""
    if framework != 'jax':
        pytest.skip('PRNG keys are explicit only in JAX')
    import jax
    from flax import linen as nn
    from jax import numpy as jnp

    class DropoutRegression(d2l.Module):
        num_hiddens: int = 64
        dropout: float = 0.5
        lr: float = 0.03
        training: bool = True

        @nn.compact
        def __call__(self, X):
            H = nn.relu(nn.Dense(self.num_hiddens)(X.reshape(X.shape[0], -1)))
            if self.training:
                keep = jax.random.bernoulli(self.make_rng('dropout'), 1 - self.dropout, H.shape)
                H = jnp.where(keep, H / (1 - self.dropout), 0)
            return nn.Dense(1)(H)

        def loss(self, params, X, y, state):
            y_hat = state.apply_fn({'params': params}, *X, rngs={'dropout': state.dropout_rng})
            return ((y_hat - y) ** 2).mean() / 2

    np.random.seed(0)  # d2l.get_key draws from numpy's generator: the data, initialization and masks repeat
    model = DropoutRegression()
    data = _data(d2l)
    trainer = _fit(d2l, model, data, epochs=5)
    assert model.board.points('val_loss')[1][-1] < 0.5  # it learned (the targets' variance is ~17)
    X = data.X[:16]
    variables = {'params': trainer.state.params}
    training = model.clone(training=True)
    key = jax.random.key(0)
    same = [training.apply(variables, X, rngs={'dropout': key}) for _ in range(2)]
    other = training.apply(variables, X, rngs={'dropout': jax.random.key(1)})
    assert np.array_equal(same[0], same[1]) and not np.allclose(same[0], other)
    evaluated = model.clone(training=False).apply(variables, X)  # no key needed without dropout
    assert evaluated.shape == (16, 1)
    assert jax.dtypes.issubdtype(d2l.get_key().dtype, jax.dtypes.prng_key)  # jax.random.key, not PRNGKey


def test_tensorflow_step_that_cannot_be_traced_runs_eagerly(d2l, framework):
    """A forward pass that needs concrete values (``.numpy()``) cannot be compiled: the Trainer
    says so once and runs the step eagerly instead of failing."""
    if framework != 'tensorflow':
        pytest.skip('only TensorFlow compiles steps by tracing Python code')
    import tensorflow as tf

    class Eager(d2l.Module):
        def __init__(self, lr=0.1):
            super().__init__()
            self.save_hyperparameters()
            self.net = tf.keras.layers.Dense(1)

        def forward(self, X):
            scale = float(X.numpy().std() > 0)  # only possible eagerly
            return self.net(X) * scale

        def loss(self, y_hat, y):
            return tf.reduce_mean((y_hat - y) ** 2) / 2

    model = Eager()
    trainer = d2l.Trainer(max_epochs=3)
    with pytest.warns(UserWarning, match='cannot be compiled.*running it eagerly') as record:
        trainer.fit(model, _data(d2l))
    assert len(record) == 2  # once for the training step, once for the validation step
    w, _ = _weights(framework, model, trainer)
    np.testing.assert_allclose(w, W, atol=0.05)
