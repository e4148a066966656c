"""d2l for JAX with Flax (linen) and Optax: ``from d2l import jax as d2l``.

What is the same in every framework comes from ``d2l._common``; this module
holds JAX's devices, state, compiled steps and losses, then imports the code
saved from the chapters (``d2l._saved.jax``).

Models are ``flax.linen`` modules (dataclasses: hyperparameters are fields).
The Trainer keeps a flax ``TrainState`` (with ``batch_stats`` and a
``dropout_rng``) in ``trainer.state`` and runs each training and validation
step as one ``jax.jit`` call: ``Module.plot`` calls made while a step is traced
become outputs of the compiled step and are handed to the progress board after
each call.
"""

import collections  # noqa: F401  (notebooks use d2l.math, d2l.np, ... as in the books)
import math  # noqa: F401
import os
import sys
import time  # noqa: F401
from dataclasses import field
from typing import Any

import jax
import numpy as np
import optax
from flax import linen as nn
from flax.training import train_state
from jax import numpy as jnp

# The framework-neutral API (plotting, board, hyperparameters, data download, timers),
# as listed in d2l._common.__all__, re-exported so that d2l.plot etc. work.
from d2l import _common
from d2l._common import *  # noqa: F403

d2l = sys.modules[__name__]  # d2l.<name> inside this module, as in the books


def _use_persistent_compilation_cache():
    """Keep what XLA compiles on disk, for every later process (JAX's persistent compilation cache):
    each notebook of a book compiles the same initialization and steps again, and a warm cache cut
    JAX's setup and first epoch of the chapter's MLP from about 10 s to 2 s here. A folder under
    ~/.cache/d2l (``$D2L_JAX_CACHE`` names another; an empty value turns it off), unless the user
    has chosen a cache of their own (JAX_COMPILATION_CACHE_DIR). Entries are keyed by the program,
    JAX's version and the device; each is a few kilobytes."""
    if jax.config.jax_compilation_cache_dir is not None:
        return
    folder = os.environ.get('D2L_JAX_CACHE')
    if folder is None:
        folder = os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'd2l', 'jax')
    if folder:
        jax.config.update('jax_compilation_cache_dir', folder)
        jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)  # the steps compile in well under 1 s


_use_persistent_compilation_cache()

nn_Module = nn.Module


# ---------------------------------------------------------------- randomness and devices

def get_seed():
    """A fresh random seed, drawn from numpy's global generator (so np.random.seed makes runs repeatable)."""
    return int(np.random.randint(0, 2**31 - 1))


def get_key():
    """A fresh JAX random key (a typed key, as ``jax.random.key`` makes)."""
    return jax.random.key(get_seed())


def cpu():
    """Get the CPU device."""
    return jax.devices('cpu')[0]


def gpu(i=0):
    """Get a GPU device."""
    return jax.devices('gpu')[i]


def num_gpus():
    """Get the number of available GPUs."""
    try:
        return len(jax.devices('gpu'))
    except RuntimeError:  # no GPU backend
        return 0


try_gpu, try_all_gpus = _common.device_fallbacks(d2l)


# ---------------------------------------------------------------- core classes

class Module(nn_Module, _common.HyperParameters):
    """The base class of models (a flax.linen module: hyperparameters are dataclass fields)."""

    plot_train_per_epoch: int = field(default=2, init=False)
    plot_valid_per_epoch: int = field(default=1, init=False)
    # default_factory: every model gets its own board
    board: _common.ProgressBoard = field(default_factory=lambda: _common.ProgressBoard(), init=False)
    _d2l = d2l

    def loss(self, params, X, Y, state, averaged=True):
        raise NotImplementedError

    def forward(self, X, *args, **kwargs):
        assert hasattr(self, 'net'), 'Neural network is defined'
        return self.net(X, *args, **kwargs)

    def __call__(self, X, *args, **kwargs):
        return self.forward(X, *args, **kwargs)

    plot = _common.Module.plot
    _board_value = _common.Module.__dict__['_board_value']  # the static method itself

    def training_step(self, params, batch, state):
        loss, grads = jax.value_and_grad(self.loss)(params, batch[:-1], batch[-1], state)
        self.plot('loss', loss, train=True)
        return loss, grads

    def validation_step(self, params, batch, state):
        loss = self.loss(params, batch[:-1], batch[-1], state)
        self.plot('loss', loss, train=False)

    def apply_init(self, dummy_input, key):
        """The model's variables, initialized with ``key`` by running it on ``dummy_input`` (a tuple)."""
        # One compiled computation: run op by op, initialization compiles dozens of small ones.
        params = jax.jit(self.init)(key, *dummy_input)  # dummy_input tuple unpacked
        return params

    def configure_optimizers(self):
        return optax.sgd(self.lr)


class DataModule(_common.DataModule):
    """The base class of data."""

    _permutation = staticmethod(np.random.permutation)
    _take = staticmethod(lambda a, i: a[i])


def _derived_keys(key, n):
    """``n`` new random keys derived from ``key``, made on the host.

    Like ``jax.random.split(key, n)``, but without compiling an XLA
    computation (which takes a noticeable part of a short training run)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    rng = np.random.default_rng(np.asarray(key, dtype=np.uint32).ravel().tolist())
    return rng.integers(0, 2**32, size=(n, 2), dtype=np.uint32)


class TrainState(train_state.TrainState):
    """Flax's TrainState plus the state of batch normalization and dropout."""

    batch_stats: Any
    dropout_rng: jax.Array


class Trainer(_common.Trainer):
    """The base class for training models with data."""

    _d2l = d2l

    def fit(self, model, data, key=None):
        self._key = key
        super().fit(model, data)

    def _placement(self):
        # Everything (parameters, batches) lives on the first requested GPU, else the CPU.
        return jax.default_device(self.gpus[0] if self.gpus else d2l.cpu())

    def _prepare_steps(self):
        root_key = d2l.get_key() if self._key is None else self._key
        params_key, dropout_key = _derived_keys(root_key, 2)
        key = {'params': params_key, 'dropout': dropout_key}
        dummy_input = self.prepare_batch(next(iter(self.train_dataloader)))[:-1]
        variables = self.model.apply_init(dummy_input, key=key)
        params = variables['params']
        # batch_stats are used by batch normalization
        batch_stats = variables['batch_stats'] if 'batch_stats' in variables else {}
        self.state = TrainState.create(apply_fn=self.model.apply, params=params,
                                       batch_stats=batch_stats, dropout_rng=dropout_key, tx=self.optim)
        self._train_state_step = self._compiled(self._train_state_update)
        self._val_state_step = self._compiled(
            lambda state, batch: self.model.validation_step(state.params, batch, state))

    def _train_mode(self, training):
        if training:
            # A fresh dropout key for every step (ignored by models without dropout), made up front
            self._dropout_keys = iter(_derived_keys(self.state.dropout_rng, self.num_train_batches + 1))
        else:
            self.state = self.state.replace(dropout_rng=next(self._dropout_keys))
        self.model.training = training

    def _train_step(self, batch):
        self.state = self._train_state_step(self.state.replace(dropout_rng=next(self._dropout_keys)), batch)

    def _val_step(self, batch):
        self._val_state_step(self.state, batch)

    def _epoch_done(self):
        # JAX dispatches asynchronously and nothing here waits for a result during an
        # epoch: wait once per epoch, so that queued work (and its memory) cannot pile up.
        jax.block_until_ready(self.state)

    def _train_state_update(self, state, batch):
        """One optimization step: the new TrainState (a pure function, compiled by ``_compiled``)."""
        value, grads = self.model.training_step(state.params, batch, state)
        if self.gradient_clip_val > 0:
            grads = self.clip_gradients(self.gradient_clip_val, grads)
        state = state.apply_gradients(grads=grads)
        if state.batch_stats:
            # The loss of models with batch normalization returns (loss, mutated variables)
            _, mutated_vars = value
            state = state.replace(batch_stats=mutated_vars['batch_stats'])
        return state

    def _compiled(self, step):
        """``step(state, batch)`` under ``jax.jit``; its ``model.plot`` calls are replayed after each call."""
        plot_keys = []

        def traced(state, batch):
            self._traced_plots = []
            try:
                out = step(state, batch)
                plots = self._traced_plots
            finally:
                self._traced_plots = None
            plot_keys[:] = [(key, train) for key, _, train in plots]
            return out, [value for _, value, _ in plots]

        compiled = jax.jit(traced)

        def run(state, batch):
            out, values = compiled(state, tuple(batch))
            for (key, train), value in zip(plot_keys, values, strict=True):
                self.model.plot(key, value, train)
            return out

        return run

    def clip_gradients(self, grad_clip_val, grads):
        """Scale ``grads`` (a pytree) so that their global norm is at most ``grad_clip_val``."""
        grad_leaves = jax.tree.leaves(grads)
        norm = jnp.sqrt(sum(jnp.vdot(x, x) for x in grad_leaves))
        scale = jnp.minimum(1.0, grad_clip_val / (norm + 1e-12))
        return jax.tree.map(lambda grad: grad * scale, grads)


class Classifier(Module):
    """The base class of classification models."""

    def training_step(self, params, batch, state):
        # value is (loss, auxiliary data): models with batch normalization return
        # their updated batch statistics as the auxiliary data
        value, grads = jax.value_and_grad(self.loss, has_aux=True)(params, batch[:-1], batch[-1], state)
        loss, _ = value
        self.plot("loss", loss, train=True)
        return value, grads

    def validation_step(self, params, batch, state):
        loss, _ = self.loss(params, batch[:-1], batch[-1], state)
        self.plot('loss', loss, train=False)
        self.plot('acc', self.accuracy(params, batch[:-1], batch[-1], state), train=False)

    def accuracy(self, params, X, Y, state, averaged=True):
        """Compute the number of correct predictions."""
        Y_hat = state.apply_fn({'params': params, 'batch_stats': state.batch_stats}, *X)
        return _common.Classifier.accuracy(self, Y_hat, Y, averaged)

    def loss(self, params, X, Y, state, averaged=True):
        """Cross-entropy loss on logits; returns (loss, auxiliary data)."""
        # The Trainer advances state.dropout_rng every step: models with dropout need it.
        Y_hat = state.apply_fn({'params': params}, *X, mutable=False, rngs={'dropout': state.dropout_rng})
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        Y = Y.reshape((-1,))
        fn = optax.softmax_cross_entropy_with_integer_labels
        # The empty dictionary is the auxiliary data (used by batch normalization)
        return (fn(Y_hat, Y).mean(), {}) if averaged else (fn(Y_hat, Y), {})

    def layer_summary(self, X_shape, key=None):
        key = d2l.get_key() if key is None else key
        X = jnp.zeros(X_shape)
        params = self.init(key, X)
        bound_model = self.clone().bind(params, mutable=['batch_stats'])
        _ = bound_model(X)
        for layer in bound_model.net.layers:
            X = layer(X)
            print(layer.__class__.__name__, 'output shape:\t', X.shape)


# ---------------------------------------------------------------- data and models

class FashionMNIST(_common.FashionMNIST, DataModule):
    """The Fashion-MNIST dataset: batches are (X, y) numpy arrays, X of shape (batch, 28, 28, 1).

    They stay numpy arrays (channels last), as in the JAX books: batches are cut on the host and go
    to the device with each compiled step, which is what an idiomatic JAX loop does."""

    channels_last = True

    def _images(self, X, size):
        if size != tuple(X.shape[1:3]):
            X = np.asarray(jax.image.resize(X, (X.shape[0], *size, X.shape[3]), 'bilinear', antialias=True))
        return X

    def _labels(self, y):
        return y.astype(np.int32)


class AmesHousing(_common.AmesHousing, DataModule):
    """House prices in Ames, Iowa: ``raw``, ``train_frame`` and ``test_frame`` are pandas DataFrames.

    Batches stay numpy arrays, as for Fashion-MNIST: they go to the device with each compiled step."""

    _tensor = staticmethod(np.asarray)


class SyntheticRegressionData(_common.SyntheticRegressionData, DataModule):
    """Synthetic data for linear regression."""

    _d2l = d2l
    _normal = staticmethod(lambda shape: jax.random.normal(d2l.get_key(), shape))


class LinearRegressionScratch(Module):
    """The linear regression model implemented from scratch."""

    num_inputs: int
    lr: float
    sigma: float = 0.01

    def setup(self):
        self.w = self.param('w', nn.initializers.normal(self.sigma), (self.num_inputs, 1))
        self.b = self.param('b', nn.initializers.zeros, (1))

    def forward(self, X):
        return jnp.matmul(X, self.w) + self.b

    def loss(self, params, X, y, state):
        y_hat = state.apply_fn({'params': params}, *X)
        loss = (y_hat - y.reshape(y_hat.shape)) ** 2 / 2
        return loss.mean()

    def configure_optimizers(self):
        return SGD(self.lr)


class SGD(_common.HyperParameters):
    """Minibatch stochastic gradient descent, usable as an optax optimizer (``init``/``update``).

    JAX has no stored gradients: ``step(grads)`` returns the updated
    ``params``, and ``zero_grad`` has nothing to do. The older form ``SGD(lr)``
    (as an optax transformation for the Trainer) is accepted too."""

    def __init__(self, params, lr=None):
        if lr is None:
            params, lr = None, params
        self.save_hyperparameters()

    def init(self, params):
        del params
        return optax.EmptyState()

    def update(self, updates, state, params=None):
        del params
        updates = jax.tree.map(lambda g: -self.lr * g, updates)
        return updates, state

    def __call__(self):
        return optax.GradientTransformation(self.init, self.update)

    def step(self, grads):
        self.params = jax.tree.map(lambda p, g: p - self.lr * g, self.params, grads)
        return self.params

    def zero_grad(self):
        """Nothing to reset: JAX computes fresh gradients every step."""


class LinearRegression(Module):
    """The linear regression model implemented with high-level APIs."""

    lr: float

    def setup(self):
        self.net = nn.Dense(1, kernel_init=nn.initializers.normal(0.01))

    def loss(self, params, X, y, state):
        y_hat = state.apply_fn({'params': params}, *X)
        return optax.l2_loss(y_hat, y.reshape(y_hat.shape)).mean()

    def get_w_b(self, state):
        net = state.params['net']
        return net['kernel'], net['bias']


class SoftmaxRegression(Classifier):
    """The softmax regression model."""

    num_outputs: int
    lr: float

    @nn.compact
    def __call__(self, X):
        X = X.reshape((X.shape[0], -1))  # Flatten
        X = nn.Dense(self.num_outputs)(X)
        return X


# ---------------------------------------------------------------- aliases (D2L_API.md's table)

globals().update(_common.aliases(jnp))
tensor = jnp.array
arange = jnp.arange
log = jnp.log
matmul = jnp.matmul
concat = jnp.concatenate
sigmoid = jax.nn.sigmoid
expand_dims = jnp.expand_dims
to = jax.device_put


def numpy(x, *args, **kwargs):
    return np.asarray(x, *args, **kwargs)


def transpose(x, *args, **kwargs):
    return x.T


_common.import_saved(globals())
