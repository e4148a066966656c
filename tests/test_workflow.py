"""The CI workflow (.github/workflows/book.yml) is checked offline on every test run:
valid against GitHub's workflow schema, and zizmor (a security linter for Actions)
finds nothing. Both tools are pinned in envs/tool.txt."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "book.yml"
BIN = Path(sys.executable).parent


def tool(name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def test_the_workflow_is_valid_against_the_github_workflow_schema():
    result = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing(persona):
    result = tool("zizmor", "--offline", "--persona", persona, "--no-progress", str(WORKFLOW))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_every_action_is_pinned_to_a_commit_with_its_version_in_a_comment():
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", WORKFLOW.read_text(), re.MULTILINE)
    assert uses
    for action, rest in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r"\s+# v\d+(\.\d+)*", rest), f"{action}: no '# vX.Y.Z' comment"
    # one commit per action repository: actions/cache, cache/restore and cache/save agree
    commits = {}
    for action, rest in uses:
        repo = "/".join(action.split("@")[0].split("/")[:2])
        commits.setdefault(repo, set()).add((action.split("@")[1], rest.strip()))
    assert all(len(pins) == 1 for pins in commits.values()), commits


def test_the_number_of_shards_is_set_in_one_place():
    text = WORKFLOW.read_text()
    assert len(re.findall(r"^\s+SHARDS: \d+$", text, re.MULTILINE)) == 1
    assert "--shard \"$SHARD\"" in text and "fromJSON(needs.plan.outputs.shards)" in text
