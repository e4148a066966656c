"""Values and gradients of the chapter's activation functions, in each framework, against their
closed forms and against the other frameworks, on arange(-8, 8, 0.1), to 1e-5.

The functions: relu; prelu with a fixed slope alpha = 0.25 on negative inputs; sigmoid; tanh; gelu in its
exact form x * Phi(x) with Phi the standard normal CDF (via erf, not the tanh approximation); swish with
beta = 1, x * sigmoid(x) (also called silu). Each framework computes them with its own operations and its
own automatic differentiation (relu's and prelu's derivatives are compared away from x = 0, where
they are undefined), in float64 where it allows (jax: float32, since float64 is a process-wide
switch there).

Agreement between frameworks: with D2L_ACTIVATIONS_DIR set (``make test-d2l`` sets it, after emptying
it), each framework's run saves its arrays there as <framework>.npz; once every framework has run,
``activations_agree.py`` compares them all in one step and fails on any disagreement or missing framework.
"""

import math
import os
from pathlib import Path

import numpy as np
import pytest
from activations_agree import NAMES, TOL, disagreements, save

ALPHA = 0.25


def closed_forms(x):
    """name -> (values, derivatives) in float64."""
    x = np.asarray(x, dtype=np.float64)
    sig = 1 / (1 + np.exp(-x))
    th = np.tanh(x)
    Phi = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    phi = np.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi)
    return {
        'relu': (np.maximum(x, 0), (x > 0).astype(np.float64)),
        'prelu': (np.where(x > 0, x, ALPHA * x), np.where(x > 0, 1.0, ALPHA)),
        'sigmoid': (sig, sig * (1 - sig)),
        'tanh': (th, 1 - th ** 2),
        'gelu': (x * Phi, Phi + x * phi),
        'swish': (x * sig, sig + x * sig * (1 - sig)),
    }


def _torch():
    import torch
    import torch.nn.functional as F
    fns = {'relu': torch.relu, 'prelu': lambda x: F.prelu(x, torch.tensor([ALPHA], dtype=x.dtype)),
           'sigmoid': torch.sigmoid, 'tanh': torch.tanh, 'gelu': lambda x: F.gelu(x, approximate='none'),
           'swish': F.silu}
    out = {}
    for name, f in fns.items():
        x = torch.arange(-8.0, 8.0, 0.1, dtype=torch.float64, requires_grad=True)
        y = f(x)
        y.backward(torch.ones_like(y))
        out[name] = (x.detach().numpy(), y.detach().numpy(), x.grad.numpy())
    return out


def _mxnet():
    from mxnet import autograd, np, npx
    npx.set_np()
    fns = {'relu': npx.relu, 'prelu': lambda x: npx.leaky_relu(x, act_type='leaky', slope=ALPHA),
           'sigmoid': npx.sigmoid, 'tanh': np.tanh, 'gelu': lambda x: npx.leaky_relu(x, act_type='gelu'),
           'swish': lambda x: x * npx.sigmoid(x)}
    out = {}
    for name, f in fns.items():
        x = np.arange(-8.0, 8.0, 0.1, dtype='float64')
        x.attach_grad()
        with autograd.record():
            y = f(x)
        y.backward()
        out[name] = (x.asnumpy(), y.asnumpy(), x.grad.asnumpy())
    return out


def _tensorflow():
    import tensorflow as tf
    fns = {'relu': tf.nn.relu, 'prelu': lambda x: tf.nn.leaky_relu(x, alpha=ALPHA), 'sigmoid': tf.sigmoid,
           'tanh': tf.tanh, 'gelu': lambda x: tf.nn.gelu(x, approximate=False), 'swish': tf.nn.silu}
    out = {}
    for name, f in fns.items():
        x = tf.range(-8.0, 8.0, 0.1, dtype=tf.float64)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        out[name] = (x.numpy(), y.numpy(), tape.gradient(y, x).numpy())
    return out


def _jax():
    import jax
    import jax.numpy as jnp
    fns = {'relu': jax.nn.relu, 'prelu': lambda x: jax.nn.leaky_relu(x, negative_slope=ALPHA),
           'sigmoid': jax.nn.sigmoid, 'tanh': jnp.tanh, 'gelu': lambda x: jax.nn.gelu(x, approximate=False),
           'swish': jax.nn.swish}
    out = {}
    for name, f in fns.items():
        x = jnp.arange(-8.0, 8.0, 0.1, dtype=jnp.float32)
        y = f(x)
        grad = jax.vmap(jax.grad(f))(x)
        out[name] = (np.asarray(x), np.asarray(y), np.asarray(grad))
    return out


COMPUTE = {'pytorch': _torch, 'mxnet': _mxnet, 'tensorflow': _tensorflow, 'jax': _jax}


@pytest.fixture(scope='module')
def computed(framework):
    values = COMPUTE[framework]()
    if os.environ.get('D2L_ACTIVATIONS_DIR'):  # for the comparison step after every framework has run
        save(Path(os.environ['D2L_ACTIVATIONS_DIR']), framework, values)
    return values


def test_grid_is_arange(computed):
    for name in NAMES:
        x = computed[name][0]
        assert x.shape == (160,), name
        np.testing.assert_allclose(x, -8 + 0.1 * np.arange(160), atol=1e-5)


@pytest.mark.parametrize('name', NAMES)
def test_values_and_gradients_match_closed_forms(computed, name):
    x, y, grad = computed[name]
    # The closed forms at the framework's own grid points (float32 grids differ from float64 ones by
    # ~1e-7, which matters at relu's kink near 0).
    expected_y, expected_grad = closed_forms(x)[name]
    assert np.max(np.abs(y - expected_y)) <= TOL, f'{name} values'
    defined = x != 0  # relu and prelu have no derivative at 0 (frameworks pick 0 or 1 there)
    assert np.max(np.abs(grad - expected_grad)[defined]) <= TOL, f'{name} gradients'


def test_the_comparison_agrees_with_itself_and_catches_a_disagreement(computed, framework):
    """The cross-framework step must be able to fail: a value off by 1e-4 in one function is reported."""
    assert disagreements({framework: computed, 'copy': computed}) == []
    changed = {name: tuple(np.array(a, copy=True) for a in arrays) for name, arrays in computed.items()}
    changed['gelu'][1][100] += 1e-4
    found = disagreements({framework: computed, 'other': changed})
    assert len(found) == 1 and 'gelu values' in found[0] and 'other' in found[0]
