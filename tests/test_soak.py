"""The soak benchmark's harness (``bench/soak.py``): a short run passes, and what it looks for it finds.

The full ten minutes run by hand (``bench/README.md`` has the figures); here twenty seconds of the same
calls, and a leak made on purpose (a process with the store in its environment, a mount under the store)
that the harness must report and fail on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import soak  # noqa: E402

pytestmark = [pytest.mark.root]


@pytest.mark.slow
def test_twenty_seconds_of_soak_meet_every_target(tmp_path):
    pytest.importorskip("docker", reason="needs the docker package (make setup installs the test extra)")
    result = subprocess.run([sys.executable, str(REPO / "bench" / "soak.py"), "--minutes", "0.33",
                             "--dir", str(tmp_path)], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "; 0 errors" in result.stdout
    for kind in ("mounts", "cgroups", "processes", "veths"):
        assert f"left behind: {kind}: 0" in result.stdout
    assert "NOT MET" not in result.stdout
    assert os.listdir(tmp_path) == []      # its temp dir removed


def test_a_leak_is_found_and_fails_the_soak(tmp_path):
    """A process that has the daemon's store in its environment and a mount under the store are reported."""
    store = tmp_path / "minidock" / "store"
    (store / "mnt").mkdir(parents=True)
    stand_in = subprocess.Popen(["sleep", "60"])    # the "daemon": a process without children
    daemon = types.SimpleNamespace(dir=tmp_path / "minidock", proc=stand_in, env={"MINIDOCK_BRIDGE": "mdsoak-none"})
    leaked = subprocess.Popen(["sleep", "60"], env=dict(os.environ, MINIDOCK_ROOT=str(store)))
    subprocess.run(["mount", "-t", "tmpfs", "soak-test", str(store / "mnt")], check=True)
    try:
        left = soak.leftovers(daemon, set())
        assert left["mounts"] == [str(store / "mnt")]
        assert [p.split()[0] for p in left["processes"]] == [str(leaked.pid)]
        figures = (30 << 20, 4, 2)
        assert not soak.report(figures, figures, [(0.0, *figures)], (Counter(run=1), [], 1.0), left)
        clean = {kind: [] for kind in left}
        assert soak.report(figures, figures, [(0.0, *figures)], (Counter(run=1), [], 1.0), clean)
        assert not soak.report(figures, (30 << 20, 5, 2), [(0.0, *figures)], (Counter(run=1), [], 1.0), clean)
    finally:
        subprocess.run(["umount", str(store / "mnt")], check=True)
        for process in (leaked, stand_in):
            process.kill()
            process.wait()
