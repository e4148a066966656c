"""The d2l API of ../shared/D2L_API.md as data: what each framework module must offer.

SIGNATURES maps a public name (``Class.method`` for methods) to the expected
``str(inspect.signature(...))``; OVERRIDES holds the framework differences.
For flax modules (jax), FLAX_FIELDS lists the dataclass fields instead, since
their constructor is generated. ALIASES is the alias table: the object each
simple alias must be, per framework; FLUENT lists the aliases that call a
method of their first argument (checked by behaviour in test_api.py).
"""

FRAMEWORKS = ('pytorch', 'mxnet', 'jax', 'tensorflow')

SIGNATURES = {
    # plotting
    'use_svg_display': '()',
    'set_figsize': '(figsize=(3.5, 2.5))',
    'set_axes': '(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)',
    'plot': "(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None, xscale='linear', "
            "yscale='linear', fmts=('-', 'm--', 'g-.', 'r:'), figsize=(3.5, 2.5), axes=None)",
    'show_images': '(imgs, num_rows, num_cols, titles=None, scale=1.5)',
    # object-oriented core
    'add_to_class': '(Class)',
    'HyperParameters.save_hyperparameters': '(self, ignore=[])',
    'ProgressBoard': "(xlabel=None, ylabel=None, xlim=None, ylim=None, xscale='linear', yscale='linear', "
                     "ls=['-', '--', '-.', ':'], colors=['C0', 'C1', 'C2', 'C3'], fig=None, axes=None, "
                     "figsize=(3.5, 2.5), display=True)",
    'ProgressBoard.draw': '(self, x, y, label, every_n=1)',
    'Module': '(plot_train_per_epoch=2, plot_valid_per_epoch=1)',
    'Module.loss': '(self, y_hat, y)',
    'Module.forward': '(self, X)',
    'Module.plot': '(self, key, value, train)',
    'Module.training_step': '(self, batch)',
    'Module.validation_step': '(self, batch)',
    'Module.configure_optimizers': '(self)',
    'Module.apply_init': '(self, inputs, init=None)',
    'DataModule': "(root='../data', num_workers=4)",
    'DataModule.get_dataloader': '(self, train)',
    'DataModule.train_dataloader': '(self)',
    'DataModule.val_dataloader': '(self)',
    'DataModule.get_tensorloader': '(self, tensors, train, indices=slice(0, None, None))',
    'Trainer': '(max_epochs, num_gpus=0, gradient_clip_val=0)',
    'Trainer.prepare_data': '(self, data)',
    'Trainer.prepare_model': '(self, model)',
    'Trainer.fit': '(self, model, data)',
    'Trainer.fit_epoch': '(self)',
    'Trainer.prepare_batch': '(self, batch)',
    'Trainer.clip_gradients': '(self, grad_clip_val, model)',
    'Classifier.validation_step': '(self, batch)',
    'Classifier.accuracy': '(self, Y_hat, Y, averaged=True)',
    'Classifier.loss': '(self, Y_hat, Y, averaged=True)',
    'Classifier.layer_summary': '(self, X_shape)',
    # data and models
    'FashionMNIST': '(batch_size=64, resize=(28, 28))',
    'FashionMNIST.text_labels': '(self, indices)',
    'FashionMNIST.get_dataloader': '(self, train)',
    'FashionMNIST.visualize': '(self, batch, nrows=1, ncols=8, labels=[])',
    'SyntheticRegressionData': '(w, b, noise=0.01, num_train=1000, num_val=1000, batch_size=32)',
    'LinearRegressionScratch': '(num_inputs, lr, sigma=0.01)',
    'LinearRegression': '(lr)',
    'LinearRegression.get_w_b': '(self)',
    'SGD': '(params, lr)',
    'SGD.step': '(self)',
    'SGD.zero_grad': '(self)',
    'SoftmaxRegression': '(num_outputs, lr)',
    'download': "(url, folder='../data', sha1_hash=None)",
    'extract': '(filename, folder=None)',
    # devices
    'cpu': '()',
    'gpu': '(i=0)',
    'num_gpus': '()',
    'try_gpu': '(i=0)',
    'try_all_gpus': '()',
    # legacy helpers
    'Timer': '()',
    'Timer.start': '(self)',
    'Timer.stop': '(self)',
    'Timer.avg': '(self)',
    'Timer.sum': '(self)',
    'Timer.cumsum': '(self)',
    'Accumulator': '(n)',
    'Accumulator.add': '(self, *args)',
    'Accumulator.reset': '(self)',
    'Accumulator.__getitem__': '(self, idx)',
    'Animator': "(xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None, xscale='linear', "
                "yscale='linear', fmts=('-', 'm--', 'g-.', 'r:'), nrows=1, ncols=1, figsize=(3.5, 2.5))",
    'Animator.add': '(self, x, y)',
}

# The framework differences of D2L_API.md (and of the 1.0.3 package, which
# existing notebooks call): TensorFlow and JAX have no gradients stored on
# parameters, so clipping and SGD take the gradients; gluon.Trainer.step
# takes a batch size.
OVERRIDES = {
    'mxnet': {
        'SGD.step': '(self, batch_size=1)',
        'Module.get_scratch_params': '(self)',
    },
    'tensorflow': {
        'Trainer.clip_gradients': '(self, grad_clip_val, grads)',
        'SGD': '(params, lr=None)',
        'SGD.step': '(self, grads)',
        'SGD.apply_gradients': '(self, grads_and_vars)',
    },
    'jax': {
        'Module': None,  # a flax dataclass: see FLAX_FIELDS
        'LinearRegressionScratch': None,
        'LinearRegression': None,
        'SoftmaxRegression': None,
        'Module.loss': '(self, params, X, Y, state, averaged=True)',
        'Module.forward': '(self, X, *args, **kwargs)',
        'Module.training_step': '(self, params, batch, state)',
        'Module.validation_step': '(self, params, batch, state)',
        'Module.apply_init': '(self, dummy_input, key)',
        'Trainer.fit': '(self, model, data, key=None)',
        'Trainer.clip_gradients': '(self, grad_clip_val, grads)',
        'Classifier.validation_step': '(self, params, batch, state)',
        'Classifier.accuracy': '(self, params, X, Y, state, averaged=True)',
        'Classifier.loss': '(self, params, X, Y, state, averaged=True)',
        'Classifier.layer_summary': '(self, X_shape, key=None)',
        'LinearRegression.get_w_b': '(self, state)',
        'SGD': '(params, lr=None)',
        'SGD.step': '(self, grads)',
        'get_key': '()',
        'get_seed': '()',
    },
}

# jax: (field name, default or REQUIRED) of the flax dataclasses, in order.
REQUIRED = object()
FLAX_FIELDS = {
    'Module': [('plot_train_per_epoch', 2), ('plot_valid_per_epoch', 1)],
    'LinearRegressionScratch': [('num_inputs', REQUIRED), ('lr', REQUIRED), ('sigma', 0.01)],
    'LinearRegression': [('lr', REQUIRED)],
    'SoftmaxRegression': [('num_outputs', REQUIRED), ('lr', REQUIRED)],
}

# Simple aliases: the expression (evaluated with torch/np/npx/tf/jnp/jax in
# scope) that d2l.<alias> must be. None: the table gives no alias.
_SAME = {'pytorch': 'torch.{}', 'mxnet': 'np.{}', 'tensorflow': 'tf.{}', 'jax': 'jnp.{}'}
ALIASES = {name: {fw: pattern.format(name) for fw, pattern in _SAME.items()}
           for name in ('ones', 'zeros', 'ones_like', 'zeros_like', 'meshgrid', 'sin', 'sinh', 'cos',
                        'cosh', 'tanh', 'linspace', 'exp', 'stack', 'abs', 'eye', 'int32', 'int64',
                        'float32')}
ALIASES.update({
    'tensor': {'pytorch': 'torch.tensor', 'mxnet': 'np.array', 'tensorflow': 'tf.constant',
               'jax': 'jnp.array'},
    'arange': {'pytorch': 'torch.arange', 'mxnet': 'np.arange', 'tensorflow': 'tf.range',
               'jax': 'jnp.arange'},
    'log': {'pytorch': 'torch.log', 'mxnet': 'np.log', 'tensorflow': 'tf.math.log', 'jax': 'jnp.log'},
    'matmul': {'pytorch': 'torch.matmul', 'mxnet': 'np.dot', 'tensorflow': 'tf.matmul',
               'jax': 'jnp.matmul'},
    'concat': {'pytorch': 'torch.cat', 'mxnet': 'np.concatenate', 'tensorflow': 'tf.concat',
               'jax': 'jnp.concatenate'},
    'normal': {'pytorch': 'torch.normal', 'mxnet': 'np.random.normal', 'tensorflow': 'tf.random.normal',
               'jax': None},
    'rand': {'pytorch': 'torch.rand', 'mxnet': 'np.random.rand', 'tensorflow': 'tf.random.uniform',
             'jax': None},
    'randn': {'pytorch': 'torch.randn', 'mxnet': 'np.random.randn', 'tensorflow': None, 'jax': None},
    'sigmoid': {'pytorch': 'torch.sigmoid', 'mxnet': 'npx.sigmoid', 'tensorflow': 'tf.sigmoid',
                'jax': 'jax.nn.sigmoid'},
    'batch_matmul': {'pytorch': 'torch.bmm', 'mxnet': 'npx.batch_dot', 'tensorflow': 'tf.matmul',
                     'jax': None},
    'expand_dims': {'pytorch': None, 'mxnet': 'np.expand_dims', 'tensorflow': 'tf.expand_dims',
                    'jax': 'jnp.expand_dims'},
    'reshape': {'pytorch': None, 'mxnet': None, 'tensorflow': 'tf.reshape', 'jax': None},
    'reduce_sum': {'pytorch': None, 'mxnet': None, 'tensorflow': 'tf.reduce_sum', 'jax': None},
    'reduce_mean': {'pytorch': None, 'mxnet': None, 'tensorflow': 'tf.reduce_mean', 'jax': None},
    'argmax': {'pytorch': None, 'mxnet': None, 'tensorflow': 'tf.argmax', 'jax': None},
    'astype': {'pytorch': None, 'mxnet': None, 'tensorflow': 'tf.cast', 'jax': None},
    'transpose': {'pytorch': None, 'mxnet': None, 'tensorflow': 'tf.transpose', 'jax': None},
    'repeat': {'pytorch': None, 'mxnet': None, 'tensorflow': 'tf.repeat', 'jax': None},
    'to': {'pytorch': None, 'mxnet': None, 'tensorflow': None, 'jax': 'jax.device_put'},
})

# Fluent aliases (a method of the first argument), per framework.
FLUENT = {
    'pytorch': ('expand_dims', 'reshape', 'numpy', 'size', 'to', 'reduce_sum', 'reduce_mean', 'argmax',
                'astype', 'transpose', 'swapaxes', 'repeat'),
    'mxnet': ('reshape', 'numpy', 'size', 'to', 'reduce_sum', 'reduce_mean', 'argmax', 'astype',
              'transpose', 'swapaxes', 'repeat'),
    'tensorflow': ('numpy', 'size'),
    'jax': ('reshape', 'numpy', 'reduce_sum', 'reduce_mean', 'argmax', 'astype', 'transpose',
            'swapaxes', 'repeat'),
}

NN_MODULE = {'pytorch': 'torch.nn.Module', 'mxnet': 'gluon.nn.Block', 'tensorflow': 'tf.keras.Model',
             'jax': 'flax.linen.Module'}


def expected_signatures(framework):
    """Name -> expected signature string for one framework (None entries: checked another way)."""
    table = dict(SIGNATURES)
    table.update(OVERRIDES.get(framework, {}))
    return {name: sig for name, sig in table.items() if sig is not None}
