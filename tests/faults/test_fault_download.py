"""A bad download (a proxy answering 200 with an HTML page) is deleted and reported, file by file.

d2l needs numpy, which the tool environment lacks: the download runs in the
PyTorch environment's Python against a local HTTP server.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from pathlib import Path

import pytest

from tabbook.config import load_config
from tabbook.envs import env_python

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]

PAGE = b"<!DOCTYPE html><html><head><title>Proxy login</title></head><body>Sign in to continue</body></html>"


class _Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


def test_an_html_page_instead_of_the_data_is_deleted_and_every_file_named(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = tmp_path / "data"
    script = (
        "from d2l import _common\n"
        f"_common.FASHION_MNIST_URL = 'http://127.0.0.1:{server.server_port}/'\n"
        f"_common.FASHION_MNIST_SYSTEM_DIR = {str(tmp_path / 'none')!r}\n"
        f"_common.fashion_mnist_paths({str(root)!r})\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "D2L_DATA"}
    env["PYTHONPATH"] = str(REPO)
    python = env_python(load_config(REPO).envs["pytorch"])
    try:
        result = subprocess.run([str(python), "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()
    assert "DataFileError: Downloading Fashion-MNIST from http://127.0.0.1" in result.stderr
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert f"  {name}.gz: received an HTML page ({len(PAGE)} bytes)" in message
    assert "check the network and run again" in result.stderr
    assert [path for path in root.rglob("*") if path.is_file()] == []  # nothing kept, not even a part file
