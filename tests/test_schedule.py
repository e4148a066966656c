"""Tests of tabbook.schedule: shards balanced by recorded times, timing files, GPU lanes."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import threading
import time
from types import SimpleNamespace

import nbformat
import pytest
from conftest import FIXTURES
from nbformat.v4 import new_notebook

from tabbook import execute
from tabbook import run as run_module
from tabbook.config import load_config, parse_gpus_setting
from tabbook.errors import SourceError
from tabbook.schedule import (
    TIMINGS_FORMAT,
    Lanes,
    Shard,
    Timings,
    assign_shards,
    is_cpu_only,
    nvidia_smi_gpus,
    parse_shard,
    select_shard,
    visible_gpus,
)

TABS = ("pytorch", "mxnet", "jax", "tensorflow")


def book_jobs(sections: int) -> list:
    return [SimpleNamespace(source_rel=f"chapter/s{n:03d}.md", tab=tab) for n in range(sections) for tab in TABS]


# ----------------------------------------------------------------------------- --shard K/N


@pytest.mark.parametrize("text, shard", [("1/1", Shard(1, 1)), ("2/3", Shard(2, 3)), (" 3 / 3 ", Shard(3, 3))])
def test_parse_shard(text, shard):
    assert parse_shard(text) == shard
    assert str(shard) == text.replace(" ", "")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "expected K/N"),
        ("3", "expected K/N"),
        ("a/b", "expected K/N"),
        ("-1/3", "expected K/N"),
        ("1.5/3", "expected K/N"),
        ("0/3", "between 1 and 3, not 0"),
        ("4/3", "between 1 and 3, not 4"),
        ("1/0", "at least 1, not 0"),
    ],
)
def test_bad_shards_are_clear_errors(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse_shard(text)


def test_every_notebook_is_in_exactly_one_shard_for_every_n():
    jobs = book_jobs(7)
    timings = Timings(None, {(job.source_rel, job.tab): float(i % 5 + 1) for i, job in enumerate(jobs)})
    for count in range(1, 12):
        shards = [select_shard(jobs, Shard(k, count), timings) for k in range(1, count + 1)]
        names = [(job.source_rel, job.tab) for shard in shards for job in shard]
        assert sorted(names) == sorted((job.source_rel, job.tab) for job in jobs)  # all, none twice
        # each shard keeps the run's order
        for shard in shards:
            assert shard == [job for job in jobs if job in shard]


def test_shards_are_deterministic_whatever_the_input_order():
    weights = {(f"s{n}.md", tab): float(n % 3) for n in range(20) for tab in TABS}
    reversed_weights = dict(reversed(list(weights.items())))
    assert assign_shards(weights, 4) == assign_shards(reversed_weights, 4)


def test_shards_are_balanced_by_recorded_times_not_counts():
    # One long notebook and many short ones: the long one gets a shard to itself.
    weights = {("long.md", "jax"): 100.0, **{(f"short{n}.md", "jax"): 10.0 for n in range(10)}}
    assignment = assign_shards(weights, 2)
    loads = {1: 0.0, 2: 0.0}
    for name, shard in assignment.items():
        loads[shard] += weights[name]
    assert loads == {1: 100.0, 2: 100.0}
    long_shard = assignment[("long.md", "jax")]
    assert [name for name, shard in assignment.items() if shard == long_shard] == [("long.md", "jax")]


def test_longest_first_is_within_a_third_of_optimal_on_a_book_like_spread():
    # The greedy split is at most 4/3 of the optimum; check it stays near the mean load.
    weights = {(f"s{n}.md", tab): float((n * 37 + len(tab) * 11) % 97 + 3) for n in range(200) for tab in TABS}
    for count in (2, 5, 16):
        assignment = assign_shards(weights, count)
        loads = [sum(w for name, w in weights.items() if assignment[name] == k) for k in range(1, count + 1)]
        assert max(loads) <= sum(loads) / count + max(weights.values())


def test_without_timings_the_split_is_by_counts():
    jobs = book_jobs(10)  # 40 notebooks
    empty = Timings(None)
    sizes = [len(select_shard(jobs, Shard(k, 3), empty)) for k in (1, 2, 3)]
    assert sorted(sizes) == [13, 13, 14]


def test_unrecorded_notebooks_count_as_their_frameworks_mean():
    timings = Timings(None, {("a.md", "jax"): 30.0, ("b.md", "jax"): 10.0, ("a.md", "pytorch"): 4.0})
    assert timings.estimate("a.md", "jax") == 30.0
    assert timings.estimate("new.md", "jax") == 20.0
    assert timings.estimate("new.md", "pytorch") == 4.0
    assert timings.estimate("new.md", "mxnet") == pytest.approx(44.0 / 3)  # no mxnet times: the mean of all
    assert Timings(None).estimate("new.md", "jax") == 1.0


# ----------------------------------------------------------------------------- timings.json


def test_timings_round_trip_and_update_from_summary_rows(tmp_path):
    timings = Timings.load(tmp_path)
    assert timings.seconds == {}
    rows = [
        SimpleNamespace(source="c/a.md", tab="jax", status="ok", executed_seconds=12.345),
        SimpleNamespace(source="c/a.md", tab="pytorch", status="ok", executed_seconds=3.0),
        SimpleNamespace(source="c/b.md", tab="jax", status="failed", executed_seconds=1.0),  # not a real time
        SimpleNamespace(source="index.md", tab="jax", status="ok", executed_seconds=None),  # no code
    ]
    assert timings.update(rows) == 2
    timings.save()
    data = json.loads((tmp_path / "timings.json").read_text())
    assert data["format"] == TIMINGS_FORMAT
    assert data["notebooks"] == {"c/a.md": {"jax": 12.3, "pytorch": 3.0}}
    again = Timings.load(tmp_path)
    assert again.seconds == {("c/a.md", "jax"): 12.3, ("c/a.md", "pytorch"): 3.0}


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        json.dumps({"format": "other", "notebooks": {}}),
        json.dumps({"format": TIMINGS_FORMAT}),
        json.dumps({"format": TIMINGS_FORMAT, "notebooks": {"a.md": {"jax": "slow"}}}),
        json.dumps({"format": TIMINGS_FORMAT, "notebooks": {"a.md": {"jax": -1}}}),
        json.dumps({"format": TIMINGS_FORMAT, "notebooks": ["a.md"]}),
    ],
)
def test_a_broken_timing_file_is_a_clear_error(tmp_path, text):
    (tmp_path / "timings.json").write_text(text)
    with pytest.raises(SourceError, match="timings.json: not a valid timing file .*--save-timings"):
        Timings.load(tmp_path)


# ----------------------------------------------------------------------------- GPUs


NVIDIA_SMI = """GPU 0: NVIDIA H200 (UUID: GPU-5c2e9f0a-0000-0000-0000-000000000000)
GPU 1: NVIDIA H200 (UUID: GPU-5c2e9f0a-0000-0000-0000-000000000001)
  MIG 1g.18gb     Device  0: (UUID: MIG-0f0e0d0c-0000-0000-0000-000000000000)
GPU 2: NVIDIA H200 (UUID: GPU-5c2e9f0a-0000-0000-0000-000000000002)
"""


def fake_run(stdout="", returncode=0, missing=False):
    def run(command, **kwargs):
        assert command == ["nvidia-smi", "-L"]
        if missing:
            raise FileNotFoundError("nvidia-smi")
        return subprocess.CompletedProcess(command, returncode, stdout=stdout, stderr="")

    return run


def test_gpus_from_nvidia_smi():
    assert nvidia_smi_gpus(fake_run(NVIDIA_SMI)) == ["0", "1", "2"]
    assert nvidia_smi_gpus(fake_run(missing=True)) == []  # no driver: no GPUs, nothing changes
    assert nvidia_smi_gpus(fake_run("NVIDIA-SMI has failed", returncode=9)) == []


def test_visible_gpus_prefers_config_then_the_users_cuda_visible_devices():
    smi = fake_run(NVIDIA_SMI)
    assert visible_gpus(None, environ={}, run=smi) == ["0", "1", "2"]
    assert visible_gpus(("2",), environ={}, run=smi) == ["2"]
    assert visible_gpus((), environ={}, run=smi) == []  # gpus = none
    assert visible_gpus(None, environ={"CUDA_VISIBLE_DEVICES": "1,2"}, run=smi) == ["1", "2"]
    assert visible_gpus(None, environ={"CUDA_VISIBLE_DEVICES": ""}, run=smi) == []
    assert visible_gpus(None, environ={"CUDA_VISIBLE_DEVICES": "0,-1,2"}, run=smi) == ["0"]


@pytest.mark.parametrize(
    "value, parsed", [("auto", None), ("", None), ("none", ()), ("0, 1", ("0", "1")), ("GPU-ab12-cd", ("GPU-ab12-cd",))]
)
def test_gpus_setting(value, parsed):
    assert parse_gpus_setting(value) == parsed


def test_a_bad_gpus_setting_is_an_error():
    with pytest.raises(ValueError, match="'cuda:0' is not a GPU index or UUID"):
        parse_gpus_setting("cuda:0")


def test_cpu_only_by_metadata_or_config():
    nb = new_notebook(metadata={"tabbook": {"source": "c/a.md"}})
    assert not is_cpu_only(nb, "c/a.md", ())
    assert is_cpu_only(nb, "c/a.md", ("c/*.md",))
    assert not is_cpu_only(nb, "c/a.md", ("other/*.md",))
    nb.metadata.tabbook.cpu_only = True
    assert is_cpu_only(nb, "c/a.md", ())


def test_without_gpus_nothing_changes():
    lanes = Lanes([], [True, True, False, True], jobs=2)
    assert (lanes.gpu_workers, lanes.cpu_workers) == (0, 2)
    assert not lanes.uses_gpu(True)
    with lanes.device(True) as env:
        assert env == {}  # CUDA_VISIBLE_DEVICES is left as the user has it
    assert list(lanes.executors()) == [False]
    assert lanes.describe() == "2 at once"


def test_jobs_default_to_one_per_gpu_and_cpu_only_notebooks_run_alongside():
    lanes = Lanes(["0", "1", "2"], [True] * 10 + [False] * 4, jobs=16)
    assert (lanes.gpu_workers, lanes.cpu_workers) == (3, 4)
    assert lanes.workers == 7
    assert lanes.describe() == "3 at once on a GPU each (0, 1, 2), 4 CPU-only alongside"
    with lanes.device(False) as env:
        assert env == {"CUDA_VISIBLE_DEVICES": ""}  # a CPU-only kernel sees no GPU
    assert Lanes(["0", "1", "2"], [True] * 10, jobs=16, jobs_given=2).gpu_workers == 2  # -j 2
    assert Lanes(["0", "1", "2"], [True] * 10, jobs=16, jobs_given=8).gpu_workers == 3  # never shared
    assert Lanes(["0", "1", "2"], [True], jobs=16).gpu_workers == 1  # no idle threads


def test_notebooks_never_share_a_gpu():
    """Many GPU notebooks through the lanes' own pools: at every moment each device has at most one."""
    devices = ["0", "1"]
    needs = [True] * 12 + [False] * 4
    lanes = Lanes(devices, needs, jobs=3)
    holders: dict[str, int] = {}
    seen = []
    lock = threading.Lock()

    def notebook(needs_gpu):
        with lanes.device(needs_gpu) as env:
            device = env["CUDA_VISIBLE_DEVICES"]
            with lock:
                if device:
                    assert holders.get(device, 0) == 0, f"GPU {device} shared"
                    holders[device] = holders.get(device, 0) + 1
                seen.append(device)
            time.sleep(0.01)
            with lock:
                if device:
                    holders[device] -= 1

    pools = lanes.executors()
    futures = [pools[lanes.uses_gpu(flag)].submit(notebook, flag) for flag in needs]
    for future in futures:
        future.result()
    for pool in pools.values():
        pool.shutdown()
    assert len(seen) == 16 and seen.count("") == 4  # the CPU-only ones saw no GPU
    assert {device for device in seen if device} <= set(devices)


CONFIG = (FIXTURES / "convert" / "config.ini").read_text()


def test_gpus_and_cpu_only_in_config_ini(tmp_path):
    (tmp_path / "config.ini").write_text(CONFIG)
    config = load_config(tmp_path)
    assert config.gpus is None and config.cpu_only == ()  # default: ask nvidia-smi; nothing CPU-only
    (tmp_path / "config.ini").write_text(CONFIG.replace("[build]\n", "[build]\ngpus = 0, 2\ncpu_only = chapter_a/*.md\n"))
    config = load_config(tmp_path)
    assert config.gpus == ("0", "2") and config.cpu_only == ("chapter_a/*.md",)


def test_a_bad_gpus_key_is_an_error_with_its_line(tmp_path):
    text = CONFIG.replace("[build]\n", "[build]\ngpus = all\n")
    (tmp_path / "config.ini").write_text(text)
    with pytest.raises(SourceError) as info:
        load_config(tmp_path)
    assert info.value.line == text.splitlines().index("gpus = all") + 1
    assert "[build] gpus: 'all' is not a GPU index or UUID; use auto, none or a list such as 0, 1" in info.value.message


# ----------------------------------------------------------------------------- GPUs in a real run


SHOW_DEVICES = """# {title}

```{{.python .input}}
%%tab pytorch
import os
print("devices", repr(os.environ.get("CUDA_VISIBLE_DEVICES")))  # {title} pytorch
```

```{{.python .input}}
%%tab jax
import os
print("devices", repr(os.environ.get("CUDA_VISIBLE_DEVICES")))  # {title} jax
```
"""


@pytest.mark.slow  # real kernels
def test_kernels_get_their_own_gpu_and_cpu_only_notebooks_none(tmp_path, monkeypatch, capsys):
    """A real run on the executor's fixture book with a fake device list."""
    book = tmp_path / "book"
    shutil.copytree(FIXTURES / "execute" / "book", book)
    (book / "chapter" / "gpu.md").write_text(SHOW_DEVICES.format(title="GPU"))
    (book / "chapter" / "cpu.md").write_text(SHOW_DEVICES.format(title="CPU"))
    config_text = (book / "config.ini").read_text().replace("[build]\n", "[build]\ncpu_only = chapter/cpu.md\n")
    (book / "config.ini").write_text(config_text)
    monkeypatch.setenv("TABBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.chdir(book)
    monkeypatch.setattr(run_module, "visible_gpus", lambda setting: ["0", "1"])

    rows = execute.run_book(load_config(book), files=[book / "chapter" / "gpu.md", book / "chapter" / "cpu.md"])
    assert all(row.status == "ok" and not row.cached for row in rows)
    assert "executing 4 notebook(s), 2 at once on a GPU each (0, 1), 2 CPU-only alongside" in capsys.readouterr().out

    def devices(tab, name):
        nb = nbformat.read(book / "_build" / "eval" / tab / f"chapter/{name}.ipynb", as_version=4)
        return nb.cells[1].outputs[0]["text"].strip()

    assert {devices("pytorch", "gpu"), devices("jax", "gpu")} <= {"devices '0'", "devices '1'"}
    assert devices("pytorch", "cpu") == devices("jax", "cpu") == "devices ''"


@pytest.mark.slow  # real kernels
def test_without_gpus_kernels_keep_the_users_environment(tmp_path, monkeypatch):
    book = tmp_path / "book"
    shutil.copytree(FIXTURES / "execute" / "book", book)
    (book / "chapter" / "gpu.md").write_text(SHOW_DEVICES.format(title="GPU"))
    monkeypatch.setenv("TABBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.chdir(book)
    monkeypatch.setattr(run_module, "visible_gpus", lambda setting: [])
    execute.run_book(load_config(book), files=[book / "chapter" / "gpu.md"], tabs=["jax"])
    nb = nbformat.read(book / "_build" / "eval" / "jax" / "chapter/gpu.ipynb", as_version=4)
    assert nb.cells[1].outputs[0]["text"].strip() == "devices None"
