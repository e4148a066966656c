"""One run of ``make bench-d2l``, in one framework's environment (started by d2l_bench.py).

    python bench/d2l_bench_worker.py FRAMEWORK d2l|plain|floor EPOCHS [--device cpu|cuda]
    python bench/d2l_bench_worker.py flops

Trains the chapter's MLP (784-256-10, ReLU, SGD lr 0.1, batch 256) on Fashion-MNIST for EPOCHS epochs,
with d2l.Trainer or with a plain loop written the way one would without d2l. Both do the same work per
epoch: one random permutation of the training set cut into batches of 256 (the last one smaller), a
step per batch whose loss is kept, then a pass over the validation set in order computing loss and
accuracy per batch. Each run is a fresh process, as a notebook is, so that compilation caches of one
way do not help the other. Prints one JSON object: wall-clock and CPU seconds per epoch over the run
(model setup and compilation included, data loading not), the first epoch's (with the setup before
it), the later epochs' median (the steady state), and the final validation accuracy.

``floor`` times only the matrix products of such an epoch, in the same framework, on tensors made
beforehand (``epoch_gemms``): forward and backward of every training batch, forward of every
validation batch. It is what the epoch costs with no Python, no framework dispatch around the
products, no batch assembly and no elementwise work: the floor that d2l's epoch is compared with.
``flops`` measures numpy's float32 2048x2048 matmul instead (a reference for the machine).
"""

import argparse
import contextlib
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
from d2l_bench_shapes import BATCH, HIDDEN, INPUTS, LR, OUTPUTS, TRAIN, VAL, epoch_gemms  # noqa: E402


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


# ---------------------------------------------------------------- pytorch

def pytorch_plain(epochs, device):
    import torch
    import torch.nn.functional as F
    from torch import nn

    dev = torch.device('cuda' if device == 'cuda' else 'cpu')
    train_X, train_y, val_X, val_y = (torch.from_numpy(a).to(dev) for a in _arrays(channels_last=False))
    start = _clock()
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10)).to(dev)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    for _ in _epochs(epochs, marks := []):
        net.train()
        losses = []
        order = torch.randperm(len(train_X), device=dev)
        for i in range(0, len(train_X), BATCH):
            idx = order[i:i + BATCH]
            loss = F.cross_entropy(net(train_X[idx]), train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        net.eval()
        val_losses, accs = [], []
        with torch.no_grad():
            for i in range(0, len(val_X), BATCH):
                out, y = net(val_X[i:i + BATCH]), val_y[i:i + BATCH]
                val_losses.append(F.cross_entropy(out, y))
                accs.append((out.argmax(1) == y).float().mean())
        train_loss = torch.stack(losses).mean().item()
        acc = torch.stack(accs).mean().item()
    return _timings(start, marks), acc, train_loss


# ---------------------------------------------------------------- mxnet

def mxnet_plain(epochs, device):
    from mxnet import autograd, gluon, np, npx
    from mxnet.gluon import nn
    npx.set_np()

    ctx = npx.gpu(0) if device == 'cuda' else npx.cpu()
    train_X, train_y, val_X, val_y = (np.array(a, dtype=a.dtype, ctx=ctx) for a in _arrays(channels_last=False))
    start = _clock()
    net = nn.Sequential()
    net.add(nn.Dense(HIDDEN, activation='relu'), nn.Dense(10))
    net.initialize(ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': LR})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    n = len(train_X)
    for _ in _epochs(epochs, marks := []):
        losses = []
        order = np.arange(n, dtype='int64', ctx=ctx)
        np.random.shuffle(order)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            X, y = np.take(train_X, idx, axis=0), np.take(train_y, idx, axis=0)
            with autograd.record():
                loss = loss_fn(net(X), y).mean()
            loss.backward()
            trainer.step(1)
            losses.append(loss)
        val_losses, accs = [], []
        for i in range(0, len(val_X), BATCH):
            out, y = net(val_X[i:i + BATCH]), val_y[i:i + BATCH]
            val_losses.append(loss_fn(out, y).mean())
            accs.append((out.argmax(axis=1).astype(y.dtype) == y).astype('float32').mean())
        train_loss = float(np.stack(losses).mean())
        acc = float(np.stack(accs).mean())
    return _timings(start, marks), acc, train_loss


# ---------------------------------------------------------------- jax

def jax_plain(epochs, device):
    import jax
    from flax import linen as nn

    train_X, train_y, val_X, val_y = _arrays(channels_last=True)
    train_y, val_y = train_y.astype(np.int32), val_y.astype(np.int32)

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, X):
            X = X.reshape((X.shape[0], -1))
            X = nn.relu(nn.Dense(HIDDEN)(X))
            return nn.Dense(10)(X)

    start = _clock()
    with jax.default_device(jax.devices('gpu' if device == 'cuda' else 'cpu')[0]):
        return _jax_plain_loop(epochs, start, MLP(), train_X, train_y, val_X, val_y)


def _jax_plain_loop(epochs, start, model, train_X, train_y, val_X, val_y):
    import jax
    import jax.numpy as jnp
    import optax
    from flax.training import train_state

    params = model.init(jax.random.key(0), train_X[:1])['params']
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=optax.sgd(LR))

    @jax.jit
    def train_step(state, X, y):
        def loss_fn(params):
            logits = state.apply_fn({'params': params}, X)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    @jax.jit
    def eval_step(params, X, y):
        logits = model.apply({'params': params}, X)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (logits.argmax(1) == y).mean()

    n = len(train_X)
    for _ in _epochs(epochs, marks := []):
        losses = []
        order = np.random.permutation(n)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            state, loss = train_step(state, train_X[idx], train_y[idx])
            losses.append(loss)
        val = [eval_step(state.params, val_X[i:i + BATCH], val_y[i:i + BATCH]) for i in range(0, len(val_X), BATCH)]
        train_loss = float(jnp.stack(losses).mean())
        acc = float(jnp.stack([a for _, a in val]).mean())
    return _timings(start, marks), acc, train_loss


# ---------------------------------------------------------------- tensorflow

def tensorflow_plain(epochs, device):
    import tensorflow as tf

    with tf.device(_tf_device(device)):
        return _tensorflow_plain_loop(epochs)


def _tf_device(device):
    return '/GPU:0' if device == 'cuda' else '/CPU:0'


def _tensorflow_plain_loop(epochs):
    import tensorflow as tf

    train_X, train_y, val_X, val_y = _arrays(channels_last=True)
    train_X, val_X = tf.constant(train_X), tf.constant(val_X)
    train_y, val_y = tf.constant(train_y.astype(np.int32)), tf.constant(val_y.astype(np.int32))
    start = _clock()
    net = tf.keras.models.Sequential([
        tf.keras.layers.Flatten(), tf.keras.layers.Dense(HIDDEN, activation='relu'), tf.keras.layers.Dense(10)])
    net.build((None, 28, 28, 1))
    optimizer = tf.keras.optimizers.SGD(LR)
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
        acc = tf.reduce_mean(tf.cast(tf.cast(tf.argmax(out, 1), y.dtype) == y, tf.float32))
        return loss_fn(y, out), acc

    n = int(train_X.shape[0])
    for _ in _epochs(epochs, marks := []):
        losses = []
        order = tf.random.shuffle(tf.range(n))
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            losses.append(train_step(tf.gather(train_X, idx), tf.gather(train_y, idx)))
        val = [eval_step(val_X[i:i + BATCH], val_y[i:i + BATCH]) for i in range(0, int(val_X.shape[0]), BATCH)]
        train_loss = float(tf.reduce_mean(tf.stack(losses)))
        acc = float(tf.reduce_mean(tf.stack([a for _, a in val])))
    return _timings(start, marks), acc, train_loss


# ---------------------------------------------------------------- the floor: the epoch's matrix products alone

def _floor_operands(rng):
    """The operands of every product of ``epoch_gemms()``, made beforehand as numpy arrays, grouped by
    batch: the input batches are slices of one training (validation) set and their transposes are
    copies, so that each product reads fresh data as training does; weights and the small
    activations are shared."""
    def rand(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    train_X, val_X = rand(TRAIN, INPUTS), rand(VAL, INPUTS)
    W1, W2, W2T = rand(INPUTS, HIDDEN), rand(HIDDEN, OUTPUTS), rand(OUTPUTS, HIDDEN)
    H, dO, dH = rand(BATCH, HIDDEN), rand(BATCH, OUTPUTS), rand(BATCH, HIDDEN)
    batches = []
    for start in range(0, TRAIN, BATCH):
        X = train_X[start:start + BATCH]
        b = len(X)
        batches.append([(X, W1), (H[:b], W2), (np.ascontiguousarray(H[:b].T), dO[:b]), (dO[:b], W2T),
                        (np.ascontiguousarray(X.T), dH[:b])])
    for start in range(0, VAL, BATCH):
        X = val_X[start:start + BATCH]
        batches.append([(X, W1), (H[:len(X)], W2)])
    shapes = [(a.shape[0], a.shape[1], b.shape[1]) for batch in batches for a, b in batch]
    assert shapes == epoch_gemms(), 'the floor must run exactly the products of epoch_gemms()'
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


def floor(framework, epochs, device='cpu'):
    """The timings (see _timings) of ``epochs`` epochs of the epoch's matrix products alone: the later
    epochs' median is the floor; the first one also warms up the framework's kernels."""
    # d2l imported first: whatever it sets up in the framework (threads, for one) holds for the floor too
    importlib.import_module(f'd2l.{D2L_MODULES[framework]}')
    to_array, matmul, sync, context = _floor_backend(framework, device)
    with context:
        batches = [[(to_array(a), to_array(b, right=True)) for a, b in batch]
                   for batch in _floor_operands(np.random.default_rng(0))]
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
    d2l = importlib.import_module(f'd2l.{D2L_MODULES[framework]}')
    if device == 'cuda' and d2l.num_gpus() == 0:
        raise SystemExit(f'{framework} sees no CUDA device')
    data = d2l.FashionMNIST(batch_size=BATCH)
    model = d2l.MLP(num_hiddens=HIDDEN, num_outputs=10, lr=LR)
    return _fit(d2l, model, data, epochs, num_gpus=1 if device == 'cuda' else 0)


def _fit(d2l, model, data, epochs, num_gpus=0):
    """d2l.Trainer on the MLP; the seconds per epoch include the Trainer's setup, as the plain loop's do."""
    trainer = d2l.Trainer(max_epochs=epochs, num_gpus=num_gpus)
    marks, fit_epoch = [], trainer.fit_epoch

    def timed_fit_epoch():  # an epoch starts when the previous one's results are ready (fit waits for them)
        marks.append(_clock())
        fit_epoch()
    trainer.fit_epoch = timed_fit_epoch
    start = _clock()
    trainer.fit(model, data)
    # The results, as the plain loops read theirs: this also waits for any work still queued
    acc = float(model.board.points('val_acc')[1][-1])
    train_loss = float(model.board.points('train_loss')[1][-1])
    return _timings(start, marks), acc, train_loss


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
    parser.add_argument('--d2l-root', help="import d2l from this checkout instead (to compare another version's)")
    args = parser.parse_args(argv)
    if args.d2l_root:
        sys.path.insert(0, str(Path(args.d2l_root).resolve()))
    if args.way == 'floor':
        result = floor(args.framework, args.epochs, args.device)
    elif args.way == 'd2l':
        result, acc, train_loss = d2l_way(args.framework, args.epochs, args.device)
        result.update(val_acc=acc, train_loss=train_loss)
    else:
        result, acc, train_loss = globals()[f'{args.framework}_plain'](args.epochs, args.device)
        result.update(val_acc=acc, train_loss=train_loss)
    accuracy = f'  val acc {result["val_acc"]:.3f}' if 'val_acc' in result else ''
    print(f'  {args.framework:<10} {args.way:<5} {result["seconds_per_epoch"]:6.2f} s/epoch '
          f'({result["cpu_seconds_per_epoch"]:6.2f} CPU s; first {result["first"]:5.2f} s, later '
          f'{result["later"]:5.2f} s){accuracy}', file=sys.stderr, flush=True)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
