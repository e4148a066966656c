"""d2l for TensorFlow 2 with Keras 3: ``from d2l import tensorflow as d2l``.

What is the same in every framework comes from ``d2l._common``; this module
holds TensorFlow's devices, compiled steps, losses and tensors, then imports the
code saved from the chapters (``d2l._saved.tensorflow``).

The Trainer runs each training and validation step as one ``tf.function``
(graph) call: ``Module.plot`` calls made while the step is traced become
outputs of the graph and are handed to the progress board after each call.
Each batch shape is traced on its own, so the batch size is known inside
the step. Set ``trainer.compile_steps = False`` to run steps eagerly (e.g. to
debug).
"""

import collections  # noqa: F401  (notebooks use d2l.math, d2l.np, ... as in the books)
import math  # noqa: F401
import os  # noqa: F401
import sys
import time  # noqa: F401
import warnings

import numpy as np  # noqa: F401
import tensorflow as tf

# The framework-neutral API (plotting, board, hyperparameters, data download, timers),
# as listed in d2l._common.__all__, re-exported so that d2l.plot etc. work.
from d2l import _common
from d2l._common import *  # noqa: F403

d2l = sys.modules[__name__]  # d2l.<name> inside this module, as in the books

nn_Module = tf.keras.Model


# ---------------------------------------------------------------- devices

def cpu():
    """Get the CPU device."""
    return tf.device('/CPU:0')


def gpu(i=0):
    """Get a GPU device."""
    return tf.device(f'/GPU:{i}')


def num_gpus():
    """Get the number of available GPUs."""
    return len(tf.config.list_physical_devices('GPU'))


try_gpu, try_all_gpus = _common.device_fallbacks(d2l)


# ---------------------------------------------------------------- core classes

def _unshadow_methods(model):
    """Drop instance attributes that hide methods of the model's class.

    Keras 3's Model.__init__ sets ``self.loss = None``, which would hide the
    ``loss`` method that d2l models define."""
    for attr in [a for a in vars(model) if callable(getattr(type(model), a, None))]:
        del model.__dict__[attr]


class Module(_common.Module, nn_Module):
    """The base class of models (a Keras ``Model``)."""

    _d2l = d2l

    def __init__(self, plot_train_per_epoch=2, plot_valid_per_epoch=1):
        super().__init__(plot_train_per_epoch, plot_valid_per_epoch)
        _unshadow_methods(self)
        self.training = None

    def call(self, X, *args, training=None, **kwargs):
        # Keras 3 passes `training` only to a call() whose signature names it.
        if training is not None:
            self.training = training
        return self.forward(X, *args)

    @property
    def trainable_variables(self):
        """Keras' trainable variables plus the raw ``tf.Variable`` attributes of from-scratch models
        (Keras 3 tracks only its own variables)."""
        found = list(super().trainable_variables)
        seen = {id(v) for v in found}
        for layer in self._flatten_layers(include_self=True, recursive=True):
            for value in vars(layer).values():
                values = value if isinstance(value, (list, tuple)) else [value]
                for v in values:
                    if isinstance(v, tf.Variable) and v.trainable and id(v) not in seen:
                        found.append(v)
                        seen.add(id(v))
        return found

    def configure_optimizers(self):
        return tf.keras.optimizers.SGD(self.lr)

    def apply_init(self, inputs, init=None):
        """Run a forward pass (building the layers), then set every kernel with ``init`` if given."""
        self.forward(*inputs)
        if init is not None:
            for v in self.trainable_variables:
                if 'kernel' in v.name:
                    v.assign(init(v.shape, dtype=v.dtype))


class DataModule(_common.DataModule):
    """The base class of data."""

    _permutation = staticmethod(lambda n: tf.random.shuffle(tf.range(n)))
    _take = staticmethod(tf.gather)


class Trainer(_common.Trainer):
    """The base class for training models with data."""

    compile_steps = True  # run each step as one tf.function call
    _d2l = d2l

    def _placement(self):
        # The first GPU asked for; the CPU if none was asked for but TensorFlow sees one (it would
        # place operations on the GPU by default); TensorFlow's own choice (the CPU) otherwise.
        return tf.device('/GPU:0' if self.gpus else ('/CPU:0' if d2l.num_gpus() else None))

    def _prepare_steps(self):
        self._train_step = self._maybe_compiled(self._train_step_eager, 'training step')
        self._val_step = self._maybe_compiled(self.model.validation_step, 'validation step')
        # Build the model's lazily created layers eagerly, on a first batch, before the graph
        # of the training step is traced.
        self.model(*self.prepare_batch(next(iter(self.train_dataloader)))[:-1])

    def _train_mode(self, training):
        self.model.training = training

    def _train_step_eager(self, batch):
        with tf.GradientTape() as tape:
            loss = self.model.training_step(batch)
        variables = self.model.trainable_variables
        grads = tape.gradient(loss, variables)
        if self.gradient_clip_val > 0:
            grads = self.clip_gradients(self.gradient_clip_val, grads)
        self.optim.apply_gradients(zip(grads, variables, strict=True))

    def _maybe_compiled(self, step, name):
        """``step(batch)`` as a tf.function whose ``model.plot`` calls are replayed eagerly after each call.

        Each batch shape gets a trace of its own, with the batch size known, so models that
        reshape with ``X.shape[0]`` (as the d2l.ai books write them) work: an epoch traces the
        full batch and the smaller last one. Past ``max_traces`` shapes, or when a step cannot be
        traced at all, it runs eagerly (with a warning saying why)."""
        if not self.compile_steps:
            return step
        plot_keys = []

        def traced(batch):
            self._traced_plots = []  # filled by model.plot while tracing
            try:
                step(batch)
                plots = self._traced_plots
            finally:
                self._traced_plots = None
            plot_keys[:] = [(key, train) for key, _, train in plots]
            return [value for _, value, _ in plots]

        compiled = tf.function(traced)  # traces once per batch shape (no free batch dimension)
        shapes = set()
        eager = False

        def run(batch):
            nonlocal eager
            batch = tuple(batch)
            if not eager:
                shape = tuple((tuple(t.shape), t.dtype) for t in batch)
                if shape not in shapes:
                    eager = self._cannot_trace(compiled, batch, len(shapes), name)
                    shapes.add(shape)
            if eager:
                step(batch)
                return
            values = compiled(batch)
            for (key, train), value in zip(plot_keys, values, strict=True):
                self.model.plot(key, value, train)

        return run

    max_traces = 4  # batch shapes traced per step; beyond that, steps run eagerly

    def _cannot_trace(self, compiled, batch, num_traced, name):
        """Trace ``compiled`` for this batch's shape; True (with a warning) if the step must run eagerly."""
        if num_traced >= self.max_traces:
            warnings.warn(f"d2l.Trainer: more than {self.max_traces} batch shapes; running the "
                          f"{name} eagerly from now on", stacklevel=4)
            return True
        try:
            compiled.get_concrete_function(batch)
        except Exception as e:  # noqa: BLE001 (any failure to trace: the eager run shows real errors)
            warnings.warn(f"d2l.Trainer: the {name} cannot be compiled ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}); running it eagerly", stacklevel=4)
            return True
        return False

    def prepare_batch(self, batch):
        return batch  # placed by the device that fit runs under

    def clip_gradients(self, grad_clip_val, grads):
        """Scale ``grads`` so that their global norm is at most ``grad_clip_val``."""
        grad_clip_val = tf.constant(grad_clip_val, dtype=tf.float32)
        new_grads = [tf.convert_to_tensor(grad) if isinstance(grad, tf.IndexedSlices) else grad
                     for grad in grads]
        norm = tf.math.sqrt(sum((tf.reduce_sum(grad ** 2)) for grad in new_grads))
        scale = tf.minimum(1.0, grad_clip_val / (norm + 1e-12))
        return [grad * scale for grad in new_grads]


class Classifier(_common.Classifier, Module):
    """The base class of classification models."""

    def loss(self, Y_hat, Y, averaged=True):
        """Cross-entropy loss on logits."""
        Y_hat = tf.reshape(Y_hat, (-1, Y_hat.shape[-1]))
        Y = tf.reshape(Y, (-1,))
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=Y_hat)
        return tf.reduce_mean(loss) if averaged else loss


# ---------------------------------------------------------------- data and models

class FashionMNIST(_common.FashionMNIST, DataModule):
    """The Fashion-MNIST dataset: batches are (X, y), X of shape (batch, 28, 28, 1)."""

    channels_last = True

    def _images(self, X, size):
        X = tf.constant(X)
        if size != tuple(X.shape[1:3]):
            X = tf.image.resize(X, size, antialias=True)
        return X

    def _labels(self, y):
        return tf.constant(y.astype(np.int32))


class AmesHousing(_common.AmesHousing, DataModule):
    """House prices in Ames, Iowa: ``raw``, ``train_frame`` and ``test_frame`` are pandas DataFrames."""

    _tensor = staticmethod(tf.constant)


class SyntheticRegressionData(_common.SyntheticRegressionData, DataModule):
    """Synthetic data for linear regression."""

    _d2l = d2l
    _normal = staticmethod(tf.random.normal)


class LinearRegressionScratch(_common.LinearRegressionScratch, Module):
    """The linear regression model implemented from scratch."""

    def __init__(self, num_inputs, lr, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        w = tf.random.normal((num_inputs, 1), mean=0, stddev=sigma)
        b = tf.zeros(1)
        self.w = tf.Variable(w, trainable=True)
        self.b = tf.Variable(b, trainable=True)


class SGD(_common.HyperParameters):
    """Minibatch stochastic gradient descent on ``params`` (tf.Variables).

    TensorFlow computes gradients with a tape rather than storing them on the
    variables, so the Trainer calls ``apply_gradients`` (as with a Keras
    optimizer); ``step(grads)`` does the same for ``params``. The older form
    ``SGD(lr)`` is accepted too."""

    def __init__(self, params, lr=None):
        if lr is None:
            params, lr = None, params
        self.save_hyperparameters()

    def apply_gradients(self, grads_and_vars):
        for grad, param in grads_and_vars:
            param.assign_sub(self.lr * grad)

    def step(self, grads):
        self.apply_gradients(zip(grads, self.params, strict=True))

    def zero_grad(self):
        """Nothing to reset: a gradient tape starts from zero every step."""


class LinearRegression(Module):
    """The linear regression model implemented with high-level APIs."""

    def __init__(self, lr):
        super().__init__()
        self.save_hyperparameters()
        initializer = tf.initializers.RandomNormal(stddev=0.01)
        self.net = tf.keras.layers.Dense(1, kernel_initializer=initializer)

    def loss(self, y_hat, y):
        fn = tf.keras.losses.MeanSquaredError()
        return fn(y, y_hat)

    def get_w_b(self):
        return (self.get_weights()[0], self.get_weights()[1])


class SoftmaxRegression(Classifier):
    """The softmax regression model."""

    def __init__(self, num_outputs, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = tf.keras.models.Sequential([
            tf.keras.layers.Flatten(), tf.keras.layers.Dense(num_outputs)])


# ---------------------------------------------------------------- aliases (D2L_API.md's table)

globals().update(_common.aliases(tf, methods=False))
tensor = tf.constant
arange = tf.range
log = tf.math.log
normal = tf.random.normal
rand = tf.random.uniform
matmul = tf.matmul
concat = tf.concat
sigmoid = tf.sigmoid
batch_matmul = tf.matmul
reshape = tf.reshape
reduce_sum = tf.reduce_sum
reduce_mean = tf.reduce_mean
argmax = tf.argmax
astype = tf.cast
transpose = tf.transpose
expand_dims = tf.expand_dims
repeat = tf.repeat
numpy = _common.fluent('numpy')


def randn(*shape, **kwargs):
    """Standard normal samples of the given shape (tf.random.normal)."""
    return tf.random.normal(shape, **kwargs)


def size(x, *args, **kwargs):
    return tf.size(x, *args, **kwargs).numpy()


_common.import_saved(globals())
