"""d2l for PyTorch: ``from d2l import torch as d2l``.

The framework-neutral parts come from ``d2l._common``; this module adds the
PyTorch-specific classes, devices and aliases, then the code saved from the
chapters (``d2l._saved.torch``).
"""

import collections  # noqa: F401  (notebooks use d2l.math, d2l.np, ... as in the books)
import math  # noqa: F401
import os  # noqa: F401
import sys
import time  # noqa: F401

import numpy as np  # noqa: F401
import torch
import torch.nn.functional as F
from torch import nn

# The framework-neutral API (plotting, board, hyperparameters, data download, timers),
# as listed in d2l._common.__all__, re-exported so that d2l.plot etc. work.
from d2l import _common
from d2l._common import *  # noqa: F403

d2l = sys.modules[__name__]  # d2l.<name> inside this module, as in the books

nn_Module = nn.Module


# ---------------------------------------------------------------- devices

def cpu():
    """Get the CPU device."""
    return torch.device('cpu')


def gpu(i=0):
    """Get a GPU device."""
    return torch.device(f'cuda:{i}')


def num_gpus():
    """Get the number of available GPUs."""
    return torch.cuda.device_count()


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
        """Plot a point in animation (the value stays a tensor until the board draws)."""
        assert hasattr(self, 'trainer'), 'Trainer is not inited'
        _common.draw_on_board(self, key, value.detach() if torch.is_tensor(value) else value, train)

    def training_step(self, batch):
        loss = self.loss(self(*batch[:-1]), batch[-1])
        self.plot('loss', loss, train=True)
        return loss

    def validation_step(self, batch):
        loss = self.loss(self(*batch[:-1]), batch[-1])
        self.plot('loss', loss, train=False)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def apply_init(self, inputs, init=None):
        """Run a forward pass (materializing lazy layers), then apply ``init`` to every layer."""
        self.forward(*inputs)
        if init is not None:
            self.net.apply(init)


class DataModule(_common.DataModule):
    """The base class of data."""

    def get_tensorloader(self, tensors, train, indices=slice(0, None)):
        tensors = tuple(a[indices] for a in tensors)
        return _common.ArrayLoader(tensors, self.batch_size, shuffle=train,
                                   permutation=torch.randperm, take=lambda a, i: a[i])


class Trainer(_common.Trainer):
    """The base class for training models with data."""

    def __init__(self, max_epochs, num_gpus=0, gradient_clip_val=0):
        self.save_hyperparameters()
        self.gpus = [d2l.gpu(i) for i in range(min(num_gpus, d2l.num_gpus()))]

    def place_model(self, model):
        if self.gpus:
            model.to(self.gpus[0])

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

    def fit_epoch(self):
        self.model.train()
        for batch in self.train_dataloader:
            loss = self.model.training_step(self.prepare_batch(batch))
            self.optim.zero_grad()
            with torch.no_grad():
                loss.backward()
                if self.gradient_clip_val > 0:
                    self.clip_gradients(self.gradient_clip_val, self.model)
                self.optim.step()
            self.train_batch_idx += 1
        if self.val_dataloader is None:
            return
        self.model.eval()
        for batch in self.val_dataloader:
            with torch.no_grad():
                self.model.validation_step(self.prepare_batch(batch))
            self.val_batch_idx += 1

    def prepare_batch(self, batch):
        if self.gpus:
            batch = [d2l.to(a, self.gpus[0]) for a in batch]
        return batch

    def clip_gradients(self, grad_clip_val, model):
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:  # from-scratch models hold plain tensors
            params = [v for v in vars(model).values() if torch.is_tensor(v) and v.requires_grad]
        params = [p for p in params if p.grad is not None]
        if not params:
            return
        norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in params))
        # Scale without a Python branch on the norm: no device sync per step.
        scale = torch.clamp(grad_clip_val / (norm + 1e-12), max=1.0)
        for param in params:
            param.grad.mul_(scale)


class Classifier(Module):
    """The base class of classification models."""

    def validation_step(self, batch):
        Y_hat = self(*batch[:-1])
        self.plot('loss', self.loss(Y_hat, batch[-1]), train=False)
        self.plot('acc', self.accuracy(Y_hat, batch[-1]), train=False)

    def accuracy(self, Y_hat, Y, averaged=True):
        """Compute the number of correct predictions."""
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        preds = Y_hat.argmax(axis=1).type(Y.dtype)
        compare = (preds == Y.reshape(-1)).type(torch.float32)
        return compare.mean() if averaged else compare

    def loss(self, Y_hat, Y, averaged=True):
        """Cross-entropy loss on logits."""
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        Y = Y.reshape((-1,))
        return F.cross_entropy(Y_hat, Y, reduction='mean' if averaged else 'none')

    def layer_summary(self, X_shape):
        X = torch.randn(*X_shape)
        for layer in self.net:
            X = layer(X)
            print(layer.__class__.__name__, 'output shape:\t', X.shape)


# ---------------------------------------------------------------- data and models

class _FashionMNISTTensors:
    """How Fashion-MNIST's numpy arrays become PyTorch tensors."""

    def _images(self, X, size):
        X = torch.from_numpy(X)
        if size != tuple(X.shape[-2:]):
            X = F.interpolate(X, size=size, mode='bilinear', antialias=True, align_corners=False)
        return X

    def _labels(self, y):
        return torch.from_numpy(y.astype(np.int64))

    def _make_dataset(self, X, y):
        return torch.utils.data.TensorDataset(X, y)


class FashionMNIST(_FashionMNISTTensors, _common.FashionMNIST, DataModule):
    """The Fashion-MNIST dataset: batches are (X, y), X of shape (batch, 1, 28, 28)."""

    def __init__(self, batch_size=64, resize=(28, 28)):
        super().__init__(batch_size, resize)


class AmesHousing(_common.AmesHousing, DataModule):
    """House prices in Ames, Iowa: ``raw``, ``train_frame`` and ``test_frame`` are pandas DataFrames."""

    def _tensor(self, array):
        return torch.tensor(array)


class SyntheticRegressionData(DataModule):
    """Synthetic data for linear regression."""

    def __init__(self, w, b, noise=0.01, num_train=1000, num_val=1000, batch_size=32):
        super().__init__()
        self.save_hyperparameters()
        n = num_train + num_val
        self.X = torch.randn(n, len(w))
        noise = torch.randn(n, 1) * noise
        self.y = torch.matmul(self.X, w.reshape((-1, 1))) + b + noise

    def get_dataloader(self, train):
        i = slice(0, self.num_train) if train else slice(self.num_train, None)
        return self.get_tensorloader((self.X, self.y), train, i)


class LinearRegressionScratch(Module):
    """The linear regression model implemented from scratch."""

    def __init__(self, num_inputs, lr, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.w = torch.normal(0, sigma, (num_inputs, 1), requires_grad=True)
        self.b = torch.zeros(1, requires_grad=True)

    def forward(self, X):
        return torch.matmul(X, self.w) + self.b

    def loss(self, y_hat, y):
        loss = (y_hat - y) ** 2 / 2
        return loss.mean()

    def configure_optimizers(self):
        return SGD([self.w, self.b], self.lr)


class SGD(_common.HyperParameters):
    """Minibatch stochastic gradient descent."""

    def __init__(self, params, lr):
        self.save_hyperparameters()

    def step(self):
        for param in self.params:
            param -= self.lr * param.grad

    def zero_grad(self):
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()


class LinearRegression(Module):
    """The linear regression model implemented with high-level APIs."""

    def __init__(self, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.LazyLinear(1)
        self.net.weight.data.normal_(0, 0.01)
        self.net.bias.data.fill_(0)

    def forward(self, X):
        return self.net(X)

    def loss(self, y_hat, y):
        fn = nn.MSELoss()
        return fn(y_hat, y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), self.lr)

    def get_w_b(self):
        return (self.net.weight.data, self.net.bias.data)


class SoftmaxRegression(Classifier):
    """The softmax regression model."""

    def __init__(self, num_outputs, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_outputs))

    def forward(self, X):
        return self.net(X)


# ---------------------------------------------------------------- aliases

ones_like = torch.ones_like
ones = torch.ones
zeros_like = torch.zeros_like
zeros = torch.zeros
tensor = torch.tensor
arange = torch.arange
meshgrid = torch.meshgrid
sin = torch.sin
sinh = torch.sinh
cos = torch.cos
cosh = torch.cosh
tanh = torch.tanh
linspace = torch.linspace
exp = torch.exp
log = torch.log
normal = torch.normal
rand = torch.rand
randn = torch.randn
matmul = torch.matmul
int32 = torch.int32
int64 = torch.int64
float32 = torch.float32
concat = torch.cat
stack = torch.stack
abs = torch.abs
eye = torch.eye
sigmoid = torch.sigmoid
batch_matmul = torch.bmm


def numpy(x, *args, **kwargs):
    return x.detach().numpy(*args, **kwargs)


size = _common.fluent('numel')
reshape = _common.fluent('reshape')
to = _common.fluent('to')
reduce_sum = _common.fluent('sum')
argmax = _common.fluent('argmax')
astype = _common.fluent('type')
transpose = _common.fluent('t')
reduce_mean = _common.fluent('mean')
expand_dims = _common.fluent('unsqueeze')
swapaxes = _common.fluent('swapaxes')
repeat = _common.fluent('repeat')


# ---------------------------------------------------------------- code saved from the chapters

try:
    from d2l._saved.torch import *  # noqa: F401,F403,E402
except ModuleNotFoundError as e:
    if e.name != 'd2l._saved.torch':
        raise
