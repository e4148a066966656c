"""Downloads against a local HTTP server that misbehaves: a gzip bomb, an endless response, a wrong
file, a too-large announcement. Each ends in d2l's message (which file, what is wrong, what to do),
leaves no file behind, and costs a bounded amount of work: the tests count the bytes received and
decompressed (never the time)."""

import gzip
import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile
import zlib
from pathlib import Path

import pytest

from d2l import _common

LABELS = 't10k-labels-idx1-ubyte'  # the smallest file: 10,008 bytes of IDX data
SIZE = _common._idx_size(LABELS)


def _bomb(size):
    """gzip data of ``size`` zero bytes (a thousandth of that compressed)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1 << 20)
    parts = [compressor.compress(zeros) for _ in range(size >> 20)]
    return b''.join(parts) + compressor.flush()


class _Server(http.server.ThreadingHTTPServer):
    """Serves ``routes``: path -> bytes (sent with their length), or a callable that writes the
    body itself. Counts the bytes it sent."""

    daemon_threads = True

    def __init__(self, routes):
        super().__init__(('127.0.0.1', 0), _Handler)
        self.routes, self.sent = routes, 0

    @property
    def url(self):
        return f'http://127.0.0.1:{self.server_port}/'


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        body = self.server.routes.get(self.path.lstrip('/'))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        if callable(body):
            self.end_headers()
            body(self)
            return
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.sent += len(body)

    def log_message(self, *args):
        pass


def endless(handler):
    """An endless response: random-looking bytes, until the client goes away."""
    chunk = os.urandom(1 << 16)
    try:
        while True:
            handler.wfile.write(chunk)
            handler.server.sent += len(chunk)
    except OSError:  # the client closed the connection
        pass


@pytest.fixture
def server():
    servers = []

    def start(routes):
        srv = _Server(routes)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def counted(monkeypatch):
    """Counts what d2l reads from the network and what it decompresses (or reads) as content."""
    counts = {'received': 0, 'content': 0}
    real_urlopen, real_add = _common.urllib.request.urlopen, _common._Content._add

    def urlopen(url, timeout=None):
        response = real_urlopen(url, timeout=timeout)
        real_read = response.read

        def read(n=-1):
            data = real_read(n)
            counts['received'] += len(data)
            return data
        response.read = read
        return response

    def add(self, data):
        counts['content'] += len(data)
        return real_add(self, data)

    monkeypatch.setattr(_common.urllib.request, 'urlopen', urlopen)
    monkeypatch.setattr(_common._Content, '_add', add)
    return counts


@pytest.fixture
def fashion_root(monkeypatch, tmp_path):
    """No local Fashion-MNIST anywhere: every file is downloaded into the returned root."""
    monkeypatch.delenv('D2L_DATA', raising=False)
    monkeypatch.setattr(_common, 'FASHION_MNIST_SYSTEM_DIR', str(tmp_path / 'no-system-copy'))
    return tmp_path / 'data'


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob('*') if p.is_file())


def _download_labels(server, fashion_root, monkeypatch, body):
    """Serve ``body`` as the labels file (the others are not served) and download only it."""
    srv = server({LABELS + '.gz': body})
    monkeypatch.setattr(_common, 'FASHION_MNIST_URL', srv.url)
    monkeypatch.setattr(_common, 'FASHION_MNIST_FILES', {LABELS: _common.FASHION_MNIST_FILES[LABELS]})
    with pytest.raises(_common.DataFileError) as error:
        _common.fashion_mnist_paths(str(fashion_root))
    return srv, str(error.value)


def test_a_gzip_bomb_stops_at_the_files_size(server, fashion_root, monkeypatch, counted):
    bomb = _bomb(64 << 20)  # 64 MB of zeros, 64 KB compressed
    srv, message = _download_labels(server, fashion_root, monkeypatch, bomb)
    assert f'{LABELS}.gz: received gzip data that decompresses to more than {SIZE} bytes' in message
    assert 'gzip bomb' in message and 'deleted, nothing kept' in message
    assert 'check the network and run again, or put the four files' in message  # what to do
    # bounded work: decompressed no more than the file's size and one chunk, read one chunk
    assert counted['content'] <= SIZE + _common._CHUNK
    assert counted['received'] <= _common._CHUNK
    assert _files(fashion_root) == []


def test_an_endless_response_stops_at_the_files_size(server, fashion_root, monkeypatch, counted):
    srv, message = _download_labels(server, fashion_root, monkeypatch, endless)
    assert f'{LABELS}.gz: received more than {SIZE} bytes, more than the file can hold; stopped there' in message
    allowed = SIZE + SIZE // 100 + (1 << 16)
    assert counted['received'] <= allowed + _common._CHUNK
    assert _files(fashion_root) == []


def test_an_endless_response_to_download_stops_at_the_cap(server, tmp_path, monkeypatch, counted):
    monkeypatch.setattr(_common, 'MAX_DOWNLOAD_BYTES', 3 << 20)
    srv = server({'big.csv': endless})
    with pytest.raises(_common.DataFileError) as error:
        _common.download(srv.url + 'big.csv', str(tmp_path), 'a' * 40)
    message = str(error.value)
    assert message.startswith(f'{srv.url}big.csv: received more than {3 << 20} bytes')
    assert 'nothing was kept' in message and f"put the right file at {tmp_path / 'big.csv'}" in message
    assert counted['received'] <= (3 << 20) * 1.01 + (1 << 16) + _common._CHUNK
    assert _files(tmp_path) == []


def test_a_too_large_announcement_is_refused_before_reading(server, tmp_path, monkeypatch, counted):
    monkeypatch.setattr(_common, 'MAX_DOWNLOAD_BYTES', 1 << 20)
    srv = server({'big.zip': b'x' * (2 << 20)})
    with pytest.raises(_common.DataFileError) as error:
        _common.download(srv.url + 'big.zip', str(tmp_path))
    assert f'a response of {2 << 20} bytes announced, more than the {1 << 20} bytes allowed' in str(error.value)
    assert counted['received'] == 0
    assert _files(tmp_path) == []


def test_the_wrong_file_is_deleted_and_described(server, fashion_root, monkeypatch, real_files):
    raw = bytearray(gzip.decompress(Path(real_files[LABELS]).read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # a valid file, but not the official one
    wrong = gzip.compress(bytes(raw))
    srv, message = _download_labels(server, fashion_root, monkeypatch, wrong)
    assert f'{LABELS}.gz: received gzip data ({len(wrong)} bytes) that is not the expected file' in message
    assert _files(fashion_root) == []


def test_broken_gzip_is_deleted_and_described(server, fashion_root, monkeypatch, real_files):
    data = Path(real_files[LABELS]).read_bytes()
    srv, message = _download_labels(server, fashion_root, monkeypatch, data[:len(data) // 2])
    assert f'{LABELS}.gz: received gzip data' in message and 'broken gzip data' in message
    assert _files(fashion_root) == []


def test_the_right_file_is_kept_checked_as_it_came(server, fashion_root, monkeypatch, real_files, counted):
    data = Path(real_files[LABELS]).read_bytes()
    srv = server({LABELS + '.gz': data})
    monkeypatch.setattr(_common, 'FASHION_MNIST_URL', srv.url)
    monkeypatch.setattr(_common, 'FASHION_MNIST_FILES', {LABELS: _common.FASHION_MNIST_FILES[LABELS]})
    paths = _common.fashion_mnist_paths(str(fashion_root))
    assert _files(fashion_root) == [f'fashion-mnist/{LABELS}.gz']
    assert Path(paths[LABELS]).read_bytes() == data
    assert counted['content'] == SIZE  # decompressed once, as it came


def test_download_keeps_a_file_with_the_right_sha1(server, tmp_path):
    body = b'a,b\n1,2\n'
    srv = server({'small.csv': body})
    path = _common.download(srv.url + 'small.csv', str(tmp_path), hashlib.sha1(body).hexdigest())
    assert Path(path).read_bytes() == body and _files(tmp_path) == ['small.csv']


def test_a_local_gzip_bomb_is_read_with_bounded_work(tmp_path, counted):
    path = tmp_path / (LABELS + '.gz')
    path.write_bytes(_bomb(64 << 20))
    with pytest.raises(_common.DataFileError) as error:
        _common.read_idx(str(path), LABELS)
    message = str(error.value)
    assert message.startswith(f'{path}: gzip data that decompresses to more than {SIZE} bytes of IDX data')
    assert 'Delete this file and run again' in message
    assert counted['content'] <= SIZE + _common._CHUNK


def _zip_of(size):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('zeros.bin', bytes(size))
    return buffer.getvalue()


def _tar_gz_of(size):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w:gz') as archive:
        info = tarfile.TarInfo('zeros.bin')
        info.size = size
        archive.addfile(info, io.BytesIO(bytes(size)))
    return buffer.getvalue()


@pytest.mark.parametrize('name, make', [('bomb.zip', _zip_of), ('bomb.tar.gz', _tar_gz_of)])
def test_an_archive_larger_than_the_cap_is_not_extracted(tmp_path, monkeypatch, name, make):
    monkeypatch.setattr(_common, 'MAX_DOWNLOAD_BYTES', 1 << 20)
    archive = tmp_path / name
    archive.write_bytes(make(2 << 20))
    out = tmp_path / 'out'
    with pytest.raises(_common.DataFileError) as error:
        _common.extract(str(archive), str(out))
    assert str(error.value).startswith(f'{archive}: its content adds up to more than {1 << 20} bytes')
    assert not out.exists() or _files(out) == []
    monkeypatch.setattr(_common, 'MAX_DOWNLOAD_BYTES', 4 << 20)  # under the cap: extracted
    _common.extract(str(archive), str(out))
    assert (out / 'zeros.bin').stat().st_size == 2 << 20


def test_a_notebook_shows_the_message_without_a_traceback(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns['DataFileError'] = _common.DataFileError
    shell.run_cell("raise DataFileError('/data/x.gz: truncated. Delete this file and run again.')")
    shown = capsys.readouterr()
    output = shown.out + shown.err
    assert 'DataFileError: /data/x.gz: truncated. Delete this file and run again.' in output
    assert 'Traceback' not in output and 'line 1' not in output
