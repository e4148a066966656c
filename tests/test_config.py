"""config.ini is checked: unknown and missing keys and bad numbers are errors with their line."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from tabbook.config import find_root, load_config
from tabbook.errors import SourceError

GOOD = (FIXTURES / "convert" / "config.ini").read_text()


def load(tmp_path, text):
    (tmp_path / "config.ini").write_text(text)
    return load_config(tmp_path)


def line_of(text, needle):
    return next(number for number, line in enumerate(text.splitlines(), 1) if line.startswith(needle))


def test_good_config(tmp_path):
    config = load(tmp_path, GOOD)
    assert config.tabs == ("pytorch", "mxnet", "jax", "tensorflow")
    assert config.default_tab == "pytorch"
    assert config.envs["jax"].kernel == "test-jax"
    assert config.lib_files["mxnet"] == tmp_path / "d2l/_saved/mxnet.py"
    assert config.cell_timeout == 60 and config.jobs == 1
    assert config.with_tabs(["jax"]).default_tab == "jax"


def test_unknown_key(tmp_path):
    text = GOOD.replace("cell_timeout = 60", "cell_timeout = 60\ncel_timeout = 30")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == line_of(text, "cel_timeout")
    assert "unknown key 'cel_timeout' in [build]" in info.value.message


def test_unknown_section(tmp_path):
    text = GOOD + "\n[htlm]\nbibfile = x.bib\n"
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == line_of(text, "[htlm]") and "unknown section [htlm]" in info.value.message


def test_missing_key(tmp_path):
    text = GOOD.replace("jobs = 1\n", "")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == line_of(text, "[build]")
    assert "missing the required key 'jobs'" in info.value.message


def test_missing_kernel_of_a_tab(tmp_path):
    text = GOOD.replace("kernel = test-jax\n", "")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == line_of(text, "[env-jax]") and "'kernel'" in info.value.message


def test_bad_int(tmp_path):
    text = GOOD.replace("cell_timeout = 60", "cell_timeout = sixty")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert info.value.line == line_of(text, "cell_timeout")
    assert "must be a whole number, not 'sixty'" in info.value.message
    assert str(info.value).startswith(f"{tmp_path / 'config.ini'}:{info.value.line}: ")


def test_tab_without_library_section(tmp_path):
    text = GOOD.replace("[library-jax]\nlib_file = d2l/_saved/jax.py\n", "")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text)
    assert "no [library-jax] section" in info.value.message and info.value.line == line_of(text, "tabs =")


def test_no_config_anywhere(tmp_path):
    with pytest.raises(SourceError) as info:
        find_root(tmp_path)
    assert "no config.ini" in info.value.message
