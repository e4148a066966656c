"""One run of ``make bench-d2l``, in one framework's environment (started by d2l_bench.py).

    python bench/d2l_bench_worker.py FRAMEWORK d2l|plain EPOCHS
    python bench/d2l_bench_worker.py flops

Trains the chapter's MLP (784-256-10, ReLU, SGD lr 0.1, batch 256) on Fashion-MNIST for EPOCHS epochs,
with d2l.Trainer or with a plain loop written the way one would without d2l. Both do the same work per
epoch: one random permutation of the training set cut into batches of 256 (the last one smaller), a
step per batch whose loss is kept, then a pass over the validation set in order computing loss and
accuracy per batch. Each run is a fresh process, as a notebook is, so that compilation caches of one
way do not help the other. Prints one JSON object: wall-clock and CPU seconds per epoch (model setup
and compilation included, data loading not) and the final validation accuracy. ``flops`` measures
numpy's float32 matmul instead.
"""

import importlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402

BATCH, LR, HIDDEN = 256, 0.1, 256


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

def pytorch_plain(epochs):
    import torch
    import torch.nn.functional as F
    from torch import nn

    train_X, train_y, val_X, val_y = (torch.from_numpy(a) for a in _arrays(channels_last=False))
    start = _clock()
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10))
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    for _ in range(epochs):
        net.train()
        losses = []
        order = torch.randperm(len(train_X))
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
    return _per_epoch(start, epochs), acc, train_loss


# ---------------------------------------------------------------- mxnet

def mxnet_plain(epochs):
    from mxnet import autograd, gluon, np, npx
    from mxnet.gluon import nn
    npx.set_np()

    train_X, train_y, val_X, val_y = (np.array(a, dtype=a.dtype) for a in _arrays(channels_last=False))
    start = _clock()
    net = nn.Sequential()
    net.add(nn.Dense(HIDDEN, activation='relu'), nn.Dense(10))
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': LR})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    n = len(train_X)
    for _ in range(epochs):
        losses = []
        order = np.arange(n, dtype='int64')
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
    return _per_epoch(start, epochs), acc, train_loss


# ---------------------------------------------------------------- jax

def jax_plain(epochs):
    import jax
    import jax.numpy as jnp
    import optax
    from flax import linen as nn
    from flax.training import train_state

    train_X, train_y, val_X, val_y = _arrays(channels_last=True)
    train_y, val_y = train_y.astype(np.int32), val_y.astype(np.int32)

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, X):
            X = X.reshape((X.shape[0], -1))
            X = nn.relu(nn.Dense(HIDDEN)(X))
            return nn.Dense(10)(X)

    start = _clock()
    model = MLP()
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
    for _ in range(epochs):
        losses = []
        order = np.random.permutation(n)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            state, loss = train_step(state, train_X[idx], train_y[idx])
            losses.append(loss)
        val = [eval_step(state.params, val_X[i:i + BATCH], val_y[i:i + BATCH]) for i in range(0, len(val_X), BATCH)]
        train_loss = float(jnp.stack(losses).mean())
        acc = float(jnp.stack([a for _, a in val]).mean())
    return _per_epoch(start, epochs), acc, train_loss


# ---------------------------------------------------------------- tensorflow

def tensorflow_plain(epochs):
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
    for _ in range(epochs):
        losses = []
        order = tf.random.shuffle(tf.range(n))
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            losses.append(train_step(tf.gather(train_X, idx), tf.gather(train_y, idx)))
        val = [eval_step(val_X[i:i + BATCH], val_y[i:i + BATCH]) for i in range(0, int(val_X.shape[0]), BATCH)]
        train_loss = float(tf.reduce_mean(tf.stack(losses)))
        acc = float(tf.reduce_mean(tf.stack([a for _, a in val])))
    return _per_epoch(start, epochs), acc, train_loss


# ---------------------------------------------------------------- shared

def _clock():
    return time.perf_counter(), time.process_time()


def _per_epoch(start, epochs):
    """(wall-clock, CPU) seconds per epoch since ``start``. CPU time (all threads of this process) is
    less disturbed by other processes on a busy machine."""
    wall, cpu = _clock()
    return (wall - start[0]) / epochs, (cpu - start[1]) / epochs


D2L_MODULES = {'pytorch': 'torch', 'mxnet': 'mxnet', 'jax': 'jax', 'tensorflow': 'tensorflow'}


def d2l_way(framework, epochs):
    """The chapter's MLP as the chapter saves it into d2l (``d2l.MLP``), trained by d2l.Trainer."""
    d2l = importlib.import_module(f'd2l.{D2L_MODULES[framework]}')
    data = d2l.FashionMNIST(batch_size=BATCH)
    model = d2l.MLP(num_hiddens=HIDDEN, num_outputs=10, lr=LR)
    return _fit(d2l, model, data, epochs)


def _fit(d2l, model, data, epochs):
    """d2l.Trainer on the MLP; the seconds per epoch include the Trainer's setup, as the plain loop's do."""
    trainer = d2l.Trainer(max_epochs=epochs)
    start = _clock()
    trainer.fit(model, data)
    # The results, as the plain loops read theirs: this also waits for any work still queued
    acc = float(model.board.points('val_acc')[1][-1])
    train_loss = float(model.board.points('train_loss')[1][-1])
    return _per_epoch(start, epochs), acc, train_loss


def main():
    if sys.argv[1] == 'flops':
        print(json.dumps({'matmul_flops': matmul_flops()}))
        return
    framework, way, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if way == 'd2l':
        (seconds, cpu_seconds), acc, train_loss = d2l_way(framework, epochs)
    else:
        (seconds, cpu_seconds), acc, train_loss = globals()[f'{framework}_plain'](epochs)
    print(f'  {framework:<10} {way:<5} {seconds:6.2f} s/epoch ({cpu_seconds:6.2f} CPU s)  val acc {acc:.3f}',
          file=sys.stderr, flush=True)
    print(json.dumps({'seconds_per_epoch': seconds, 'cpu_seconds_per_epoch': cpu_seconds,
                      'val_acc': acc, 'train_loss': train_loss}))


if __name__ == '__main__':
    main()
