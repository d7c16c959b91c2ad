"""The chroot-emulated mode (Binder's): proot runs containers in a flattened copy of the image; nothing is isolated.

Forced here with ``MINIDOCK_MODE=chroot-emulated``; the commands and their
results must be those of the other modes wherever the mode can give them.
"""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import REPO, fetched, require_tool, run_cli

@pytest.fixture(autouse=True)
def emulated(busybox, monkeypatch):
    require_tool("proot")
    monkeypatch.setenv("MINIDOCK_MODE", "chroot-emulated")


def md(*args: str, input: bytes | None = None):
    return run_cli(*args, input=input, env=os.environ | {"MINIDOCK_MODE": "chroot-emulated"})


def test_info_says_what_is_not_isolated():
    out = md("info", "--format", "{{.RunMode}}").stdout.decode().strip()
    assert out == "chroot-emulated"


def test_a_container_runs_in_the_image_s_files_with_its_exit_code():
    proc = md("run", "--rm", "busybox", "sh", "-c", "cat /etc/os-release 2>/dev/null || ls /bin/busybox; id -u; exit 7")
    assert proc.returncode == 7
    assert proc.stdout.decode().split() == ["/bin/busybox", "0"]  # the image's files; "root" only to itself
    missing = md("run", "--rm", "busybox", "nosuch")
    assert missing.returncode == 127 and b"executable file not found" in missing.stderr


def test_diff_and_commit_of_a_copied_tree(client):
    md("run", "--name", "e1", "busybox", "sh", "-c", "echo new > /added; rm /bin/cat; echo y >> /etc/passwd")
    assert md("diff", "e1").stdout.decode().splitlines() == ["A /added", "C /bin", "D /bin/cat", "C /etc",
                                                             "C /etc/passwd"]  # as in the overlay modes
    assert md("commit", "e1", "emulated:1").returncode == 0
    image = client.images.get("emulated:1")
    assert len(image.attrs["RootFS"]["Layers"]) == 2
    assert client.images.images.layer_meta(image.record.chain_ids[-1])["size"] < 1000  # the changes, not a copy
    out = md("run", "--rm", "emulated:1", "sh", "-c", "cat /added; ls /bin/cat 2>&1; tail -1 /etc/passwd").stdout
    assert out == b"new\nls: /bin/cat: No such file or directory\ny\n"
    md("rm", "e1")


def test_a_build_runs_its_steps_under_proot(tmp_path):
    ctx = tmp_path / "ctx"
    shutil.copytree(REPO / "tests" / "contexts" / "multistage", ctx)
    proc = md("build", "-t", "emulated-build:1", str(ctx))
    assert proc.returncode == 0, proc.stderr
    assert md("run", "--rm", "emulated-build:1").stdout == b"built by the first stage\n"


def test_exec_runs_a_second_program_in_the_same_files():
    """No namespaces to join: exec is a second proot over the container's rootfs, with -w, -e and -u."""
    cid = md("run", "-d", "busybox", "sh", "-c", "while [ ! -e /tmp/done ]; do sleep 0.1; done; cat /tmp/done").stdout
    cid = cid.decode().strip()
    out = md("exec", "-w", "/etc", "-e", "GREETING=hi", cid, "sh", "-c", "pwd; echo $GREETING $HOME; id -u")
    assert out.returncode == 0 and out.stdout.decode().split() == ["/etc", "hi", "/root", "0"]
    assert md("exec", "-u", "nobody", cid, "id", "-u").stdout.decode().strip() == "65534"
    assert md("exec", cid, "nosuch").returncode == 127
    assert md("exec", "-t", cid, "sh", "-c", "[ -t 0 ] && echo a terminal").stdout == b"a terminal\r\n"
    assert md("exec", cid, "sh", "-c", "echo written by exec > /tmp/done").returncode == 0
    assert md("wait", cid).stdout.strip() == b"0"
    assert md("logs", cid).stdout == b"written by exec\n"
    md("rm", cid)


def test_rm_f_ends_every_process_of_an_emulated_container():
    """proot's tracees outlive proot: the whole process group must get the SIGKILL."""
    cid = md("run", "-d", "busybox", "sh", "-c", "sleep 987651 & sleep 987652").stdout.decode().strip()
    import time
    deadline = time.monotonic() + 10
    while len(_sleepers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_sleepers()) == 2
    top = md("top", cid).stdout.decode().splitlines()[1:]  # no PID namespace: its process group, not the host's
    assert sorted(int(row.split()[1]) for row in top if row.split()[3] == "sleep") == sorted(_sleepers())
    assert len(top) == 3, top  # proot and the two sleeps
    assert md("rm", "-f", cid).returncode == 0
    deadline = time.monotonic() + 10
    while _sleepers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleepers() == []


def _sleepers() -> list[int]:
    """PIDs of the test's own sleeps (their distinctive durations), zombies excluded."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cmd[:2] in ([b"sleep", b"987651"], [b"sleep", b"987652"]) and state != "Z":
            found.append(int(pid))
    return found


def test_a_published_port_reaches_the_host_s_own_port_the_container_listens_on():
    """No network namespace: the container's 8080 is the host's, and the proxy forwards -p's port to it."""
    cid = md("run", "-d", "-h", "emulated-web", "-p", "127.0.0.1::18431", "busybox",
             "httpd", "-f", "-p", "127.0.0.1:18431", "-h", "/etc").stdout.decode().strip()
    host = md("port", cid, "18431").stdout.decode().strip()
    assert fetched(f"http://{host}/hostname") == b"emulated-web\n"
    md("rm", "-f", cid)
