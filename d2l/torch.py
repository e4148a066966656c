"""d2l for PyTorch: ``from d2l import torch as d2l``.

What is the same in every framework comes from ``d2l._common``; this module holds PyTorch's devices,
steps, losses and tensors, then imports the code saved from the chapters (``d2l._saved.torch``).
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


try_gpu, try_all_gpus = _common.device_fallbacks(d2l)


# ---------------------------------------------------------------- core classes

class Module(_common.Module, nn_Module):
    """The base class of models."""

    _d2l = d2l
    _board_value = staticmethod(lambda value: value.detach() if torch.is_tensor(value) else value)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def apply_init(self, inputs, init=None):
        """Run a forward pass (materializing lazy layers), then apply ``init`` to every layer."""
        self.forward(*inputs)
        if init is not None:
            self.net.apply(init)


class DataModule(_common.DataModule):
    """The base class of data."""

    _permutation = staticmethod(torch.randperm)
    # index_select copies whole rows: 4 times faster here than indexing with a tensor (a[i])
    _take = staticmethod(lambda a, i: a.index_select(0, i))


class Trainer(_common.Trainer):
    """The base class for training models with data."""

    _d2l = d2l

    def place_model(self, model):
        if self.gpus:
            model.to(self.gpus[0])

    def _train_mode(self, training):
        self.model.train(training)

    def _train_step(self, batch):
        loss = self.model.training_step(batch)
        self.optim.zero_grad()
        with torch.no_grad():
            loss.backward()
            if self.gradient_clip_val > 0:
                self.clip_gradients(self.gradient_clip_val, self.model)
            self.optim.step()

    def _val_step(self, batch):
        with torch.no_grad():
            self.model.validation_step(batch)

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


class Classifier(_common.Classifier, Module):
    """The base class of classification models."""

    def loss(self, Y_hat, Y, averaged=True):
        """Cross-entropy loss on logits."""
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        Y = Y.reshape((-1,))
        return F.cross_entropy(Y_hat, Y, reduction='mean' if averaged else 'none')


# ---------------------------------------------------------------- data and models

class FashionMNIST(_common.FashionMNIST, DataModule):
    """The Fashion-MNIST dataset: batches are (X, y), X of shape (batch, 1, 28, 28)."""

    def _images(self, X, size):
        X = torch.from_numpy(X)
        if size != tuple(X.shape[-2:]):
            X = F.interpolate(X, size=size, mode='bilinear', antialias=True, align_corners=False)
        return X

    def _labels(self, y):
        return torch.from_numpy(y.astype(np.int64))

    def _make_dataset(self, X, y):
        return torch.utils.data.TensorDataset(X, y)


class AmesHousing(_common.AmesHousing, DataModule):
    """House prices in Ames, Iowa: ``raw``, ``train_frame`` and ``test_frame`` are pandas DataFrames."""

    _tensor = staticmethod(torch.tensor)


class SyntheticRegressionData(_common.SyntheticRegressionData, DataModule):
    """Synthetic data for linear regression."""

    _d2l = d2l
    _normal = staticmethod(torch.randn)


class LinearRegressionScratch(_common.LinearRegressionScratch, Module):
    """The linear regression model implemented from scratch."""

    def __init__(self, num_inputs, lr, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.w = torch.normal(0, sigma, (num_inputs, 1), requires_grad=True)
        self.b = torch.zeros(1, requires_grad=True)


class SGD(_common.SGD):
    """Minibatch stochastic gradient descent."""

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

    def loss(self, y_hat, y):
        return F.mse_loss(y_hat, y)

    def get_w_b(self):
        return (self.net.weight.data, self.net.bias.data)


class SoftmaxRegression(Classifier):
    """The softmax regression model."""

    def __init__(self, num_outputs, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_outputs))


# ---------------------------------------------------------------- aliases (D2L_API.md's table)

globals().update(_common.aliases(torch, size='numel', to='to', astype='type', transpose='t',
                                 expand_dims='unsqueeze'))
tensor = torch.tensor
arange = torch.arange
log = torch.log
normal = torch.normal
rand = torch.rand
randn = torch.randn
matmul = torch.matmul
concat = torch.cat
sigmoid = torch.sigmoid
batch_matmul = torch.bmm


def numpy(x, *args, **kwargs):
    return x.detach().numpy(*args, **kwargs)


_common.import_saved(globals())
