"""Fashion-MNIST: where the files are looked for, what is accepted and rejected, downloads, batching."""

import gzip
import io
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from d2l import _common

NAMES = list(_common.FASHION_MNIST_FILES)
LABELS = 'train-labels-idx1-ubyte'
IMAGES = 't10k-images-idx3-ubyte'


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No D2L_DATA, no system copy, no network: only what a test puts under tmp_path."""
    monkeypatch.delenv('D2L_DATA', raising=False)
    monkeypatch.setattr(_common, 'FASHION_MNIST_SYSTEM_DIR', str(tmp_path / 'no-system-copy'))

    def offline(url, timeout=None):
        raise urllib.error.URLError('network is unreachable (test)')

    monkeypatch.setattr(_common.urllib.request, 'urlopen', offline)
    return tmp_path


def _raw(real_files, name):
    with open(real_files[name], 'rb') as f:
        data = f.read()
    return gzip.decompress(data) if data[:2] == b'\x1f\x8b' else data


def _read(path, name):
    return _common.read_idx(str(path), name)


def test_real_files_are_accepted(real_files):
    labels = _read(real_files[LABELS], LABELS)
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [6000] * 10


def test_regzipped_and_uncompressed_copies_are_accepted(real_files, tmp_path):
    raw = _raw(real_files, LABELS)
    regz = tmp_path / (LABELS + '.gz')
    regz.write_bytes(gzip.compress(raw, compresslevel=1, mtime=12345))  # other bytes, same content
    plain = tmp_path / LABELS
    plain.write_bytes(raw)
    np.testing.assert_array_equal(_read(regz, LABELS), _read(plain, LABELS))


def test_corrupt_gzip_is_rejected(real_files, tmp_path):
    data = bytearray(Path(real_files[LABELS]).read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = b'\x00' * 64
    path = tmp_path / (LABELS + '.gz')
    path.write_bytes(bytes(data))
    with pytest.raises(_common.DataFileError, match=r'corrupt') as err:
        _read(path, LABELS)
    assert str(path) in str(err.value) and 'Delete this file' in str(err.value)


def test_truncated_gzip_is_rejected(real_files, tmp_path):
    data = Path(real_files[LABELS]).read_bytes()
    if data[:2] != b'\x1f\x8b':
        data = gzip.compress(data)
    path = tmp_path / (LABELS + '.gz')
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(_common.DataFileError, match=r'truncated') as err:
        _read(path, LABELS)
    assert str(path) in str(err.value)


def test_truncated_file_is_rejected(real_files, tmp_path):
    path = tmp_path / LABELS
    path.write_bytes(_raw(real_files, LABELS)[:30000])
    with pytest.raises(_common.DataFileError, match=r'truncated: 30000 bytes of IDX data, expected 60008') as err:
        _read(path, LABELS)
    assert str(path) in str(err.value)


def test_wrong_magic_number_is_rejected(real_files, tmp_path):
    path = tmp_path / IMAGES
    path.write_bytes(_raw(real_files, LABELS))  # a labels file under an images name
    with pytest.raises(_common.DataFileError, match=r'wrong magic number 2049 \(expected 2051\)') as err:
        _read(path, IMAGES)
    assert str(path) in str(err.value)


def test_changed_content_is_rejected(real_files, tmp_path):
    raw = bytearray(_raw(real_files, LABELS))
    raw[100] = (raw[100] + 1) % 10  # a valid label, but not the official one
    path = tmp_path / LABELS
    path.write_bytes(bytes(raw))
    with pytest.raises(_common.DataFileError, match=r'does not match the official release'):
        _read(path, LABELS)


def test_missing_files_offline_say_where_to_put_them(isolated):
    root = isolated / 'data'
    with pytest.raises(_common.DataFileError) as err:
        _common.fashion_mnist_paths(str(root))
    message = str(err.value)
    assert 'downloading it from' in message and 'network is unreachable' in message
    assert 'D2L_DATA' in message and str(root) in message and str(root / 'fashion-mnist') in message
    assert not (root / 'fashion-mnist').exists() or not any((root / 'fashion-mnist').iterdir())


def test_search_order_env_then_root(isolated, real_files, monkeypatch):
    env_dir = isolated / 'env'
    (env_dir / 'fashion-mnist').mkdir(parents=True)
    root = isolated / 'data'
    (root / 'FashionMNIST' / 'raw').mkdir(parents=True)
    for i, name in enumerate(NAMES):
        # two files in $D2L_DATA/fashion-mnist, two in root/FashionMNIST/raw (torchvision's layout)
        folder = env_dir / 'fashion-mnist' if i % 2 else root / 'FashionMNIST' / 'raw'
        os.symlink(real_files[name], folder / os.path.basename(real_files[name]))
    # a damaged copy in root itself is never reached for the files that $D2L_DATA has
    (root / (NAMES[1] + '.gz')).write_bytes(b'garbage')
    monkeypatch.setenv('D2L_DATA', str(env_dir))
    paths = _common.fashion_mnist_paths(str(root))
    for i, name in enumerate(NAMES):
        expected = env_dir / 'fashion-mnist' if i % 2 else root / 'FashionMNIST' / 'raw'
        assert Path(paths[name]).parent == expected


class _FakeResponse(io.BytesIO):
    def __init__(self, data, fail_after=None):
        super().__init__(data)
        self.headers = {'Content-Length': str(len(data))}
        self.fail_after = fail_after

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError('connection lost (test)')
        return super().read(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_into_the_data_root(isolated, real_files, monkeypatch, capsys):
    served = []

    def fake_urlopen(url, timeout=None):
        name = url.rsplit('/', 1)[1][:-3]
        assert url == _common.FASHION_MNIST_URL + name + '.gz'
        served.append(name)
        return _FakeResponse(gzip.compress(_raw(real_files, name), compresslevel=1))

    monkeypatch.setattr(_common.urllib.request, 'urlopen', fake_urlopen)
    root = isolated / 'data'
    paths = _common.fashion_mnist_paths(str(root))
    assert served == NAMES
    assert sorted(os.listdir(root / 'fashion-mnist')) == sorted(n + '.gz' for n in NAMES)
    assert all(Path(p).parent == root / 'fashion-mnist' for p in paths.values())
    progress = capsys.readouterr().err  # tqdm's bar or the plain progress line
    assert all(name in progress for name in NAMES)
    labels = _read(paths[LABELS], LABELS)
    assert labels.shape == (60000,)


def test_interrupted_download_leaves_no_file(isolated, real_files, monkeypatch):
    data = Path(real_files[LABELS]).read_bytes()
    monkeypatch.setattr(_common.urllib.request, 'urlopen',
                        lambda url, timeout=None: _FakeResponse(data, fail_after=1))
    target = isolated / 'data' / 'fashion-mnist' / (LABELS + '.gz')
    with pytest.raises(ConnectionResetError):
        _common._download_url('http://example.invalid/x.gz', str(target))
    assert not target.exists()
    assert os.listdir(target.parent) == []


def test_arrays_are_loaded_once(real_files, monkeypatch):
    monkeypatch.setenv('D2L_DATA', os.path.dirname(real_files[LABELS]))
    first = _common.load_fashion_mnist('/nonexistent')
    second = _common.load_fashion_mnist('/nonexistent')
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert [a.shape for a in first] == [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]


@pytest.fixture
def fashion(d2l, real_files, monkeypatch):
    monkeypatch.setenv('D2L_DATA', os.path.dirname(real_files[LABELS]))
    return d2l.FashionMNIST(batch_size=256)


def _np(t):
    return t.asnumpy() if hasattr(t, 'asnumpy') else (t.numpy() if hasattr(t, 'numpy') else np.asarray(t))


def test_fashion_mnist_batches(fashion, framework):
    data = fashion
    assert len(data.train) == 60000 and len(data.val) == 10000
    channels_last = framework in ('jax', 'tensorflow')
    image_shape = (28, 28, 1) if channels_last else (1, 28, 28)
    assert tuple(data.train[0][0].shape) == image_shape
    loader = data.get_dataloader(train=True)
    assert len(loader) == 235
    seen = []
    for i, (X, y) in enumerate(loader):
        X, y = _np(X), _np(y)
        assert X.dtype == np.float32 and np.issubdtype(y.dtype, np.integer)
        assert X.shape == ((256 if i < 234 else 96),) + image_shape
        assert 0 <= X.min() and X.max() <= 1
        seen.append(y)
    labels = np.concatenate(seen)
    assert np.bincount(labels).tolist() == [6000] * 10  # every example exactly once...
    train_y = _np(data.train.tensors[1])
    assert not np.array_equal(labels, train_y)  # ...in a shuffled order
    val_y = np.concatenate([_np(y) for _, y in data.val_dataloader()])
    np.testing.assert_array_equal(val_y, _np(data.val.tensors[1]))  # validation keeps its order
    assert data.text_labels([0, 9]) == ['t-shirt', 'ankle boot']


def test_fashion_mnist_resize(d2l, framework, real_files, monkeypatch):
    monkeypatch.setenv('D2L_DATA', os.path.dirname(real_files[LABELS]))
    data = d2l.FashionMNIST(batch_size=8, resize=(32, 32))
    X, _ = next(iter(data.val_dataloader()))
    expected = (8, 32, 32, 1) if framework in ('jax', 'tensorflow') else (8, 1, 32, 32)
    assert tuple(X.shape) == expected
    X = _np(X)
    assert 0 <= X.min() and X.max() <= 1.0001 and X.mean() > 0.1
