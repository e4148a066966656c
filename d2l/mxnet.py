"""d2l for MXNet (numpy interface, ``npx.set_np()``): ``from d2l import mxnet as d2l``.

What is the same in every framework comes from ``d2l._common``; this module holds MXNet's devices,
steps, losses and arrays, then imports the code saved from the chapters (``d2l._saved.mxnet``).
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


try_gpu, try_all_gpus = _common.device_fallbacks(d2l)


# ---------------------------------------------------------------- core classes

class Module(_common.Module, nn_Module):
    """The base class of models."""

    _d2l = d2l

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


def _permutation(n):
    """A random order of range(n), drawn from MXNet's generator (so mx.random.seed applies)."""
    order = np.arange(n, dtype='int64')
    np.random.shuffle(order)
    return order


class DataModule(_common.DataModule):
    """The base class of data."""

    _permutation = staticmethod(_permutation)
    _take = staticmethod(lambda a, i: np.take(a, i, axis=0))


class Trainer(_common.Trainer):
    """The base class for training models with data."""

    _d2l = d2l

    def place_model(self, model):
        if self.gpus:
            model.collect_params().reset_ctx(self.gpus[0])
            model.set_scratch_params_device(self.gpus[0])

    def _train_step(self, batch):
        with autograd.record():
            loss = self.model.training_step(batch)
        loss.backward()
        if self.gradient_clip_val > 0:
            self.clip_gradients(self.gradient_clip_val, self.model)
        self.optim.step(1)

    def _val_step(self, batch):
        self.model.validation_step(batch)

    def _epoch_done(self):
        # MXNet runs asynchronously and nothing here waits for a result during an epoch:
        # wait once per epoch, so that queued work (and its memory) cannot pile up.
        npx.waitall()

    def clip_gradients(self, grad_clip_val, model):
        params = model.parameters()
        if not isinstance(params, list):
            params = [p.data() for p in params.values()]
        norm = math.sqrt(sum((p.grad ** 2).sum() for p in params))
        if norm > grad_clip_val:
            for param in params:
                param.grad[:] *= grad_clip_val / norm


class Classifier(_common.Classifier, Module):
    """The base class of classification models."""

    def loss(self, Y_hat, Y, averaged=True):
        """Cross-entropy loss on logits."""
        # What gluon.loss.SoftmaxCrossEntropyLoss computes, without building a Block at every step
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        loss = -npx.pick(npx.log_softmax(Y_hat), Y.reshape(-1))
        return loss.mean() if averaged else loss


# ---------------------------------------------------------------- data and models

class FashionMNIST(_common.FashionMNIST, DataModule):
    """The Fashion-MNIST dataset: batches are (X, y), X of shape (batch, 1, 28, 28)."""

    def _images(self, X, size):
        X = np.array(X)
        if size != tuple(X.shape[-2:]):
            import mxnet as mx

            X = mx.nd.contrib.BilinearResize2D(X.as_nd_ndarray(), height=size[0],
                                               width=size[1]).as_np_ndarray()
        return X

    def _labels(self, y):
        return np.array(y.astype(onp.int32), dtype=np.int32)


class AmesHousing(_common.AmesHousing, DataModule):
    """House prices in Ames, Iowa: ``raw``, ``train_frame`` and ``test_frame`` are pandas DataFrames."""

    _tensor = staticmethod(lambda array: np.array(array, dtype=array.dtype))


class SyntheticRegressionData(_common.SyntheticRegressionData, DataModule):
    """Synthetic data for linear regression."""

    _d2l = d2l
    _normal = staticmethod(lambda shape: np.random.normal(size=shape))


class LinearRegressionScratch(_common.LinearRegressionScratch, Module):
    """The linear regression model implemented from scratch."""

    def __init__(self, num_inputs, lr, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.w = np.random.normal(0, sigma, (num_inputs, 1))
        self.b = np.zeros(1)
        self.w.attach_grad()
        self.b.attach_grad()


class SGD(_common.SGD):
    """Minibatch stochastic gradient descent.

    ``step`` takes (and ignores) a batch size, like ``gluon.Trainer.step``,
    so that the Trainer can drive either."""

    def step(self, batch_size=1):
        super().step()

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

    def loss(self, y_hat, y):
        fn = gluon.loss.L2Loss()
        return fn(y_hat, y).mean()

    def get_w_b(self):
        return (self.net.weight.data(), self.net.bias.data())


class SoftmaxRegression(Classifier):
    """The softmax regression model."""

    def __init__(self, num_outputs, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Dense(num_outputs)
        self.net.initialize()


# ---------------------------------------------------------------- aliases (D2L_API.md's table)

globals().update(_common.aliases(np, to='as_in_context'))
tensor = np.array
arange = np.arange
log = np.log
normal = np.random.normal
rand = np.random.rand
randn = np.random.randn
matmul = np.dot
concat = np.concatenate
sigmoid = npx.sigmoid
batch_matmul = npx.batch_dot
expand_dims = np.expand_dims
numpy = _common.fluent('asnumpy')


def size(x, *args, **kwargs):
    return x.size


def transpose(x, *args, **kwargs):
    return x.T


_common.import_saved(globals())
