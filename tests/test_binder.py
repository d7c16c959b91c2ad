"""Binder on this machine: every chapter runs to the end as an unprivileged learner, in each mode.

``tests/binder.py`` makes the setting (a uid with no capabilities; user
namespaces disabled, or allowed for the rootless run) and runs the chapters
there with ``pytest --nbval-lax``: outputs may differ from the stored root-mode
ones, but no cell may fail.  The notebooks are copied to a home that uid owns,
as Binder's are; nothing of the learner's is left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, require_tool

pytestmark = [pytest.mark.root, pytest.mark.slow]  # every chapter, twice: about two minutes

LEARNER = 65534  # nobody: a uid with no account, no groups, no home of its own
MODES = {"chroot-emulated": [], "rootless": ["--userns"]}


@pytest.fixture
def home():
    """A home the learner owns, with a copy of the course in it."""
    require_tool("proot")
    base = Path(tempfile.mkdtemp(prefix="minidock-binder-"))  # pytest's tmp dirs are root's alone
    os.chmod(base, 0o755)
    shutil.copytree(REPO / "notebooks", base / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(REPO / "docs", base / "docs", ignore=shutil.ignore_patterns("_build", "chapters"))
    for path in [base, *base.rglob("*")]:
        os.lchown(path, LEARNER, LEARNER)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("mode", MODES)
def test_every_chapter_runs_to_the_end_as_a_learner(home, mode):
    env = {"HOME": str(home), "PATH": f"{REPO / '.venv/bin'}:/usr/sbin:/usr/bin:/sbin:/bin",
           "MINIDOCK_COURSE_DIR": str(home / "course"), "LANG": "C.UTF-8"}
    info = _as_learner(mode, ["minidock", "info", "--format", "{{.RunMode}}"], home, env)
    assert info.stdout.strip() == mode, info.stderr
    run = _as_learner(mode, [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                             "--nbval-lax", "--nbval-current-env", "notebooks"], home, env)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert " passed" in run.stdout.splitlines()[-1]
    deadline = time.monotonic() + 10  # the last container's shim may still be reaping its children
    while (left := _learners_processes()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == "", f"the learner's processes outlived the chapters:\n{left}"


def _learners_processes() -> str:
    return subprocess.run(["ps", "-o", "pid=,args=", "-u", str(LEARNER)], capture_output=True, text=True).stdout.strip()


def _as_learner(mode: str, command: list[str], home: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "tests" / "binder.py"), "--uid", str(LEARNER),
                           *MODES[mode], "--", *command], cwd=home, env=env, capture_output=True,
                          text=True, timeout=1500)
