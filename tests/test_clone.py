"""A teacher's clone: in root's home, which no one else may enter, the tests that run as another user still pass."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = [pytest.mark.root, pytest.mark.peers("git", "setpriv")]


def test_a_clone_only_root_can_read_runs_a_rootless_test(tmp_path):
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    clone = private / "minidock"
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):   # the working tree as it is, not only what is committed
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    assert os.stat(private).st_mode & 0o777 == 0o700
    test = "tests/test_rootless.py::test_a_rootless_container_is_pid_1_root_inside_with_its_own_loopback"
    env = {**os.environ, "PYTHONPATH": str(clone)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1].startswith("1 passed")
