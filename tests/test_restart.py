"""Restart policies, ``--stop-signal``/``--stop-timeout`` and ``--pid host``/``--uts host``: what a
container's record keeps of how it stops, restarts and shares the host's namespaces."""

from __future__ import annotations

import json
import socket
import time

import pytest

from minidock.containers.restart import delay_before_restart

from conftest import run_cli


def out(*args: str) -> str:
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def eventually(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    return check()


@pytest.mark.parametrize("policy, state, delay", [
    ({"Name": "no"}, {"ExitCode": 1}, None),
    ({"Name": "always"}, {"ExitCode": 0}, 0.1),
    ({"Name": "unless-stopped"}, {"ExitCode": 0, "RestartCount": 3}, 0.8),
    ({"Name": "always"}, {"ExitCode": 0, "ManuallyStopped": True}, None),
    ({"Name": "on-failure"}, {"ExitCode": 0}, None),
    ({"Name": "on-failure"}, {"ExitCode": 1, "RestartCount": 20}, 60.0),
    ({"Name": "on-failure", "MaximumRetryCount": 2}, {"ExitCode": 1, "RestartCount": 1}, 0.2),
    ({"Name": "on-failure", "MaximumRetryCount": 2}, {"ExitCode": 1, "RestartCount": 2}, None),
    ({"Name": "always"}, {"ExitCode": 0, "RestartCount": 5, "StartedAt": "2026-01-01T00:00:00Z",
                          "FinishedAt": "2026-01-01T00:00:11Z"}, 0.1),     # a steady run resets the back-off
])
def test_dockers_restart_rules(policy, state, delay):
    assert delay_before_restart(policy, state) == delay


@pytest.mark.root
def test_on_failure_restarts_at_most_n_times_and_a_stop_ends_always(root, busybox):
    out("run", "-d", "--name", "flaky", "--network", "none", "--restart", "on-failure:2", "busybox",
        "sh", "-c", "echo once; exit 3")
    assert eventually(lambda: out("inspect", "-f", "{{.RestartCount}}", "flaky").strip() == "2")
    time.sleep(1)   # no third restart
    assert out("inspect", "-f", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}", "flaky").split() == \
        ["2", "exited", "3"]
    assert out("logs", "flaky").split() == ["once"] * 3
    out("run", "-d", "--name", "steady", "--network", "none", "--restart", "always", "busybox", "sleep", "0.2")
    assert eventually(lambda: int(out("inspect", "-f", "{{.RestartCount}}", "steady")) >= 2)
    out("stop", "steady")
    count = out("inspect", "-f", "{{.RestartCount}}", "steady")
    time.sleep(1.5)
    assert out("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "steady").split() == [count.strip(), "exited"]
    out("start", "steady")        # a start by hand sets the policy going again, counted from 0
    assert eventually(lambda: int(out("inspect", "-f", "{{.RestartCount}}", "steady")) >= 1)
    out("rm", "-f", "flaky", "steady")


def test_restart_policies_are_checked_as_docker_checks_them(root, busybox):
    for args, message in [(["--restart", "sometimes"], b"invalid restart policy"),
                          (["--restart", "always:3"], b"maximum retry count cannot be used"),
                          (["--restart", "on-failure:x"], b"must be an integer"),
                          (["--rm", "--restart", "always"], b"Conflicting options: --restart and --rm"),
                          (["--stop-signal", "SIGNOPE"], b"Invalid signal: SIGNOPE"),
                          (["--uts", "host", "-h", "mine"], b"Conflicting options: hostname and the UTS mode"),
                          (["--pid", "container:x"], b"PidMode")]:
        proc = run_cli("create", *args, "busybox", "true")
        assert proc.returncode == 125 and message in proc.stderr, (args, proc.stderr)
        assert b"Traceback" not in proc.stderr
    assert out("ps", "-aq") == ""


@pytest.mark.root
def test_stop_signal_and_stop_timeout(root, busybox):
    out("run", "-d", "--name", "polite", "--network", "none", "--stop-signal", "USR1", "--stop-timeout", "1",
        "busybox", "sh", "-c", 'trap "echo got USR1" USR1; while true; do sleep 0.1; done')
    time.sleep(0.3)
    start = time.monotonic()
    out("stop", "polite")          # USR1 is trapped, not fatal: SIGKILL after its own 1 s, not 10
    assert time.monotonic() - start < 5
    assert "got USR1" in out("logs", "polite")
    attrs = json.loads(out("inspect", "polite"))[0]
    assert attrs["Config"]["StopSignal"] == "USR1" and attrs["Config"]["StopTimeout"] == 1
    assert attrs["State"]["ExitCode"] == 137
    out("rm", "polite")


@pytest.mark.root
def test_pid_and_uts_host_share_the_hosts_namespaces(root, busybox):
    processes = out("run", "--rm", "--network", "none", "--pid", "host", "busybox", "sh", "-c", "cat /proc/1/comm; ps -o pid | wc -l")
    first, count = processes.split()
    assert first == open("/proc/1/comm").read().strip() and int(count) > 5
    assert out("run", "--rm", "--network", "none", "busybox", "cat", "/proc/1/comm").strip() == "cat"
    assert out("run", "--rm", "--network", "none", "--uts", "host", "busybox", "hostname").strip() == socket.gethostname()
    assert out("run", "--rm", "--network", "none", "busybox", "hostname").strip() != socket.gethostname()
    assert socket.gethostname() == open("/proc/sys/kernel/hostname").read().strip()   # the host's is untouched
    cid = out("create", "--pid", "host", "--uts", "host", "busybox", "true").strip()
    host = json.loads(out("inspect", cid))[0]["HostConfig"]
    assert (host["PidMode"], host["UTSMode"]) == ("host", "host")
    out("rm", cid)


def test_update_changes_the_restart_policy(root, busybox):
    cid = out("create", "--network", "none", "busybox", "true").strip()
    out("update", "--restart", "on-failure:4", cid)
    assert json.loads(out("inspect", cid))[0]["HostConfig"]["RestartPolicy"] == \
        {"Name": "on-failure", "MaximumRetryCount": 4}
    bad = run_cli("update", "--restart", "always:2", cid)
    assert bad.returncode != 0 and b"maximum retry count" in bad.stderr
    removed = out("create", "--rm", "--network", "none", "busybox", "true").strip()
    refused = run_cli("update", "--restart", "always", removed)
    assert refused.returncode != 0 and b"AutoRemove" in refused.stderr
    out("rm", cid, removed)


@pytest.mark.root
def test_cpu_shares_is_the_cgroups_weight(root, busybox):
    from minidock.runtime import cgroups
    version = cgroups.hierarchies()[0]["cpu"].version
    path = "/sys/fs/cgroup/cpu/cpu.shares" if version == 1 else "/sys/fs/cgroup/cpu.weight"
    default = out("run", "--rm", "--network", "none", "busybox", "cat", path).strip()
    assert default == ("1024" if version == 1 else "100")
    half = out("run", "--rm", "--network", "none", "--cpu-shares", "512", "busybox", "cat", path).strip()
    assert half == ("512" if version == 1 else str(cgroups.cpu_weight(512)))
    cid = out("create", "-c", "1", "busybox", "true").strip()      # Docker's minimum
    assert json.loads(out("inspect", cid))[0]["HostConfig"]["CpuShares"] == 2
    out("rm", cid)


@pytest.mark.root
def test_cpuset_cpus_pins_the_container(root, busybox):
    import os
    from minidock.runtime import cgroups
    last = max(os.sched_getaffinity(0))
    pinned = out("run", "--rm", "--network", "none", "--cpuset-cpus", str(last), "busybox",
                 "grep", "Cpus_allowed_list", "/proc/self/status")
    assert pinned.split() == ["Cpus_allowed_list:", str(last)]
    refused = run_cli("run", "--rm", "--network", "none", "--cpuset-cpus", f"0-{last + 8}", "busybox", "true")
    assert refused.returncode == 125 and b"Requested CPUs are not available" in refused.stderr
    assert run_cli("create", "--cpuset-cpus", "1-x", "busybox", "true").stderr.startswith(b"minidock: Invalid value 1-x")
    assert out("ps", "-aq") == ""
    cpuset = cgroups.hierarchies(("cpuset",))[0].get("cpuset")
    assert cpuset is None or not any(cpuset.base().glob("*/cgroup.procs"))   # nothing left behind


@pytest.mark.root
def test_add_host_goes_into_etc_hosts_for_run_and_build(root, busybox, tmp_path):
    hosts = out("run", "--rm", "--network", "none", "--add-host", "registry.course:10.9.8.7",
                "--add-host", "db=192.0.2.1", "busybox", "cat", "/etc/hosts")
    assert "10.9.8.7\tregistry.course" in hosts.splitlines() and "192.0.2.1\tdb" in hosts.splitlines()
    bridged = out("run", "--rm", "--add-host", "api:10.1.2.3", "busybox", "grep", "api", "/etc/hosts")
    assert bridged.strip() == "10.1.2.3\tapi"      # the shim's hosts file (with its address) keeps them
    bad = run_cli("create", "--add-host", "nohost", "busybox", "true")
    assert bad.returncode == 125 and b"bad format for add-host" in bad.stderr
    bad = run_cli("create", "--add-host", "x:host-gateway", "busybox", "true")
    assert bad.returncode == 125 and b"host-gateway" in bad.stderr
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\nRUN grep mirror /etc/hosts > /seen\nCMD cat /seen\n")
    out("build", "-q", "--add-host", "mirror:10.0.0.9", "-t", "seen:1", str(tmp_path / "ctx"))
    assert out("run", "--rm", "--network", "none", "seen:1").strip() == "10.0.0.9\tmirror"
