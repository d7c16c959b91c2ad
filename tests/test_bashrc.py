"""The book's .bashrc_docker helpers, as minidock twins: docs/minidock.bashrc."""

import subprocess

import pytest

from conftest import REPO, run_cli

pytestmark = pytest.mark.root


@pytest.mark.peers("nsenter")
def test_minidock_pid_and_enter_reach_the_container(busybox, root):
    run_cli("run", "-d", "--name", "helped", "-h", "helped-box", "busybox", "sleep", "30", check=True)
    try:
        script = f". {REPO}/docs/minidock.bashrc; minidock-pid helped; minidock-enter helped hostname"
        env = {"PATH": f"{REPO}/.venv/bin:/usr/sbin:/usr/bin:/sbin:/bin", "MINIDOCK_ROOT": str(root)}
        proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
        pid, hostname = proc.stdout.split()
        inspect = run_cli("inspect", "--format", "{{.State.Pid}}", "helped", check=True)
        assert pid == inspect.stdout.decode().strip() != "0"
        assert hostname == "helped-box"
    finally:
        run_cli("rm", "-f", "helped")


def test_minidock_enter_says_when_the_container_is_not_running(busybox, root):
    run_cli("create", "--name", "idle", "busybox", "true", check=True)
    try:
        env = {"PATH": f"{REPO}/.venv/bin:/usr/bin:/bin", "MINIDOCK_ROOT": str(root)}
        proc = subprocess.run(["bash", "-c", f". {REPO}/docs/minidock.bashrc; minidock-enter idle"],
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 1 and "not running" in proc.stderr
    finally:
        run_cli("rm", "-f", "idle")
