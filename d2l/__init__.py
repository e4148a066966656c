"""d2l: the helper package of a d2l-style book, for PyTorch, MXNet, JAX and TensorFlow.

Import the module of your framework: ``from d2l import torch as d2l``
(or ``mxnet``, ``jax``, ``tensorflow``).
"""

__version__ = "0.1.0"
