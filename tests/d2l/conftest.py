"""Shared fixtures for the d2l tests, which run in one framework's environment at a time.

Run as ``D2L_FRAMEWORK=<tab> <env>/bin/python -m pytest tests/d2l`` (``make test-d2l`` does it for
every tab). Without D2L_FRAMEWORK nothing is collected: the tool environment has no framework.
"""

import importlib
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # test this checkout's d2l, whatever is installed in the env

MODULES = {'pytorch': 'torch', 'mxnet': 'mxnet', 'jax': 'jax', 'tensorflow': 'tensorflow'}
FRAMEWORK = os.environ.get('D2L_FRAMEWORK')


if FRAMEWORK is None:
    # The tool environment has no framework (nor numpy): collect nothing here.
    collect_ignore_glob = ['test_*.py']
elif FRAMEWORK not in MODULES:
    raise pytest.UsageError(f'D2L_FRAMEWORK={FRAMEWORK!r}: expected one of {", ".join(MODULES)}')


@pytest.fixture(scope='session')
def framework():
    return FRAMEWORK


@pytest.fixture(scope='session')
def d2l():
    """The framework's d2l module, e.g. ``from d2l import torch as d2l``."""
    module = importlib.import_module('d2l.' + MODULES[FRAMEWORK])
    assert Path(module.__file__).resolve().parent == ROOT / 'd2l', module.__file__
    return module


@pytest.fixture(scope='session')
def fw_namespace(d2l):
    """The framework's own modules, by the names used in api_spec.ALIASES."""
    if FRAMEWORK == 'pytorch':
        import torch
        return {'torch': torch}
    if FRAMEWORK == 'mxnet':
        from mxnet import gluon, np, npx
        return {'np': np, 'npx': npx, 'gluon': gluon}
    if FRAMEWORK == 'tensorflow':
        import tensorflow as tf
        return {'tf': tf}
    import flax
    import flax.linen  # noqa: F401
    import jax
    import jax.numpy as jnp
    return {'jax': jax, 'jnp': jnp, 'flax': flax}


@pytest.fixture(scope='session')
def real_files():
    """name -> path of the real Fashion-MNIST files, found as d2l finds them ($D2L_DATA first)."""
    from d2l import _common
    return _common.fashion_mnist_paths(str(ROOT / 'data'))
