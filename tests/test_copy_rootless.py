"""``minidock cp`` in rootless mode: the copying child is root of a user namespace of its own,
so it mounts a stopped container's overlay (userxattr) and chroots like root does."""

from __future__ import annotations

import pytest

from test_rootless import NOBODY, as_nobody  # noqa: F401  (as_nobody: the fixture)

pytestmark = [pytest.mark.root, pytest.mark.peers("setpriv")]


def test_rootless_cp_both_ways_running_and_stopped(as_nobody):
    as_nobody("bootstrap", "busybox")
    home = as_nobody.home
    (home / "hello.txt").write_text("hello\n")
    as_nobody("run", "-d", "--name", "box", "busybox", "sleep", "600")
    as_nobody("cp", str(home / "hello.txt"), "box:/tmp/")
    assert as_nobody("exec", "box", "cat", "/tmp/hello.txt").stdout == "hello\n"
    as_nobody("cp", "box:/etc/passwd", str(home / "passwd"))
    assert (home / "passwd").read_text().startswith("root:") and (home / "passwd").stat().st_uid == NOBODY
    as_nobody("stop", "-t", "0", "box")
    as_nobody("cp", str(home / "hello.txt"), "box:/stopped.txt")
    as_nobody("cp", "box:/tmp/hello.txt", str(home / "back.txt"))
    assert (home / "back.txt").read_text() == "hello\n"
    assert "A /stopped.txt" in as_nobody("diff", "box").stdout.split("\n")
    paused = as_nobody("pause", "box", check=False)
    assert paused.returncode == 1 and "not running" in paused.stderr


def test_rootless_refuses_device_nodes_and_pause_in_one_line(as_nobody):
    as_nobody("bootstrap", "busybox")
    as_nobody("run", "-d", "--name", "box", "busybox", "sleep", "600")
    refused = as_nobody("cp", "/dev/null", "box:/tmp/", check=False)  # a tar holding a char device
    assert refused.returncode != 0 and "device node" in refused.stderr and "Traceback" not in refused.stderr
    assert as_nobody("exec", "box", "ls", "-A", "/tmp").stdout == ""
    paused = as_nobody("pause", "box", check=False)
    assert paused.returncode == 1
    assert paused.stderr.strip() == ("Error response from daemon: pause needs the container's cgroup, "
                                     "which rootless mode here does not have")
