"""The converter's and the HTML build's speed figures (the ``bench`` command).

``python -m tabbook bench [--files 200]`` writes that many chapter files, each
about the size of a d2l.ai section and using the whole dialect (code for four
frameworks, ``tab.selected``, tab prose, labels, math, #@save), into a
temporary directory, converts each into four notebooks and prints the time.
"Work" is reading + parsing + building + validating + serializing; "total"
adds writing the notebooks. Issue 2 asks for under 1 s of work for 200 files
(the d2l.ai books' own tool needs about 9 s). ``--html`` renders a whole
book of that many generated sections without executing it (issue 9: under 5 s
for 200 sections).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from tabbook.book import load_book
from tabbook.config import BookConfig, EnvSpec
from tabbook.notebooks import convert_files, write_converted
from tabbook.render import build_html

TABS = ("pytorch", "mxnet", "jax", "tensorflow")

_INTRO = """# {title}
:label:`sec_bench_{n}`

```{{.python .input}}
%load_ext d2lbook.tab
tab.interact_select(['mxnet', 'pytorch', 'tensorflow', 'jax'])
```

In :numref:`sec_bench_{prev}` we fit a [**linear model**] to data. Here we add a
hidden layer of {hidden} units between inputs and outputs, as
:citet:`Rumelhart.Hinton.Williams.1986` proposed, and use the nonlinearity of
:eqref:`eq_bench_{n}_0_relu` (~~which slides skip~~) so that the model is more
expressive than an affine map :cite:`Cybenko.1989,Hornik.1991`.

```{{.python .input}}
%%tab mxnet
%matplotlib inline
from d2l import mxnet as d2l
from mxnet import autograd, np, npx
npx.set_np()
```

```{{.python .input}}
%%tab pytorch
%matplotlib inline
from d2l import torch as d2l
import torch
from torch import nn
```

```{{.python .input}}
%%tab tensorflow
%matplotlib inline
from d2l import tensorflow as d2l
import tensorflow as tf
```

```{{.python .input}}
%%tab jax
%matplotlib inline
from d2l import jax as d2l
import jax
from jax import numpy as jnp
```
"""

_PART = """
## {title} {n}.{k}
:label:`subsec_bench_{n}_{k}`

The hidden representation is $\\mathbf{{H}} = \\sigma(\\mathbf{{X}} \\mathbf{{W}}^{{(1)}} +
\\mathbf{{b}}^{{(1)}})$, and the output layer computes

$$\\mathbf{{O}} = \\mathbf{{H}}\\mathbf{{W}}^{{(2)}} + \\mathbf{{b}}^{{(2)}}.$$
:eqlabel:`eq_bench_{n}_{k}`

![A multilayer perceptron with {hidden} hidden units.](../img/mlp.svg)
:label:`fig_bench_{n}_{k}`
:width:`{width}px`

As :numref:`fig_bench_{n}_{k}` shows, every input feeds every hidden unit. The
ReLU keeps positive inputs and zeroes the rest,

$$\\operatorname{{ReLU}}(x) = \\max(x, 0).$$
:eqlabel:`eq_bench_{n}_{k}_relu`

```{{.python .input  n={cell}}}
%%tab all
def relu_{k}(X):  #@save
    \"\"\"The rectified linear unit, elementwise.\"\"\"
    if tab.selected('mxnet'):
        return np.maximum(X, 0)
    if tab.selected('pytorch'):
        a = torch.zeros_like(X)
        return torch.max(X, a)
    if tab.selected('tensorflow'):
        return tf.math.maximum(X, 0)
    if tab.selected('jax'):
        return jnp.maximum(X, 0)
```

:begin_tab:`pytorch`
In PyTorch, `torch.max` compares elementwise when given two tensors of the
same shape, so we pass an all-zero tensor.
:end_tab:

:begin_tab:`mxnet, tensorflow, jax`
The `maximum` function broadcasts the scalar zero against every element.
:end_tab:

```{{.python .input}}
%%tab pytorch, mxnet, tensorflow
class MLPScratch_{k}(d2l.Classifier):  #@save
    def __init__(self, num_inputs, num_outputs, num_hiddens, lr, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        if tab.selected('mxnet'):
            self.W1 = np.random.randn(num_inputs, num_hiddens) * sigma
            self.b1 = np.zeros(num_hiddens)
            for param in self.get_scratch_params():
                param.attach_grad()
        if tab.selected('pytorch'):
            self.W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens) * sigma)
            self.b1 = nn.Parameter(torch.zeros(num_hiddens))
        if tab.selected('tensorflow'):
            self.W1 = tf.Variable(tf.random.normal((num_inputs, num_hiddens)) * sigma)
            self.b1 = tf.Variable(tf.zeros(num_hiddens))

@d2l.add_to_class(MLPScratch_{k})  #@save
def forward(self, X):
    X = d2l.reshape(X, (-1, self.num_inputs))
    H = relu_{k}(d2l.matmul(X, self.W1) + self.b1)
    return d2l.matmul(H, self.W2) + self.b2
```

```{{.python .input}}
%%tab jax
class MLPScratch_{k}(d2l.Classifier):  #@save
    num_inputs: int
    num_outputs: int
    num_hiddens: int
    lr: float
    sigma: float = 0.01

    def setup(self):
        self.W1 = self.param('W1', nn.initializers.normal(self.sigma),
                             (self.num_inputs, self.num_hiddens))
        self.b1 = self.param('b1', nn.initializers.zeros, self.num_hiddens)

    def __call__(self, X):
        X = X.reshape((-1, self.num_inputs))
        H = relu_{k}(jnp.matmul(X, self.W1) + self.b1)
        return jnp.matmul(H, self.W2) + self.b2
```

Training works exactly as for softmax regression: we reuse the trainer with
{epochs} epochs and a learning rate of {lr}.

```{{.python .input}}
%%tab all
model = MLPScratch_{k}(num_inputs=784, num_outputs=10, num_hiddens={hidden}, lr={lr})
data = d2l.FashionMNIST(batch_size=256)
trainer = d2l.Trainer(max_epochs={epochs})
trainer.fit(model, data)  #@hide_output
```

| Layer | Units | Parameters |
|:--|--:|--:|
| hidden | {hidden} | {params} |
| output | 10 | {out_params} |
:label:`tab_bench_{n}_{k}`
"""

_END = """
## Summary

Adding a hidden layer with a nonlinearity turns a linear model into a
universal approximator (see :ref:`sec_bench_{n}`).

## Exercises

1. Change the number of hidden units to {hidden2}. What happens to accuracy?
1. Why is a second affine layer without activation no more expressive?
"""


def chapter_text(number: int, rng: random.Random) -> str:
    """A d2l.ai-sized section (about 300 lines) using the whole dialect."""
    title = rng.choice(["Multilayer Perceptrons", "Implementation", "Dropout", "Weight Decay", "Forward Propagation"])
    parts = [_INTRO.format(title=title, n=number, prev=max(number - 1, 0), hidden=rng.choice([64, 128, 256]))]
    for k in range(rng.randint(2, 3)):
        hidden = rng.choice([32, 64, 128, 256, 512])
        parts.append(
            _PART.format(
                title=title,
                n=number,
                k=k,
                cell=k + 3,
                hidden=hidden,
                width=rng.choice([300, 400, 500]),
                epochs=rng.randint(5, 20),
                lr=rng.choice([0.1, 0.05, 0.01]),
                params=784 * hidden + hidden,
                out_params=hidden * 10 + 10,
            )
        )
    parts.append(_END.format(n=number, hidden2=rng.choice([16, 1024])))
    return "".join(parts)


def write_chapters(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    paths = []
    for number in range(count):
        path = directory / f"section_{number:03d}.md"
        path.write_text(chapter_text(number, rng), encoding="utf-8")
        paths.append(path)
    return paths


def bench_config(root: Path) -> BookConfig:
    return BookConfig(
        root=root,
        project={},
        index="index",
        chapter_globs=("*.md",),
        exclusions=(),
        tabs=TABS,
        cell_timeout=0,
        jobs=1,
        build_dir=root / "_build",
        bibfile=root / "references.bib",
        collapse_lines=40,
        library_package="d2l",
        envs={tab: EnvSpec(tab, None, f"d2l-{tab}") for tab in TABS},
    )


def run_bench(count: int, repeat: int = 3) -> dict:
    """Convert ``count`` generated files into 4 tabs ``repeat`` times; the best times."""
    with tempfile.TemporaryDirectory(prefix="tabbook-bench-") as tmp:
        root = Path(tmp)
        paths = write_chapters(root / "src", count)
        config = bench_config(root)
        lines = sum(path.read_text(encoding="utf-8").count("\n") for path in paths)
        best = {"work": float("inf"), "work_cpu": float("inf"), "total": float("inf")}
        for attempt in range(repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            converted = convert_files(config, paths)
            work, work_cpu = time.perf_counter() - start, time.process_time() - start_cpu
            write_converted(config, converted, root / f"out{attempt}")
            total = time.perf_counter() - start
            for key, value in (("work", work), ("work_cpu", work_cpu), ("total", total)):
                best[key] = min(best[key], value)
        notebooks = sum(len(texts) for _, _, texts in converted)
    return {"files": count, "lines": lines, "notebooks": notebooks, **best}


_BIB = """@article{Rumelhart.Hinton.Williams.1986, author = {Rumelhart, David E. and Hinton, Geoffrey E. and Williams, Ronald J.},
  title = {Learning representations by back-propagating errors}, journal = {Nature}, year = {1986}}
@article{Cybenko.1989, author = {Cybenko, George}, title = {Approximation by superpositions of a sigmoidal function},
  journal = {Mathematics of Control, Signals and Systems}, year = {1989}}
@article{Hornik.1991, author = {Hornik, Kurt}, title = {Approximation capabilities of multilayer feedforward networks},
  journal = {Neural Networks}, year = {1991}}
"""
_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#1f77b4"/></svg>'


def write_book(root: Path, count: int) -> BookConfig:
    """A whole book of ``count`` generated sections: index with a numbered toc, figure, bibliography."""
    paths = write_chapters(root / "src", count)
    toc = "\n".join(f"src/{path.stem}" for path in paths)
    (root / "index.md").write_text(f"# Benchmark Book\n\n```toc\n:maxdepth: 2\n:numbered:\n\n{toc}\n```\n", encoding="utf-8")
    (root / "references.bib").write_text(_BIB, encoding="utf-8")
    (root / "img").mkdir(exist_ok=True)
    (root / "img" / "mlp.svg").write_text(_SVG, encoding="utf-8")
    from dataclasses import replace

    return replace(bench_config(root), project={"name": "bench", "title": "Benchmark Book"}, chapter_globs=("src/*.md",))


def run_html_bench(count: int, repeat: int = 3) -> dict:
    """Render a ``count``-section book to HTML ``repeat`` times, executing nothing; the best times."""
    import io

    with tempfile.TemporaryDirectory(prefix="tabbook-bench-html-") as tmp:
        config = write_book(Path(tmp), count)
        best = {"seconds": float("inf"), "cpu": float("inf")}
        for _ in range(repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            build_html(config, load_book(config), from_cache=True, out=io.StringIO())
            best["seconds"] = min(best["seconds"], time.perf_counter() - start)
            best["cpu"] = min(best["cpu"], time.process_time() - start_cpu)
        pages = len(list((config.build_dir / "html").rglob("*.html")))
    return {"sections": count, "pages": pages, **best}
