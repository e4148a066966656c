"""The whole API of D2L_API.md exists in the framework's module, with its signatures, and the aliases
do what the table says."""

import dataclasses
import inspect

import numpy as np
import pytest
from api_spec import ALIASES, FLAX_FIELDS, FLUENT, NN_MODULE, REQUIRED, expected_signatures


def _lookup(d2l, dotted):
    obj = d2l
    for part in dotted.split('.'):
        obj = getattr(obj, part)
    return obj


def test_every_name_has_its_signature(d2l, framework):
    problems = []
    for name, expected in expected_signatures(framework).items():
        try:
            obj = _lookup(d2l, name)
        except AttributeError:
            problems.append(f'{name}: missing')
            continue
        actual = str(inspect.signature(obj))
        if actual != expected:
            problems.append(f'{name}: {actual} != {expected}')
    assert not problems, '\n'.join(problems)


def test_flax_fields(d2l, framework):
    if framework != 'jax':
        pytest.skip('flax dataclass fields exist only in jax')
    for cls_name, expected in FLAX_FIELDS.items():
        fields = [f for f in dataclasses.fields(getattr(d2l, cls_name)) if f.name not in ('parent', 'name')]
        actual = []
        for f in fields:
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = 'factory'
            else:
                default = REQUIRED
            actual.append((f.name, default))
        for item in expected:
            assert item in actual, f'{cls_name}: field {item} missing from {actual}'


def test_class_hierarchy_and_constants(d2l, fw_namespace, framework):
    assert d2l.nn_Module is _lookup_expr(NN_MODULE[framework], fw_namespace)
    assert issubclass(d2l.Module, d2l.nn_Module) and issubclass(d2l.Module, d2l.HyperParameters)
    assert issubclass(d2l.Classifier, d2l.Module)
    assert issubclass(d2l.FashionMNIST, d2l.DataModule)
    assert issubclass(d2l.SyntheticRegressionData, d2l.DataModule)
    assert issubclass(d2l.SoftmaxRegression, d2l.Classifier)
    assert isinstance(d2l.DATA_URL, str) and d2l.DATA_URL.startswith('http')
    assert isinstance(d2l.DATA_HUB, dict)
    assert callable(d2l.Module.__call__)


def _lookup_expr(expr, namespace):
    head, *rest = expr.split('.')
    obj = namespace[head]
    for part in rest:
        obj = getattr(obj, part)
    return obj


def test_simple_aliases_are_the_framework_operations(d2l, fw_namespace, framework):
    problems = []
    for alias, per_framework in ALIASES.items():
        expr = per_framework[framework]
        if expr is None:
            continue
        if getattr(d2l, alias, None) is not _lookup_expr(expr, fw_namespace):
            problems.append(f'd2l.{alias} is not {expr}')
    assert not problems, '\n'.join(problems)


def test_fluent_aliases(d2l, framework):
    """Each fluent alias gives the same result as the method it stands for, on a 2x3 tensor."""
    x = d2l.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    repeats = (2, 1) if framework == 'pytorch' else (2,)
    base = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    checks = {
        'reshape': (lambda: d2l.reshape(x, (3, 2)), base.reshape(3, 2)),
        'numpy': (lambda: d2l.numpy(x), base),
        'size': (lambda: d2l.size(x), 6),
        'to': (lambda: d2l.to(x, d2l.cpu()), base),
        'reduce_sum': (lambda: d2l.reduce_sum(x), base.sum()),
        'reduce_mean': (lambda: d2l.reduce_mean(x), base.mean()),
        'argmax': (lambda: d2l.argmax(x, 1), base.argmax(1)),
        'astype': (lambda: d2l.astype(x, d2l.int32), base.astype(np.int32)),
        'transpose': (lambda: d2l.transpose(x), base.T),
        'expand_dims': (lambda: d2l.expand_dims(x, 0), base[None]),
        'swapaxes': (lambda: d2l.swapaxes(x, 0, 1), base.swapaxes(0, 1)),
        # the frameworks' own repeat methods differ (torch tiles): compare with the method itself
        'repeat': (lambda: d2l.repeat(x, *repeats), lambda: _to_np(x.repeat(*repeats))),
    }
    for alias in FLUENT[framework]:
        compute, expected = checks[alias]
        result = compute()
        if callable(expected):
            expected = expected()
        if alias == 'numpy':
            assert isinstance(result, np.ndarray)
        if alias == 'size':
            assert int(result) == expected
            continue
        np.testing.assert_allclose(_to_np(result), expected, err_msg=alias)
    if framework == 'tensorflow':  # randn, normal and rand take a shape
        assert tuple(d2l.randn(2, 3).shape) == (2, 3)
        assert tuple(d2l.rand((2, 3)).shape) == (2, 3)


def _to_np(t):
    return t.asnumpy() if hasattr(t, 'asnumpy') else np.asarray(t)


def test_astype_keeps_values(d2l):
    x = d2l.arange(0, 5)
    y = d2l.astype(x, d2l.float32)
    value = _to_np(y)
    assert value.dtype == np.float32
    np.testing.assert_array_equal(value, [0, 1, 2, 3, 4])


def test_matmul_concat_stack(d2l):
    a = d2l.ones((2, 3))
    b = d2l.ones((3, 4))
    np.testing.assert_allclose(_to_np(d2l.matmul(a, b)), np.full((2, 4), 3.0))
    assert tuple(d2l.concat((a, a), 0).shape) == (4, 3)
    assert tuple(d2l.stack((a, a)).shape) == (2, 2, 3)


def test_add_to_class_and_hyperparameters(d2l):
    class A(d2l.HyperParameters):
        def __init__(self, a, b, c=3, _hidden=4):
            self.save_hyperparameters(ignore=['c'])

    @d2l.add_to_class(A)
    def total(self):
        return self.a + self.b

    obj = A(1, 2)
    assert obj.total() == 3
    assert obj.hparams == {'a': 1, 'b': 2}
    assert not hasattr(obj, 'c') and not hasattr(obj, '_hidden')


def test_timer_and_accumulator(d2l):
    timer = d2l.Timer()
    timer.stop()
    timer.start()
    timer.stop()
    assert len(timer.times) == 2 and timer.sum() >= 0
    assert timer.avg() == pytest.approx(timer.sum() / 2)
    assert timer.cumsum()[-1] == pytest.approx(timer.sum())
    acc = d2l.Accumulator(2)
    acc.add(1, 2.5)
    acc.add(3, 0.5)
    assert (acc[0], acc[1]) == (4.0, 3.0)
    acc.reset()
    assert acc[0] == 0.0


def test_devices_fall_back_to_cpu(d2l, framework):
    """Without a GPU (this machine), try_gpu and Trainer(num_gpus=1) use the CPU."""
    if d2l.num_gpus() > 0:
        pytest.skip('a GPU is present')
    if framework == 'tensorflow':  # devices are tf.device contexts there
        import tensorflow as tf
        for device in (d2l.try_gpu(), *d2l.try_all_gpus()):
            with device:
                assert tf.ones(1).device.endswith('CPU:0')
    else:
        assert str(d2l.try_gpu()) == str(d2l.cpu())
        assert [str(d) for d in d2l.try_all_gpus()] == [str(d2l.cpu())]
    trainer = d2l.Trainer(max_epochs=1, num_gpus=1)
    assert trainer.gpus == []
