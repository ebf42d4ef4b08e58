"""The browser client's own tests (client/tests/, node's built-in test runner, no npm packages): the call
state's merge order — a snapshot then events, out-of-order and duplicate segments — and the now card's choice.
Run from pytest so CI runs them with everything else."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_client_js_tests_pass() -> None:
    node = shutil.which("node")
    assert node is not None, "node (v20 or later) is needed for the client's tests"
    r = subprocess.run([node, "--test", "client/tests/"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    passed = re.search(r"^# pass (\d+)$", out, re.M)
    failed = re.search(r"^# fail (\d+)$", out, re.M)
    assert passed and int(passed.group(1)) >= 9, out
    assert failed and failed.group(1) == "0", out
