"""One run of ``make bench-d2l``, in one framework's environment (started by d2l_bench.py).

    python bench/d2l_bench_worker.py FRAMEWORK d2l|plain|floor EPOCHS [--device cpu|cuda]
                                     [--model mlp|house-prices --chapter-code FILE]
    python bench/d2l_bench_worker.py flops

Trains a model of d2l_bench_shapes.MODELS for EPOCHS epochs, with d2l.Trainer or with a plain loop
written the way one would without d2l: the chapter's MLP (784-256-10, ReLU, SGD lr 0.1, batch 256) on
Fashion-MNIST, or house-prices.md's MLP on its first fold of the Ames sales (the d2l way runs the
section's own HousePriceMLP). Both ways do the same work per epoch: one random permutation of the
training set cut into batches of 256 (the last one smaller), a step per batch whose loss is kept,
then a pass over the validation set in order computing loss and accuracy (log-RMSE) per batch. Each
run is a fresh process, as a notebook is, so that compilation caches of one way do not help the
other. Prints one JSON object: wall-clock and CPU seconds per epoch over the run (model setup and
compilation included, data loading not), the first epoch's (with the setup before it), the later
epochs' median (the steady state), and the final validation accuracy (log-RMSE).

``floor`` times only the matrix products of such an epoch, in the same framework, on tensors made
beforehand (``epoch_gemms``): forward and backward of every training batch, forward of every
validation batch. It is what the epoch costs with no Python, no framework dispatch around the
products, no batch assembly and no elementwise work: the floor that d2l's epoch is compared with.
``flops`` measures numpy's float32 2048x2048 matmul instead (a reference for the machine).
"""

import argparse
import contextlib
import functools
import importlib
import importlib.util
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402
from d2l_bench_shapes import BATCH, HIDDEN, HOUSE, LR, MODELS, OUTPUTS, epoch_gemms, gemm_flops  # noqa: E402


def matmul_flops(n=2048, repeats=10):
    """FLOP/s of numpy's float32 matrix multiplication (the best of ``repeats``)."""
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    a @ b
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def _arrays(channels_last):
    from d2l import _common
    train_X, train_y, val_X, val_y = _common.load_fashion_mnist()
    axis = 3 if channels_last else 1

    def to_float(X):
        return np.expand_dims(X.astype(np.float32) / np.float32(255), axis)

    return to_float(train_X), train_y.astype(np.int64), to_float(val_X), val_y.astype(np.int64)


@dataclass
class Workload:
    """A model and its data as the plain loops and the floor see them (numpy arrays). ``mlp``
    classifies with cross-entropy and SGD, ``house-prices`` regresses (labels of shape (n, 1)) with the
    squared error and AdamW (biases not decayed), dropout after the hidden layer."""

    name: str
    train_X: np.ndarray
    train_y: np.ndarray
    val_X: np.ndarray
    val_y: np.ndarray
    hidden: int
    outputs: int
    lr: float
    batch: int
    val_batch: int
    dropout: float = 0.0
    weight_decay: float = 0.0

    @property
    def regression(self):
        return self.name == 'house-prices'

    @property
    def inputs(self):
        return int(np.prod(self.train_X.shape[1:]))

    def arrays(self, label_dtype=np.int64):
        """(train_X, train_y, val_X, val_y), classification labels as ``label_dtype``."""
        if self.regression:
            return self.train_X, self.train_y, self.val_X, self.val_y
        return self.train_X, self.train_y.astype(label_dtype), self.val_X, self.val_y.astype(label_dtype)

    def gemms(self):
        return epoch_gemms(len(self.train_X), len(self.val_X), self.batch, self.inputs, self.hidden,
                           self.outputs, self.val_batch)


def house_fold(framework):
    """The first of house-prices.md's folds of the Ames sales, encoded as the section encodes them
    (``d2l.AmesHousing.folds``, saved into d2l from the section)."""
    d2l = importlib.import_module(f'd2l.{D2L_MODULES[framework]}')
    return next(d2l.AmesHousing(batch_size=HOUSE['batch']).folds(HOUSE['folds']))


def workload(name, framework, channels_last=False):
    """The benchmark's model ``name`` (see d2l_bench_shapes.MODELS) with its data."""
    if name == 'mlp':
        return Workload('mlp', *_arrays(channels_last), hidden=HIDDEN, outputs=OUTPUTS, lr=LR, batch=BATCH,
                        val_batch=BATCH)
    fold = house_fold(framework)
    (train_X, train_y), (val_X, val_y) = fold.train, fold.val
    return Workload('house-prices', train_X, train_y, val_X, val_y, hidden=HOUSE['hidden'], outputs=1,
                    lr=HOUSE['lr'], batch=HOUSE['batch'], val_batch=len(val_X), dropout=HOUSE['dropout'],
                    weight_decay=HOUSE['weight_decay'])


def _val_metric(work, mean_val_loss, mean_acc):
    """What a run reports: validation accuracy, or for a regression the log-RMSE (the root of the
    squared error; the validation rows are one batch)."""
    return float(mean_val_loss) ** 0.5 if work.regression else float(mean_acc)


# ---------------------------------------------------------------- pytorch

def pytorch_plain(work, epochs, device):
    import torch
    import torch.nn.functional as F
    from torch import nn

    dev = torch.device('cuda' if device == 'cuda' else 'cpu')
    train_X, train_y, val_X, val_y = (torch.from_numpy(a).to(dev) for a in work.arrays())
    start = _clock()
    dropout = [nn.Dropout(work.dropout)] if work.dropout else []
    net = nn.Sequential(nn.Flatten(), nn.Linear(work.inputs, work.hidden), nn.ReLU(), *dropout,
                        nn.Linear(work.hidden, work.outputs)).to(dev)
    if work.regression:
        loss_fn = F.mse_loss
        params = dict(net.named_parameters())
        optimizer = torch.optim.AdamW([
            {'params': [p for n, p in params.items() if n.endswith('weight')]},
            {'params': [p for n, p in params.items() if n.endswith('bias')], 'weight_decay': 0.0}],
            lr=work.lr, weight_decay=work.weight_decay)
    else:
        loss_fn, optimizer = F.cross_entropy, torch.optim.SGD(net.parameters(), lr=work.lr)
    for _ in _epochs(epochs, marks := []):
        net.train()
        losses = []
        order = torch.randperm(len(train_X), device=dev)
        for i in range(0, len(train_X), work.batch):
            idx = order[i:i + work.batch]
            loss = loss_fn(net(train_X[idx]), train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        net.eval()
        val_losses, accs = [], []
        with torch.no_grad():
            for i in range(0, len(val_X), work.val_batch):
                out, y = net(val_X[i:i + work.val_batch]), val_y[i:i + work.val_batch]
                val_losses.append(loss_fn(out, y))
                if not work.regression:
                    accs.append((out.argmax(1) == y).float().mean())
        train_loss = torch.stack(losses).mean().item()
        metric = _val_metric(work, torch.stack(val_losses).mean(), accs and torch.stack(accs).mean())
    return _timings(start, marks), metric, train_loss


# ---------------------------------------------------------------- mxnet

def mxnet_plain(work, epochs, device):
    from mxnet import autograd, gluon, np, npx
    from mxnet.gluon import nn
    npx.set_np()

    ctx = npx.gpu(0) if device == 'cuda' else npx.cpu()
    train_X, train_y, val_X, val_y = (np.array(a, dtype=a.dtype, ctx=ctx) for a in work.arrays())
    start = _clock()
    net = nn.Sequential()
    net.add(nn.Dense(work.hidden, activation='relu'))
    if work.dropout:
        net.add(nn.Dropout(work.dropout))
    net.add(nn.Dense(work.outputs))
    net.initialize(ctx=ctx)
    params = net.collect_params()
    if work.regression:  # MXNet 1.9 has no AdamW: decay the weights, then Adam's step (as the section does)
        adam = gluon.Trainer(params, 'adam', {'learning_rate': work.lr})

        def step():
            for name, param in params.items():
                if name.endswith('weight'):
                    param.data()[:] *= 1 - work.lr * work.weight_decay
            adam.step(1)

        def loss_fn(out, y):
            return (out - y) ** 2
    else:
        step = functools.partial(gluon.Trainer(params, 'sgd', {'learning_rate': work.lr}).step, 1)
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    n = len(train_X)
    for _ in _epochs(epochs, marks := []):
        losses = []
        order = np.arange(n, dtype='int64', ctx=ctx)
        np.random.shuffle(order)
        for i in range(0, n, work.batch):
            idx = order[i:i + work.batch]
            X, y = np.take(train_X, idx, axis=0), np.take(train_y, idx, axis=0)
            with autograd.record():
                loss = loss_fn(net(X), y).mean()
            loss.backward()
            step()
            losses.append(loss)
        val_losses, accs = [], []
        for i in range(0, len(val_X), work.val_batch):
            out, y = net(val_X[i:i + work.val_batch]), val_y[i:i + work.val_batch]
            val_losses.append(loss_fn(out, y).mean())
            if not work.regression:
                accs.append((out.argmax(axis=1).astype(y.dtype) == y).astype('float32').mean())
        train_loss = float(np.stack(losses).mean())
        metric = _val_metric(work, np.stack(val_losses).mean(), accs and np.stack(accs).mean())
    return _timings(start, marks), metric, train_loss


# ---------------------------------------------------------------- jax

def jax_plain(work, epochs, device):
    import jax
    from flax import linen as nn

    class MLP(nn.Module):
        training: bool = True

        @nn.compact
        def __call__(self, X):
            X = X.reshape((X.shape[0], -1))
            X = nn.relu(nn.Dense(work.hidden)(X))
            if work.dropout:
                X = nn.Dropout(work.dropout, deterministic=not self.training)(X)
            return nn.Dense(work.outputs)(X)

    start = _clock()
    with jax.default_device(jax.devices('gpu' if device == 'cuda' else 'cpu')[0]):
        return _jax_plain_loop(work, epochs, start, MLP())


def _jax_plain_loop(work, epochs, start, model):
    import jax
    import jax.numpy as jnp
    import optax
    from flax.training import train_state

    train_X, train_y, val_X, val_y = work.arrays(label_dtype=np.int32)
    params = model.init(jax.random.key(0), train_X[:1])['params']
    if work.regression:
        tx = optax.adamw(work.lr, weight_decay=work.weight_decay,
                         mask=lambda p: jax.tree.map(lambda a: a.ndim > 1, p))

        def loss_of(out, y):
            return ((out - y) ** 2).mean()
    else:
        tx = optax.sgd(work.lr)

        def loss_of(out, y):
            return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    eval_model = model.clone(training=False)

    @jax.jit
    def train_step(state, X, y, key):
        def loss_fn(params):
            return loss_of(state.apply_fn({'params': params}, X, rngs={'dropout': key}), y)
        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    @jax.jit
    def eval_step(params, X, y):
        out = eval_model.apply({'params': params}, X)
        return loss_of(out, y), (out.argmax(1) == y).mean()

    n, key = len(train_X), jax.random.key(1)
    for _ in _epochs(epochs, marks := []):
        losses = []
        order = np.random.permutation(n)
        for i in range(0, n, work.batch):
            idx = order[i:i + work.batch]
            key, step_key = jax.random.split(key)
            state, loss = train_step(state, train_X[idx], train_y[idx], step_key)
            losses.append(loss)
        val = [eval_step(state.params, val_X[i:i + work.val_batch], val_y[i:i + work.val_batch])
               for i in range(0, len(val_X), work.val_batch)]
        train_loss = float(jnp.stack(losses).mean())
        metric = _val_metric(work, jnp.stack([v for v, _ in val]).mean(), jnp.stack([a for _, a in val]).mean())
    return _timings(start, marks), metric, train_loss


# ---------------------------------------------------------------- tensorflow

def tensorflow_plain(work, epochs, device):
    import tensorflow as tf

    with tf.device(_tf_device(device)):
        return _tensorflow_plain_loop(work, epochs)


def _tf_device(device):
    return '/GPU:0' if device == 'cuda' else '/CPU:0'


def _tensorflow_plain_loop(work, epochs):
    import tensorflow as tf

    train_X, train_y, val_X, val_y = (tf.constant(a) for a in work.arrays(label_dtype=np.int32))
    start = _clock()
    dropout = [tf.keras.layers.Dropout(work.dropout)] if work.dropout else []
    net = tf.keras.models.Sequential([
        tf.keras.layers.Flatten(), tf.keras.layers.Dense(work.hidden, activation='relu'), *dropout,
        tf.keras.layers.Dense(work.outputs)])
    net.build((None, *train_X.shape[1:]))
    if work.regression:
        optimizer = tf.keras.optimizers.AdamW(learning_rate=work.lr, weight_decay=work.weight_decay)
        optimizer.exclude_from_weight_decay(var_names=['bias'])
        loss_fn = tf.keras.losses.MeanSquaredError()
    else:
        optimizer = tf.keras.optimizers.SGD(work.lr)
        loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(reduce_retracing=True)
    def train_step(X, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, net(X, training=True))
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables, strict=True))
        return loss

    @tf.function(reduce_retracing=True)
    def eval_step(X, y):
        out = net(X, training=False)
        if work.regression:
            return loss_fn(y, out), tf.constant(0.0)
        return loss_fn(y, out), tf.reduce_mean(tf.cast(tf.cast(tf.argmax(out, 1), y.dtype) == y, tf.float32))

    n, n_val = int(train_X.shape[0]), int(val_X.shape[0])
    for _ in _epochs(epochs, marks := []):
        losses = []
        order = tf.random.shuffle(tf.range(n))
        for i in range(0, n, work.batch):
            idx = order[i:i + work.batch]
            losses.append(train_step(tf.gather(train_X, idx), tf.gather(train_y, idx)))
        val = [eval_step(val_X[i:i + work.val_batch], val_y[i:i + work.val_batch])
               for i in range(0, n_val, work.val_batch)]
        train_loss = float(tf.reduce_mean(tf.stack(losses)))
        metric = _val_metric(work, tf.reduce_mean(tf.stack([v for v, _ in val])),
                             tf.reduce_mean(tf.stack([a for _, a in val])))
    return _timings(start, marks), metric, train_loss


# ---------------------------------------------------------------- the floor: the epoch's matrix products alone

def _floor_operands(rng, work):
    """The operands of every product of ``work.gemms()``, made beforehand as numpy arrays, grouped by
    batch: the input batches are slices of one training (validation) set of the data's shape and
    their transposes are copies, so that each product reads fresh data as training does; weights and
    the small activations are shared."""
    def rand(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    inputs, hidden, outputs = work.inputs, work.hidden, work.outputs
    train_X, val_X = rand(len(work.train_X), inputs), rand(len(work.val_X), inputs)
    W1, W2, W2T = rand(inputs, hidden), rand(hidden, outputs), rand(outputs, hidden)
    rows = max(work.batch, work.val_batch)
    H, dO, dH = rand(rows, hidden), rand(rows, outputs), rand(rows, hidden)
    batches = []
    for start in range(0, len(train_X), work.batch):
        X = train_X[start:start + work.batch]
        b = len(X)
        batches.append([(X, W1), (H[:b], W2), (np.ascontiguousarray(H[:b].T), dO[:b]), (dO[:b], W2T),
                        (np.ascontiguousarray(X.T), dH[:b])])
    for start in range(0, len(val_X), work.val_batch):
        X = val_X[start:start + work.val_batch]
        batches.append([(X, W1), (H[:len(X)], W2)])
    shapes = [(a.shape[0], a.shape[1], b.shape[1]) for batch in batches for a, b in batch]
    assert shapes == work.gemms(), 'the floor must run exactly the products of work.gemms()'
    return batches


def _floor_backend(framework, device):
    """(to_array, matmul, sync, context) of the framework on ``device``: ``to_array(a, right)`` makes the
    framework's array of a numpy array (``right``: the right-hand operand of ``matmul``), sync(outputs)
    waits until they are computed; everything runs inside ``context``. ``matmul`` is the fastest way
    the framework has to multiply two matrices, the one its dense layers use."""
    if framework == 'pytorch':
        import torch
        dev = torch.device('cuda' if device == 'cuda' else 'cpu')
        if device == 'cuda' and not torch.cuda.is_available():
            raise SystemExit('pytorch sees no CUDA device')

        def sync(outputs):
            if device == 'cuda':
                torch.cuda.synchronize()
        return (lambda a, right=False: torch.from_numpy(a.copy()).to(dev)), torch.mm, sync, contextlib.nullcontext()
    if framework == 'mxnet':
        from mxnet import np as mnp
        from mxnet import npx
        npx.set_np()
        if device == 'cuda' and npx.num_gpus() == 0:
            raise SystemExit('mxnet sees no CUDA device')
        ctx = npx.gpu(0) if device == 'cuda' else npx.cpu()

        # A Dense layer's products run in FullyConnected (oneDNN on the CPU), 4-5 times faster here than
        # np.dot (OpenBLAS): A B is FullyConnected(A, B^T), with B^T made beforehand.
        def to_array(a, right=False):
            return mnp.array(np.ascontiguousarray(a.T) if right else a, ctx=ctx)

        def matmul(a, b_transposed):
            return npx.fully_connected(a, b_transposed, num_hidden=b_transposed.shape[0], no_bias=True)
        return to_array, matmul, lambda outputs: npx.waitall(), contextlib.nullcontext()
    if framework == 'jax':
        import jax
        import jax.numpy as jnp
        try:
            dev = jax.devices('gpu')[0] if device == 'cuda' else jax.devices('cpu')[0]
        except RuntimeError:
            raise SystemExit('jax sees no CUDA device') from None
        return (lambda a, right=False: jax.device_put(a, dev)), jnp.matmul, jax.block_until_ready, jax.default_device(dev)
    import tensorflow as tf
    if device == 'cuda' and not tf.config.list_physical_devices('GPU'):
        raise SystemExit('tensorflow sees no CUDA device')
    return (lambda a, right=False: tf.constant(a)), tf.linalg.matmul, lambda outputs: outputs[-1].numpy(), \
        tf.device(_tf_device(device))


def floor(work, framework, epochs, device='cpu'):
    """The timings (see _timings) of ``epochs`` epochs of ``work``'s matrix products alone: the later
    epochs' median is the floor; the first one also warms up the framework's kernels."""
    # d2l imported first: whatever it sets up in the framework (threads, for one) holds for the floor too
    importlib.import_module(f'd2l.{D2L_MODULES[framework]}')
    to_array, matmul, sync, context = _floor_backend(framework, device)
    with context:
        batches = [[(to_array(a), to_array(b, right=True)) for a, b in batch]
                   for batch in _floor_operands(np.random.default_rng(0), work)]
        sync([b for batch in batches for _, b in batch])
        start = _clock()
        for _ in _epochs(epochs, marks := []):
            for batch in batches:
                sync([matmul(a, b) for a, b in batch])
    return _timings(start, marks)


# ---------------------------------------------------------------- shared

def _clock():
    return time.perf_counter(), time.process_time()


def _per_epoch(start, epochs):
    """(wall-clock, CPU) seconds per epoch since ``start``. CPU time (all threads of this process) is
    less disturbed by other processes on a busy machine."""
    wall, cpu = _clock()
    return (wall - start[0]) / epochs, (cpu - start[1]) / epochs


def _epochs(epochs, marks):
    """range(epochs), appending the clock to ``marks`` as each epoch starts."""
    for epoch in range(epochs):
        marks.append(_clock())
        yield epoch


def _timings(start, marks):
    """The figures of a run that started at ``start`` and whose epochs started at ``marks`` (it ends now):
    seconds per epoch over the whole run (setup and compilation included), the first epoch with the
    setup before it, and the median of the later epochs (the steady state), each wall-clock and CPU."""
    ends = [*marks[1:], _clock()]
    seconds, cpu_seconds = _per_epoch(start, len(marks))
    later = list(zip(marks[1:], ends[1:], strict=True)) or [(start, ends[0])]
    return {'seconds_per_epoch': seconds, 'cpu_seconds_per_epoch': cpu_seconds,
            'first': ends[0][0] - start[0], 'first_cpu': ends[0][1] - start[1],
            'later': statistics.median(b[0] - a[0] for a, b in later),
            'later_cpu': statistics.median(b[1] - a[1] for a, b in later)}


D2L_MODULES = {'pytorch': 'torch', 'mxnet': 'mxnet', 'jax': 'jax', 'tensorflow': 'tensorflow'}


def d2l_way(framework, epochs, device):
    """The chapter's MLP as the chapter saves it into d2l (``d2l.MLP``), trained by d2l.Trainer
    (on the first GPU with ``device='cuda'``: ``Trainer(num_gpus=1)``, as the books write it)."""
    d2l = _d2l(framework, device)
    data = d2l.FashionMNIST(batch_size=BATCH)
    model = d2l.MLP(num_hiddens=HIDDEN, num_outputs=OUTPUTS, lr=LR)
    return _fit(d2l, model, data, epochs, device, 'val_acc')


def house_d2l_way(framework, epochs, device, chapter_code):
    """house-prices.md's own ``HousePriceMLP`` (its code for this framework, with the section's
    imports, from ``chapter_code``) on the first fold, trained by d2l.Trainer as the section trains it."""
    # imported from its file (not exec'd), so that TensorFlow's AutoGraph can read the methods' source
    spec = importlib.util.spec_from_file_location('house_prices_section', chapter_code)
    section = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(section)
    d2l = _d2l(framework, device)
    model = section.HousePriceMLP(num_hiddens=(HOUSE['hidden'],), dropout=HOUSE['dropout'],
                                       lr=HOUSE['lr'], weight_decay=HOUSE['weight_decay'])
    model.board.display = False
    return _fit(d2l, model, house_fold(framework), epochs, device, 'val_log_rmse')


def _d2l(framework, device):
    d2l = importlib.import_module(f'd2l.{D2L_MODULES[framework]}')
    if device == 'cuda' and d2l.num_gpus() == 0:
        raise SystemExit(f'{framework} sees no CUDA device')
    return d2l


def _fit(d2l, model, data, epochs, device, metric):
    """d2l.Trainer on the model; the seconds per epoch include the Trainer's setup, as the plain loop's
    do. Returns the timings, the last value of the board's curve ``metric`` and the training loss."""
    trainer = d2l.Trainer(max_epochs=epochs, num_gpus=1 if device == 'cuda' else 0)
    marks, fit_epoch = [], trainer.fit_epoch

    def timed_fit_epoch():  # an epoch starts when the previous one's results are ready (fit waits for them)
        marks.append(_clock())
        fit_epoch()
    trainer.fit_epoch = timed_fit_epoch
    start = _clock()
    trainer.fit(model, data)
    # The results, as the plain loops read theirs: this also waits for any work still queued
    value = float(model.board.points(metric)[1][-1])
    train_loss = float(model.board.points('train_loss')[1][-1])
    return _timings(start, marks), value, train_loss


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ['flops']:
        print(json.dumps({'matmul_flops': matmul_flops()}))
        return
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('framework', choices=D2L_MODULES)
    parser.add_argument('way', choices=('d2l', 'plain', 'floor'))
    parser.add_argument('epochs', type=int)
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--model', choices=MODELS, default='mlp')
    parser.add_argument('--chapter-code', help="house-prices: a file with house-prices.md's imports and "
                                               "HousePriceMLP for this framework (the d2l way trains it)")
    parser.add_argument('--d2l-root', help="import d2l from this checkout instead (to compare another version's)")
    args = parser.parse_args(argv)
    if args.d2l_root:
        sys.path.insert(0, str(Path(args.d2l_root).resolve()))
    if args.way == 'd2l':
        if args.model == 'mlp':
            result, metric, train_loss = d2l_way(args.framework, args.epochs, args.device)
        else:
            result, metric, train_loss = house_d2l_way(args.framework, args.epochs, args.device, args.chapter_code)
    else:
        work = workload(args.model, args.framework, channels_last=args.framework in ('jax', 'tensorflow'))
        if args.way == 'floor':
            result = floor(work, args.framework, args.epochs, args.device)
            result['gemm_flops'] = gemm_flops(work.gemms())
            result['gemms'] = len(work.gemms())
        else:
            result, metric, train_loss = globals()[f'{args.framework}_plain'](work, args.epochs, args.device)
    if args.way != 'floor':
        result.update(val_metric=metric, train_loss=train_loss)
    shown = f'  val {result["val_metric"]:.3f}' if 'val_metric' in result else ''
    print(f'  {args.framework:<10} {args.model:<12} {args.way:<5} {result["seconds_per_epoch"]:6.2f} s/epoch '
          f'({result["cpu_seconds_per_epoch"]:6.2f} CPU s; first {result["first"]:5.2f} s, later '
          f'{result["later"]:5.2f} s){shown}', file=sys.stderr, flush=True)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
