"""d2l for MXNet (numpy interface, ``npx.set_np()``): ``from d2l import mxnet as d2l``.

The framework-neutral parts come from ``d2l._common``; this module adds the
MXNet-specific classes, devices and aliases, then the code saved from the
chapters (``d2l._saved.mxnet``).
"""

import collections  # noqa: F401  (notebooks use d2l.math, d2l.np, ... as in the books)
import math
import os  # noqa: F401
import sys
import time  # noqa: F401

import numpy as onp
from mxnet import autograd, gluon, init, np, npx  # noqa: F401
from mxnet.gluon import nn

# The framework-neutral API (plotting, board, hyperparameters, data download, timers),
# as listed in d2l._common.__all__, re-exported so that d2l.plot etc. work.
from d2l import _common
from d2l._common import *  # noqa: F403

npx.set_np()

d2l = sys.modules[__name__]  # d2l.<name> inside this module, as in the books

nn_Module = nn.Block


# ---------------------------------------------------------------- devices

def cpu():
    """Get the CPU device."""
    return npx.cpu()


def gpu(i=0):
    """Get a GPU device."""
    return npx.gpu(i)


def num_gpus():
    """Get the number of available GPUs."""
    return npx.num_gpus()


def try_gpu(i=0):
    """Return gpu(i) if exists, otherwise return cpu()."""
    if num_gpus() >= i + 1:
        return gpu(i)
    return cpu()


def try_all_gpus():
    """Return all available GPUs, or [cpu(),] if no GPU exists."""
    return [gpu(i) for i in range(num_gpus())] or [cpu()]


# ---------------------------------------------------------------- core classes

class Module(nn_Module, _common.HyperParameters):
    """The base class of models."""

    def __init__(self, plot_train_per_epoch=2, plot_valid_per_epoch=1):
        super().__init__()
        self.save_hyperparameters()
        self.board = _common.ProgressBoard()

    def loss(self, y_hat, y):
        raise NotImplementedError

    def forward(self, X):
        assert hasattr(self, 'net'), 'Neural network is defined'
        return self.net(X)

    def plot(self, key, value, train):
        """Plot a point in animation (the value stays an ndarray until the board draws)."""
        assert hasattr(self, 'trainer'), 'Trainer is not inited'
        _common.draw_on_board(self, key, value, train)

    def training_step(self, batch):
        loss = self.loss(self(*batch[:-1]), batch[-1])
        self.plot('loss', loss, train=True)
        return loss

    def validation_step(self, batch):
        loss = self.loss(self(*batch[:-1]), batch[-1])
        self.plot('loss', loss, train=False)

    def configure_optimizers(self):
        params = self.parameters()
        if isinstance(params, list):
            return SGD(params, self.lr)
        return gluon.Trainer(params, 'sgd', {'learning_rate': self.lr})

    def get_scratch_params(self):
        """The ndarrays held as attributes (from-scratch models), also of sub-modules."""
        params = []
        for attr in dir(self):
            a = getattr(self, attr)
            if isinstance(a, np.ndarray):
                params.append(a)
            if isinstance(a, Module):
                params.extend(a.get_scratch_params())
        return params

    def parameters(self):
        """The Gluon parameters if there are any, else the from-scratch ndarrays."""
        params = self.collect_params()
        return params if len(params.keys()) else self.get_scratch_params()

    def set_scratch_params_device(self, device):
        for attr in dir(self):
            a = getattr(self, attr)
            if isinstance(a, np.ndarray):
                with autograd.record():
                    setattr(self, attr, a.as_in_ctx(device))
                getattr(self, attr).attach_grad()
            if isinstance(a, Module):
                a.set_scratch_params_device(device)
            if isinstance(a, list):
                for elem in a:
                    elem.set_scratch_params_device(device)

    def apply_init(self, inputs, init=None):
        """Initialize the parameters (with ``init`` if given), then run a forward pass to fix their shapes."""
        if init is None:
            self.initialize()
        else:
            self.initialize(init, force_reinit=True)
        self.forward(*inputs)


class DataModule(_common.DataModule):
    """The base class of data."""

    def get_tensorloader(self, tensors, train, indices=slice(0, None)):
        tensors = tuple(a[indices] for a in tensors)
        return _common.ArrayLoader(tensors, self.batch_size, shuffle=train,
                                   permutation=_permutation, take=lambda a, i: np.take(a, i, axis=0))


def _permutation(n):
    """A random order of range(n), drawn from MXNet's generator (so mx.random.seed applies)."""
    order = np.arange(n, dtype='int64')
    np.random.shuffle(order)
    return order


class Trainer(_common.Trainer):
    """The base class for training models with data."""

    def __init__(self, max_epochs, num_gpus=0, gradient_clip_val=0):
        self.save_hyperparameters()
        self.gpus = [d2l.gpu(i) for i in range(min(num_gpus, d2l.num_gpus()))]

    def place_model(self, model):
        if self.gpus:
            model.collect_params().reset_ctx(self.gpus[0])
            model.set_scratch_params_device(self.gpus[0])

    def fit(self, model, data):
        self.prepare_data(data)
        self.prepare_model(model)
        self.optim = model.configure_optimizers()
        self.epoch = 0
        self.train_batch_idx = 0
        self.val_batch_idx = 0
        for epoch in range(self.max_epochs):
            self.epoch = epoch
            self.fit_epoch()
            # MXNet runs asynchronously and nothing here waits for a result during an epoch:
            # wait once per epoch, so that queued work (and its memory) cannot pile up.
            npx.waitall()

    def fit_epoch(self):
        for batch in self.train_dataloader:
            with autograd.record():
                loss = self.model.training_step(self.prepare_batch(batch))
            loss.backward()
            if self.gradient_clip_val > 0:
                self.clip_gradients(self.gradient_clip_val, self.model)
            self.optim.step(1)
            self.train_batch_idx += 1
        if self.val_dataloader is None:
            return
        for batch in self.val_dataloader:
            self.model.validation_step(self.prepare_batch(batch))
            self.val_batch_idx += 1

    def prepare_batch(self, batch):
        if self.gpus:
            batch = [d2l.to(a, self.gpus[0]) for a in batch]
        return batch

    def clip_gradients(self, grad_clip_val, model):
        params = model.parameters()
        if not isinstance(params, list):
            params = [p.data() for p in params.values()]
        norm = math.sqrt(sum((p.grad ** 2).sum() for p in params))
        if norm > grad_clip_val:
            for param in params:
                param.grad[:] *= grad_clip_val / norm


class Classifier(Module):
    """The base class of classification models."""

    def validation_step(self, batch):
        Y_hat = self(*batch[:-1])
        self.plot('loss', self.loss(Y_hat, batch[-1]), train=False)
        self.plot('acc', self.accuracy(Y_hat, batch[-1]), train=False)

    def accuracy(self, Y_hat, Y, averaged=True):
        """Compute the number of correct predictions."""
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        preds = Y_hat.argmax(axis=1).astype(Y.dtype)
        compare = (preds == Y.reshape(-1)).astype(np.float32)
        return compare.mean() if averaged else compare

    def loss(self, Y_hat, Y, averaged=True):
        """Cross-entropy loss on logits."""
        # What gluon.loss.SoftmaxCrossEntropyLoss computes, without building a Block at every step
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        loss = -npx.pick(npx.log_softmax(Y_hat), Y.reshape(-1))
        return loss.mean() if averaged else loss

    def layer_summary(self, X_shape):
        X = np.random.randn(*X_shape)
        for layer in self.net:
            X = layer(X)
            print(layer.__class__.__name__, 'output shape:\t', X.shape)


# ---------------------------------------------------------------- data and models

class _FashionMNISTTensors:
    """How Fashion-MNIST's numpy arrays become MXNet ndarrays."""

    def _images(self, X, size):
        X = np.array(X)
        if size != tuple(X.shape[-2:]):
            import mxnet as mx

            X = mx.nd.contrib.BilinearResize2D(X.as_nd_ndarray(), height=size[0],
                                               width=size[1]).as_np_ndarray()
        return X

    def _labels(self, y):
        return np.array(y.astype(onp.int32), dtype=np.int32)


class FashionMNIST(_FashionMNISTTensors, _common.FashionMNIST, DataModule):
    """The Fashion-MNIST dataset: batches are (X, y), X of shape (batch, 1, 28, 28)."""

    def __init__(self, batch_size=64, resize=(28, 28)):
        super().__init__(batch_size, resize)


class AmesHousing(_common.AmesHousing, DataModule):
    """House prices in Ames, Iowa: ``raw``, ``train_frame`` and ``test_frame`` are pandas DataFrames."""

    def _tensor(self, array):
        return np.array(array, dtype=array.dtype)


class SyntheticRegressionData(DataModule):
    """Synthetic data for linear regression."""

    def __init__(self, w, b, noise=0.01, num_train=1000, num_val=1000, batch_size=32):
        super().__init__()
        self.save_hyperparameters()
        n = num_train + num_val
        self.X = np.random.randn(n, len(w))
        noise = np.random.randn(n, 1) * noise
        self.y = np.dot(self.X, w.reshape((-1, 1))) + b + noise

    def get_dataloader(self, train):
        i = slice(0, self.num_train) if train else slice(self.num_train, None)
        return self.get_tensorloader((self.X, self.y), train, i)


class LinearRegressionScratch(Module):
    """The linear regression model implemented from scratch."""

    def __init__(self, num_inputs, lr, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.w = np.random.normal(0, sigma, (num_inputs, 1))
        self.b = np.zeros(1)
        self.w.attach_grad()
        self.b.attach_grad()

    def forward(self, X):
        return np.dot(X, self.w) + self.b

    def loss(self, y_hat, y):
        loss = (y_hat - y) ** 2 / 2
        return loss.mean()

    def configure_optimizers(self):
        return SGD([self.w, self.b], self.lr)


class SGD(_common.HyperParameters):
    """Minibatch stochastic gradient descent.

    ``step`` takes (and ignores) a batch size, like ``gluon.Trainer.step``,
    so that the Trainer can drive either."""

    def __init__(self, params, lr):
        self.save_hyperparameters()

    def step(self, batch_size=1):
        for param in self.params:
            param -= self.lr * param.grad

    def zero_grad(self):
        # MXNet overwrites gradients at every backward pass (grad_req='write').
        for param in self.params:
            param.grad[:] = 0


class LinearRegression(Module):
    """The linear regression model implemented with high-level APIs."""

    def __init__(self, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Dense(1)
        self.net.initialize(init.Normal(sigma=0.01))

    def forward(self, X):
        return self.net(X)

    def loss(self, y_hat, y):
        fn = gluon.loss.L2Loss()
        return fn(y_hat, y).mean()

    def configure_optimizers(self):
        return gluon.Trainer(self.collect_params(), 'sgd', {'learning_rate': self.lr})

    def get_w_b(self):
        return (self.net.weight.data(), self.net.bias.data())


class SoftmaxRegression(Classifier):
    """The softmax regression model."""

    def __init__(self, num_outputs, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Dense(num_outputs)
        self.net.initialize()

    def forward(self, X):
        return self.net(X)


# ---------------------------------------------------------------- aliases

ones_like = np.ones_like
ones = np.ones
zeros_like = np.zeros_like
zeros = np.zeros
tensor = np.array
arange = np.arange
meshgrid = np.meshgrid
sin = np.sin
sinh = np.sinh
cos = np.cos
cosh = np.cosh
tanh = np.tanh
linspace = np.linspace
exp = np.exp
log = np.log
normal = np.random.normal
rand = np.random.rand
randn = np.random.randn
matmul = np.dot
int32 = np.int32
int64 = np.int64
float32 = np.float32
concat = np.concatenate
stack = np.stack
abs = np.abs
eye = np.eye
sigmoid = npx.sigmoid
batch_matmul = npx.batch_dot
expand_dims = np.expand_dims


numpy = _common.fluent('asnumpy')


def size(x, *args, **kwargs):
    return x.size


reshape = _common.fluent('reshape')
to = _common.fluent('as_in_context')
reduce_sum = _common.fluent('sum')
argmax = _common.fluent('argmax')
astype = _common.fluent('astype')


def transpose(x, *args, **kwargs):
    return x.T


reduce_mean = _common.fluent('mean')
swapaxes = _common.fluent('swapaxes')
repeat = _common.fluent('repeat')


# ---------------------------------------------------------------- code saved from the chapters

try:
    from d2l._saved.mxnet import *  # noqa: F401,F403,E402
except ModuleNotFoundError as e:
    if e.name != 'd2l._saved.mxnet':
        raise
