"""make setup: environments keyed by their requirements, the .venv link, kernels."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tabbook import envs
from tabbook.config import EnvSpec, load_config
from tabbook.errors import SourceError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TABBOOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_dir_honours_override(cache):
    assert envs.cache_dir() == cache


def test_env_is_keyed_by_its_requirements(tmp_path, cache):
    reqs = tmp_path / "reqs.txt"
    reqs.write_text("numpy==2.4.6\n")
    spec = EnvSpec("demo", reqs, None)
    first = envs.env_dir(spec)
    assert first.parent == cache / "envs" and first.name.startswith("demo-")
    assert envs.env_dir(spec) == first  # stable
    reqs.write_text("numpy==2.4.5\n")
    assert envs.env_dir(spec) != first  # a new pin means a new environment


def test_no_deps_and_the_tools_own_python_are_keyed_too(tmp_path, cache):
    reqs = tmp_path / "reqs.txt"
    reqs.write_text("numpy==2.4.6\n")
    assert envs.env_dir(EnvSpec("demo", reqs, None, no_deps=True)) != envs.env_dir(EnvSpec("demo", reqs, None))
    # a tab without [env-<tab>] (a d2lbook book) has no requirements: its key names the kernel
    own = EnvSpec("jax", None, "python3")
    assert envs.requirements_hash(own) == envs.requirements_hash(EnvSpec("jax", None, "python3"))
    assert envs.requirements_hash(own) != envs.requirements_hash(EnvSpec("jax", None, "d2l-jax"))


def test_d2lbook_env_holds_its_pins_and_not_their_dependencies():
    """[env-d2lbook] sets no_deps: d2lbook 1.0.3 is there, Sphinx (which it requires) is not."""
    python = envs.env_python(load_config(ROOT).envs["d2lbook"])
    assert python.exists(), "run 'make setup'"
    code = "import importlib.metadata as m, importlib.util as u; print(m.version('d2lbook'), u.find_spec('sphinx') is None)"
    assert subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.split() == ["1.0.3", "True"]


@pytest.mark.slow  # builds virtual environments
def test_build_env_is_idempotent_and_rebuilds_half_built(tmp_path, cache):
    reqs = tmp_path / "reqs.txt"
    reqs.write_text("# nothing to install\n")
    spec = EnvSpec("empty", reqs, None)
    name, _, built = envs.build_env(spec)
    assert built and (envs.env_dir(spec) / envs.COMPLETE_MARK).exists()
    assert envs.env_python(spec).exists()
    assert envs.build_env(spec)[2] is False  # second run: nothing to do
    # An interrupted setup leaves no mark: the next one starts that environment over.
    (envs.env_dir(spec) / envs.COMPLETE_MARK).unlink()
    (envs.env_dir(spec) / "leftover").write_text("half")
    assert envs.build_env(spec)[2] is True
    assert not (envs.env_dir(spec) / "leftover").exists()


@pytest.mark.slow  # builds a virtual environment
def test_failed_install_names_the_log(tmp_path, cache):
    reqs = tmp_path / "reqs.txt"
    reqs.write_text("this-is-not-a-requirement===\n")
    spec = EnvSpec("broken", reqs, None)
    with pytest.raises(SourceError) as err:
        envs.build_env(spec)
    log = envs.env_dir(spec).parent / f"{envs.env_dir(spec).name}.log"
    assert f"creating the 'broken' environment failed; last lines of {log}:" in str(err.value)
    assert "this-is-not-a-requirement===" in log.read_text()  # the log holds pip's complaint
    assert "this-is-not-a-requirement" in str(err.value)  # and its end is in the message
    assert not (envs.env_dir(spec) / envs.COMPLETE_MARK).exists()


def test_kernel_spec_points_at_the_framework_env():
    config = load_config(ROOT)
    spec = config.envs["pytorch"]
    kernel = envs.kernel_spec(config, spec)
    assert kernel["argv"][0] == str(envs.env_python(spec))
    assert kernel["argv"][1] == "-c" and "kernelapp.launch_new_instance()" in kernel["argv"][2]
    assert str(ROOT) not in json.dumps(kernel)  # the same for every clone (tests/faults/test_fault_clones.py)
    assert kernel["language"] == "python"


def test_setup_registered_one_kernel_per_tab_in_the_tool_env():
    """make setup has run (make test depends on it): the tool's Jupyter sees every kernel."""
    config = load_config(ROOT)
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"], capture_output=True, text=True, check=True
    )
    specs = json.loads(out.stdout)["kernelspecs"]
    for tab in config.tabs:
        kernel = specs[config.envs[tab].kernel]
        assert Path(kernel["resource_dir"]).is_relative_to(envs.env_dir(config.envs["tool"]))
        assert Path(kernel["spec"]["argv"][0]).exists()


def test_venv_link_points_at_the_tool_env():
    config = load_config(ROOT)
    link = ROOT / ".venv"
    assert link.is_symlink()
    assert os.readlink(link) == str(envs.env_dir(config.envs["tool"]))


def test_print_dir(capsys):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        assert envs.main(["--print-dir", "mxnet"]) == 0
    finally:
        os.chdir(cwd)
    assert capsys.readouterr().out.strip() == str(envs.env_dir(load_config(ROOT).envs["mxnet"]))


def test_mxnet_env_keeps_numpy_pinned():
    """mxnet 1.9.1 breaks if anything upgrades numpy past 1.23.5."""
    config = load_config(ROOT)
    python = envs.env_python(config.envs["mxnet"])
    out = subprocess.run([str(python), "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True)
    assert out.stdout.strip() == "1.23.5"


@pytest.mark.slow  # builds a virtual environment
def test_the_log_says_where_the_time_went(tmp_path, cache):
    """Every line of an environment's log carries the seconds since its build started, and
    bench/setup_bench.py reads the phases back from them."""
    sys.path.insert(0, str(ROOT / "bench"))
    from setup_bench import phases

    reqs = tmp_path / "reqs.txt"
    reqs.write_text("# nothing to install\n")
    spec = EnvSpec("empty", reqs, None)
    envs.build_env(spec)
    log = envs.env_dir(spec).parent / f"{envs.env_dir(spec).name}.log"
    lines = log.read_text().splitlines()
    stamps = [float(line.split()[0]) for line in lines]
    assert stamps == sorted(stamps) and stamps[0] < 60
    assert any(" $ " in line and " -m venv " in line for line in lines)
    assert any(" $ " in line and " -m pip install " in line for line in lines)
    assert phases(log)["venv"] == next(s for s, line in zip(stamps, lines, strict=True) if "-m pip install" in line)


def test_setup_bench_reads_the_phases(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    from setup_bench import phases

    log = tmp_path / "demo.log"
    log.write_text(
        "    0.0 $ python3 -m venv /x\n"
        "    4.0 $ /x/bin/python -m pip install -r reqs.txt\n"
        "    5.0 Collecting numpy==2.4.6\n"
        "    5.1   Downloading numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl (16.6 MB)\n"
        "    6.0 Processing /opt/pypi/files/six-1.17.0-py2.py3-none-any.whl\n"
        "   20.0 Building wheels for collected packages: demo\n"
        "   23.0 Installing collected packages: six, numpy\n"
        "   30.5 Successfully installed numpy-2.4.6 six-1.17.0\n")
    assert phases(log) == {"venv": 4.0, "resolve+download": 16.0, "build wheels": 3.0, "install": 7.5,
                           "total": 30.5, "downloads": 1, "MB": 16.6, "local": 1}


def test_build_only_leaves_the_link_and_the_kernels(tmp_path, monkeypatch):
    """--build-only (the set-up benchmark's) builds nothing here (every environment is up to date in
    a cache that has them all) and must not touch .venv or the kernels."""
    calls = []
    monkeypatch.setattr(envs, "build_env", lambda spec: (spec.name, 0.0, False))
    monkeypatch.setattr(envs, "link_venv", lambda config: calls.append("link"))
    monkeypatch.setattr(envs, "register_kernels", lambda config: calls.append("kernels"))
    monkeypatch.setattr(envs, "remove_checkout_install", lambda spec: calls.append("uninstall"))
    envs.setup(load_config(ROOT), build_only=True)
    assert calls == []
    envs.setup(load_config(ROOT))
    assert calls[-2:] == ["link", "kernels"]
