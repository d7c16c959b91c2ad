"""Chapter 05's exercises, solved: other detach keys, one namespace at a time, exec's capabilities.

For each exercise: the checker on the chapter's state (✗), on a plausible wrong attempt (✗), then the
solution (✓).  First what the chapter made that the exercises use: `shell`, attached to and left with
`exit`, and `box`, the container to enter.
"""

import re
import subprocess
import time

import pexpect

from minidock import course
from minidock.runtime.syscalls import CAPABILITIES
from solving import chapter, not_yet, right, sh


def press(term: pexpect.spawn, *keys: str) -> None:
    """One key at a time, as a person types: detach keys count only so (a pasted chunk goes through)."""
    for key in keys:
        term.send(key)
        time.sleep(0.2)


def attach(name: str, *options: str) -> pexpect.spawn:
    return pexpect.spawn(" ".join(["minidock", "attach", *options, name]), encoding="utf-8", timeout=30)


with chapter("05-entering-containers") as client:
    sh("minidock run -dit --name shell -h shell busybox sh")
    term = attach("shell")
    term.sendline("exit")
    term.expect(pexpect.EOF)
    sh("minidock run -d --name box -h box busybox sleep 1000")
    pid = client.containers.get("box").pid

    # 1. Attach with ctrl-x,x as detach keys: Ctrl+P Ctrl+Q go to the shell; Ctrl+X x detaches.
    not_yet(course.check("05-entering-containers", 1, client, ctrl_p_ctrl_q_detaches=None))
    sh("minidock run -dit --name shell1 busybox sh")
    term = attach("shell1")                         # wrong: the default keys, which do detach
    press(term, "\x10", "\x11")                    # Ctrl+P, then Ctrl+Q
    term.expect(pexpect.EOF)
    not_yet(course.check("05-entering-containers", 1, client, ctrl_p_ctrl_q_detaches=True))
    sh("minidock run -dit --name shell2 busybox sh")
    term = attach("shell2", "--detach-keys", "ctrl-x,x")
    press(term, "\x10", "\x11")                    # Ctrl+P, then Ctrl+Q: still attached
    term.sendline("echo still attached")
    term.expect("\r\nstill attached\r\n")
    not_yet(course.check("05-entering-containers", 1, client, ctrl_p_ctrl_q_detaches=True))  # misread
    press(term, "\x18", "x")                       # Ctrl+X, then x
    term.expect(pexpect.EOF)
    right(course.check("05-entering-containers", 1, client, ctrl_p_ctrl_q_detaches=False))

    # 2. Only the UTS namespace, then only the network namespace, with the host's tools and root's privileges.
    not_yet(course.check("05-entering-containers", 2, client))
    tried = subprocess.run(["minidock", "exec", "box", "hostname", "entered"], capture_output=True, text=True)
    assert tried.returncode != 0, tried              # wrong: exec has no CAP_SYS_ADMIN
    not_yet(course.check("05-entering-containers", 2, client))
    sh(f"nsenter --target {pid} --uts hostname entered")
    not_yet(course.check("05-entering-containers", 2, client))      # half done: no address yet
    sh(f"nsenter --target {pid} --net ip addr add 192.0.2.1/32 dev lo")
    right(course.check("05-entering-containers", 2, client))

    # 3. CapEff through nsenter and through exec, decoded.
    def capabilities(hex_mask: str) -> set[str]:
        return {name for name, bit in CAPABILITIES.items() if int(hex_mask, 16) >> bit & 1}
    not_yet(course.check("05-entering-containers", 3, client, missing=None))
    not_yet(course.check("05-entering-containers", 3, client, missing=["SYS_ADMIN"]))  # only the famous one
    entered = sh(f"nsenter --target {pid} --mount --pid grep CapEff /proc/self/status").split()[1]
    executed = sh("minidock exec box grep CapEff /proc/self/status").split()[1]
    missing = sorted(capabilities(entered) - capabilities(executed))
    right(course.check("05-entering-containers", 3, client, missing=missing))
