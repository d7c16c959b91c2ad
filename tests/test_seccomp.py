"""Seccomp, capabilities and no-new-privileges: Docker's default profile read and loaded, the flags that
change it, and the same probe run in minidock and in a private dockerd, compared syscall by syscall.

The probe needs no compiler: the host's /usr, /lib and /lib64 are bind-mounted read-only into a busybox
container, and the host's python3 calls ``syscall(2)`` through ctypes with harmless arguments (flags 0,
NULL pointers, a wrong reboot magic), printing for each call ``ok`` or the error's name.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from dockerd import dockerd  # noqa: F401  (the session's private dockerd)
from test_daemon import clis, daemon  # noqa: F401  (a minidock daemon over a fresh store)
from minidock.cli.containers import security_opts
from minidock.containers import security
from minidock.errors import InvalidParameter, UsageError
from minidock.runtime import seccomp
from minidock.runtime.syscalls import DEFAULT_CAPABILITIES, set_no_new_privs

DEFAULT = ["CAP_" + c for c in DEFAULT_CAPABILITIES]
AMD64, ARM64 = ("amd64", "SCMP_ARCH_X86_64"), ("arm64", "SCMP_ARCH_AARCH64")
# the calls issue 15 names as refused by default, and a few a default container must keep
REFUSED = ("unshare", "keyctl", "add_key", "mount", "swapon", "reboot", "init_module")
# name -> the harmless arguments it is called with: nothing is mounted, created or rebooted
ARGS = {"unshare": (0,), "keyctl": (0, -3, 0), "add_key": (0, 0, 0, 0, 0), "mount": (0, 0, 0, 0, 0),
        "swapon": (0, 0), "reboot": (0, 0, 0, 0), "init_module": (0, 0, 0), "getpid": (), "chroot": (0,),
        "sethostname": (0, 0), "clone3": (0, 0), "personality": (0xFFFFFFFF,)}
PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = []
for spec in sys.argv[1:]:
    name, nr, *args = spec.split(":")
    r = libc.syscall(ctypes.c_long(int(nr)), *[ctypes.c_long(int(a)) for a in args])
    out.append(name + "=" + ("ok" if r >= 0 else os.strerror(ctypes.get_errno()).replace(" ", "_")))
print(" ".join(out))
"""


def probe_args() -> list[str]:
    """``name:number:args...`` for each probed call, numbered for this machine by libseccomp."""
    import pyseccomp
    return [":".join([name, str(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)), *map(str, args)])
            for name, args in ARGS.items()]


def probe_results(output: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in output.split())


# -- the profile, read as Docker reads it (pure) ---------------------------------------------------

def test_the_shipped_profile_is_docker_s_default():
    profile = seccomp.default_profile()
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile["defaultErrnoRet"] == 1
    assert len(profile["syscalls"][0]["names"]) == 349 and profile["syscalls"][0]["action"] == "SCMP_ACT_ALLOW"
    named = {n for call in profile["syscalls"] for n in call["names"]}
    assert not {"keyctl", "add_key", "request_key", "swapon", "swapoff", "kexec_load"} & named   # never allowed
    licence = (seccomp.PROFILE.parent / "seccomp_default.json.license").read_text()
    assert "moby/moby" in licence and "Apache License, Version 2.0" in licence


@pytest.mark.parametrize("arch, architectures, only_here, not_here", [
    (AMD64, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], {"arch_prctl", "modify_ldt"}, {"set_tls"}),
    (ARM64, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"], {"set_tls", "cacheflush"}, {"arch_prctl", "modify_ldt"}),
])
def test_the_profile_for_each_architecture(arch, architectures, only_here, not_here):
    oci = seccomp.oci_seccomp(seccomp.default_profile(), DEFAULT, arch, (6, 1))
    assert oci["architectures"] == architectures
    allowed = set(seccomp.allowed(oci))
    assert only_here <= allowed and not not_here & allowed
    assert not set(REFUSED) & allowed and {"read", "execve", "clone3"} - allowed == {"clone3"}


def test_rules_follow_the_container_s_capabilities():
    profile = seccomp.default_profile()
    default = seccomp.oci_seccomp(profile, DEFAULT, AMD64, (6, 1))
    admin = seccomp.oci_seccomp(profile, DEFAULT + ["CAP_SYS_ADMIN"], AMD64, (6, 1))
    boot = seccomp.oci_seccomp(profile, DEFAULT + ["CAP_SYS_BOOT"], AMD64, (6, 1))
    assert {"mount", "unshare", "setns", "umount2", "clone"} <= set(seccomp.allowed(admin)) - set(seccomp.allowed(default))
    assert "reboot" in seccomp.allowed(boot) and "reboot" not in seccomp.allowed(admin)
    # without SYS_ADMIN: clone only without namespace flags (an argument rule), clone3 answers ENOSYS
    clones = [c for c in default["syscalls"] if "clone" in c["names"]]
    assert clones == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                       "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]}]
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in default["syscalls"]
    assert not [c for c in admin["syscalls"] if c.get("args") and "clone" in c["names"]]
    # includes.minKernel: ptrace for everyone only from Linux 4.8
    assert "ptrace" in seccomp.allowed(default)
    assert "ptrace" not in seccomp.allowed(seccomp.oci_seccomp(profile, DEFAULT, AMD64, (4, 4)))


def test_what_the_filter_answers_each_call():
    default = seccomp.oci_seccomp(seccomp.default_profile(), DEFAULT, AMD64, (6, 1))
    admin = seccomp.oci_seccomp(seccomp.default_profile(), DEFAULT + ["CAP_SYS_ADMIN"], AMD64, (6, 1))
    assert [seccomp.answer(default, c) for c in ("read", "clone", "clone3", "mount", "keyctl")] == \
        ["allowed", "some arguments", "ENOSYS", "EPERM", "EPERM"]
    assert [seccomp.answer(admin, c) for c in ("clone", "clone3", "mount", "keyctl")] == \
        ["allowed", "allowed", "allowed", "EPERM"]
    assert seccomp.answer({"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": []}, "mount") == "kill_process"


def test_capabilities_as_docker_tweaks_them():
    assert security.capabilities([], [], False) == DEFAULT
    assert security.capabilities(["CAP_SYS_ADMIN"], ["CAP_NET_RAW"], False) == \
        [c for c in DEFAULT if c != "CAP_NET_RAW"] + ["CAP_SYS_ADMIN"]
    assert security.capabilities(["CAP_KILL"], ["ALL"], False) == ["CAP_KILL"]
    everything = security.capabilities(["ALL"], ["CAP_CHOWN"], False)
    assert "CAP_SYS_ADMIN" in everything and "CAP_CHOWN" not in everything
    assert security.capabilities([], [], True) == security.all_capabilities()
    assert security.normalized(["sys_admin", "CAP_KILL", "all", "kill", "CAP_ALL"], "CapAdd") == \
        ["CAP_SYS_ADMIN", "CAP_KILL", "ALL"]
    with pytest.raises(InvalidParameter, match='invalid CapAdd: unknown capability: "CAP_FOO"'):
        security.normalized(["foo"], "CapAdd")


@pytest.mark.parametrize("options, expected", [
    ([], {"seccomp": "", "no_new_privileges": False}),
    (["no-new-privileges"], {"seccomp": "", "no_new_privileges": True}),
    (["no-new-privileges=false", "seccomp=unconfined", "apparmor=unconfined", "label=disable"],
     {"seccomp": "unconfined", "no_new_privileges": False}),
    (["seccomp:unconfined", "no-new-privileges:1"], {"seccomp": "unconfined", "no_new_privileges": True}),
])
def test_security_options_as_docker_s_daemon_reads_them(options, expected):
    assert security.security_options(options) == expected


@pytest.mark.parametrize("option, message", [
    ("foo", 'invalid --security-opt 1: "foo"'),
    ("bogus=1", 'invalid --security-opt 2: "bogus=1"'),
    ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
    ("seccomp={not json", "Decoding seccomp profile failed"),
    ('seccomp={"defaultAction": "SCMP_ACT_BOGUS"}', "string SCMP_ACT_BOGUS is not a valid action for seccomp"),
])
def test_bad_security_options_are_refused(option, message):
    with pytest.raises(InvalidParameter, match=message):
        security.security_options([option])


def test_the_command_line_sends_a_profile_s_content(tmp_path):
    profile = tmp_path / "p.json"
    profile.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n')
    assert security_opts([f"seccomp={profile}", "no-new-privileges", "seccomp=unconfined"]) == \
        ['seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}', "no-new-privileges", "seccomp=unconfined"]
    with pytest.raises(UsageError, match=r"opening seccomp profile \(/nonexist.json\) failed: open /nonexist.json: "
                                         "no such file or directory"):
        security_opts(["seccomp=/nonexist.json"])
    with pytest.raises(UsageError, match='Invalid --security-opt: "seccomp"'):
        security_opts(["seccomp"])


def test_the_spec_records_what_is_applied():
    process, linux = security.spec_fields({"CapAdd": ["CAP_SYS_ADMIN"], "SecurityOpt": ["no-new-privileges"]})
    assert process["noNewPrivileges"] is True and "CAP_SYS_ADMIN" in process["capabilities"]["bounding"]
    assert "mount" in seccomp.allowed(linux["seccomp"]) and "maskedPaths" not in linux   # the runtime's own
    process, linux = security.spec_fields({})   # a record from before these fields: Docker's defaults
    assert process == {"capabilities": {k: DEFAULT for k in ("bounding", "effective", "permitted")},
                       "noNewPrivileges": False}
    assert "seccomp" not in security.spec_fields({"SecurityOpt": ["seccomp=unconfined"]})[1]
    process, linux = security.spec_fields({"Privileged": True})
    assert "seccomp" not in linux and linux["maskedPaths"] == linux["readonlyPaths"] == []


# -- the filter, compiled by libseccomp and loaded (no root needed: no_new_privs first) -----------

def _in_child(check) -> int:
    """Run ``check()`` in a forked child (a filter cannot be removed); its exit status."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = check()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _errno_of(name: str) -> int:
    import pyseccomp
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    result = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in ARGS[name]])
    return 0 if result >= 0 else ctypes.get_errno()


def test_the_loaded_default_filter_refuses_with_eperm(tmp_path):
    rules = seccomp.oci_seccomp(seccomp.default_profile(), DEFAULT)
    syscall_filter = seccomp.program(rules, tmp_path / "cache")
    (kept,) = (tmp_path / "cache").iterdir()   # libseccomp's program, kept by the hash of its rules
    assert kept.read_bytes() == hashlib.sha256(syscall_filter).digest() + syscall_filter
    assert len(syscall_filter) % 8 == 0
    stand_in = b"\x06\x00\x00\x00\x00\x00\xff\x7f"   # a whole program: the kept one is what is loaded
    kept.write_bytes(hashlib.sha256(stand_in).digest() + stand_in)
    assert seccomp.program(rules, tmp_path / "cache") == stand_in
    for torn in (syscall_filter[:-3], syscall_filter[:-8], b""):   # torn, even on an instruction's edge
        kept.write_bytes(hashlib.sha256(syscall_filter).digest() + torn)
        assert seccomp.program(rules, tmp_path / "cache") == syscall_filter == seccomp.program(rules)

    def check() -> int:
        set_no_new_privs()   # so an unprivileged test may load it, as seccomp(2) allows
        seccomp.load(syscall_filter)
        refused = {name: _errno_of(name) for name in ("unshare", "keyctl", "add_key", "swapon")}
        status = Path("/proc/self/status").read_text()
        return 0 if (set(refused.values()) == {1} and _errno_of("getpid") == 0 and _errno_of("clone3") == 38
                     and "Seccomp:\t2" in status) else 3
    assert _in_child(check) == 0


def test_a_profile_of_one_s_own_with_two_conditions_on_one_argument():
    """runc's rule: two conditions on one argument become two rules (either may match)."""
    rules = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [],
             "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                           "args": [{"index": 0, "value": 4, "op": "SCMP_CMP_EQ"},
                                    {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                          {"names": ["no_such_call"], "action": "SCMP_ACT_ERRNO"}]}
    syscall_filter = seccomp.program(seccomp.oci_seccomp(rules, []))
    libc = ctypes.CDLL(None, use_errno=True)

    def check() -> int:
        set_no_new_privs()
        seccomp.load(syscall_filter)
        answers = []
        for persona in (4, 8, 0xFFFFFFFF):
            answers.append(libc.personality(ctypes.c_ulong(persona)) >= 0 or ctypes.get_errno())
        return 0 if answers == [22, 22, True] else 3
    assert _in_child(check) == 0


# -- containers (root) -------------------------------------------------------------------------

def probe_run(*flags: str) -> subprocess.CompletedProcess:
    return run_cli("run", "--rm", "--network", "none", *flags, "-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro",
                   "-v", "/lib64:/lib64:ro", "busybox", "/usr/bin/python3", "-I", "-S", "-c", PROBE, *probe_args())


def status_of(*flags: str) -> dict[str, str]:
    out = run_cli("run", "--rm", "--network", "none", *flags, "busybox", "cat", "/proc/self/status", check=True)
    return dict(line.split(":\t", 1) for line in out.stdout.decode().splitlines() if ":\t" in line)


@pytest.mark.root
def test_a_default_container_is_filtered_and_ordinary_programs_run(busybox):
    fields = status_of()
    assert (fields["Seccomp"], fields["NoNewPrivs"], fields["CapEff"]) == ("2", "0", "00000000a80425fb")
    assert status_of("--security-opt", "no-new-privileges")["NoNewPrivs"] == "1"
    assert status_of("--security-opt", "seccomp=unconfined")["Seccomp"] == "0"
    result = probe_run()
    assert result.returncode == 0, result.stderr
    found = probe_results(result.stdout.decode())
    assert {name: found[name] for name in REFUSED} == dict.fromkeys(REFUSED, "Operation_not_permitted")
    assert found["getpid"] == "ok" and found["clone3"] == "Function_not_implemented"
    applets = run_cli("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                      "ls / >/dev/null && ps >/dev/null && wget --help 2>/dev/null; date >/dev/null && echo fine")
    assert applets.stdout == b"fine\n"
    # the unshare *program* calls unshare(2): refused, as in Docker; with SYS_ADMIN it works
    denied = run_cli("run", "--rm", "--network", "none", "busybox", "unshare", "-m", "true")
    assert denied.returncode == 1 and b"Operation not permitted" in denied.stderr
    assert run_cli("run", "--rm", "--network", "none", "--cap-add", "sys_admin", "busybox", "unshare", "-m",
                   "true").returncode == 0


@pytest.mark.root
def test_unconfined_behaves_as_the_capabilities_allow(busybox):
    found = probe_results(probe_run("--security-opt", "seccomp=unconfined").stdout.decode())
    assert found["unshare"] == "ok" and found["keyctl"] == "ok"   # no capability needed
    assert found["add_key"] == found["mount"] == "Bad_address"    # past the filter, the kernel reads the NULLs
    assert found["reboot"] == found["swapon"] == "Operation_not_permitted"   # no CAP_SYS_BOOT, CAP_SYS_ADMIN


@pytest.mark.root
def test_exec_joins_with_the_container_s_confinement(busybox, client):
    run_cli("run", "-d", "--name", "confined", "--network", "none", "--cap-add", "SYS_ADMIN", "--cap-drop",
            "NET_RAW", "--security-opt", "no-new-privileges", "busybox", "sleep", "60", check=True)
    try:
        out = run_cli("exec", "confined", "grep", "-E", "^(CapEff|NoNewPrivs|Seccomp):", "/proc/self/status",
                      check=True).stdout.decode().split()
        assert out == ["CapEff:", "00000000a82405fb", "NoNewPrivs:", "1", "Seccomp:", "2"]
        host = json.loads(run_cli("inspect", "confined", check=True).stdout)[0]["HostConfig"]
        assert (host["CapAdd"], host["CapDrop"], host["SecurityOpt"], host["Privileged"]) == \
            (["CAP_SYS_ADMIN"], ["CAP_NET_RAW"], ["no-new-privileges"], False)
        spec = json.loads((client.containers.containers.dir(host_id(client, "confined")) / "spec.json").read_text())
        assert spec["process"]["noNewPrivileges"] is True and "mount" in seccomp.allowed(spec["linux"]["seccomp"])
    finally:
        run_cli("rm", "-f", "confined")


def host_id(client, name: str) -> str:
    return client.containers.get(name).id


@pytest.mark.root
def test_privileged_and_bad_flags(busybox):
    fields = status_of("--privileged")
    assert fields["Seccomp"] == "0" and int(fields["CapEff"], 16) == int(Path("/proc/self/status").read_text()
                                                                          .split("CapBnd:\t")[1].split()[0], 16)
    look = ("[ -c /proc/keys ] && echo keys masked; grep -o ' /sys sysfs r[ow]' /proc/mounts;"
            " grep -cE ' /sys/fs/cgroup[^ ]* cgroup2? rw' /proc/mounts; ls /dev | wc -l")
    default = run_cli("run", "--rm", "--network", "none", "busybox", "sh", "-c", look).stdout.decode().splitlines()
    seen = run_cli("run", "--rm", "--network", "none", "--privileged", "busybox", "sh", "-c", look).stdout.decode()
    assert default[:3] == ["keys masked", " /sys sysfs ro", "0"] and seen.splitlines()[0] == " /sys sysfs rw"
    assert int(seen.splitlines()[1]) > 0   # the cgroup file systems writable, as Docker's --privileged has them
    assert int(seen.split()[-1]) > int(default[-1])   # the host's devices
    for flags, message in ((["--cap-add", "FOO"], b'invalid CapAdd: unknown capability: "CAP_FOO"'),
                           (["--cap-drop", "bar"], b'invalid CapDrop: unknown capability: "CAP_BAR"'),
                           (["--security-opt", "foo"], b'Invalid --security-opt: "foo"'),
                           (["--security-opt", "seccomp=/nonexist.json"], b"opening seccomp profile")):
        refused = run_cli("run", "--rm", *flags, "busybox", "true")
        assert refused.returncode == 125 and message in refused.stderr and b"Traceback" not in refused.stderr
    assert run_cli("ps", "-aq").stdout == b""


@pytest.mark.root
def test_a_profile_of_one_s_own(busybox, tmp_path):
    """``--security-opt seccomp=FILE``: the command line sends the file's JSON, the engine applies it."""
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    ran = run_cli("run", "--rm", "--network", "none", "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c",
                  "grep Seccomp: /proc/self/status; unshare -U true && echo unshared; mkdir /made")
    assert ran.returncode == 1 and ran.stdout.decode().split() == ["Seccomp:", "2", "unshared"]
    assert b"Permission denied" in ran.stderr   # EACCES, the profile's errnoRet


@pytest.mark.root
def test_cap_drop_all_and_a_user_other_than_root(busybox):
    fields = status_of("--cap-drop", "ALL")
    assert (fields["CapEff"], fields["CapBnd"], fields["Seccomp"]) == ("0000000000000000",) * 2 + ("2",)
    fields = status_of("-u", "1000")
    assert (fields["CapEff"], fields["CapBnd"], fields["Uid"].split()[0]) == ("0000000000000000", "00000000a80425fb", "1000")


# -- Docker is the reference --------------------------------------------------------------------

@pytest.mark.root
@pytest.mark.peers("dockerd", "docker")
@pytest.mark.parametrize("flags", [(), ("--security-opt", "seccomp=unconfined"), ("--cap-add", "SYS_ADMIN"),
                                   ("--cap-drop", "ALL"), ("--security-opt", "no-new-privileges")])
def test_the_same_calls_are_refused_as_in_docker(busybox, dockerd, flags):  # noqa: F811
    mounts = ["-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro"]
    theirs = dockerd.docker("run", "--rm", "--network", "none", *flags, *mounts, "busybox", "/usr/bin/python3",
                            "-I", "-S", "-c", PROBE, *probe_args())
    assert theirs.returncode == 0, theirs.stderr
    ours = probe_run(*flags)
    assert ours.returncode == 0, ours.stderr
    assert probe_results(ours.stdout.decode()) == probe_results(theirs.stdout.decode())
    status = "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status"
    assert run_cli("run", "--rm", "--network", "none", *flags, "busybox", "sh", "-c", status).stdout == \
        dockerd.docker("run", "--rm", "--network", "none", *flags, "busybox", "sh", "-c", status).stdout


@pytest.mark.root
@pytest.mark.peers("dockerd", "docker")
def test_bad_flags_fail_as_in_docker(busybox, dockerd):  # noqa: F811
    for flags in (["--cap-add", "FOO"], ["--security-opt", "foo"], ["--security-opt", "no-new-privileges=maybe"]):
        theirs = dockerd.docker("run", "--rm", *flags, "busybox", "true")
        ours = run_cli("run", "--rm", *flags, "busybox", "true")
        assert ours.returncode == theirs.returncode == 125
        their_line = theirs.stderr.decode().splitlines()[0].removeprefix("docker: ").removeprefix(
            "Error response from daemon: ").rstrip(".")   # the CLI ends a daemon's error with "."
        assert their_line in ours.stderr.decode()



# -- through minidock's daemon: the real docker CLIs and docker-py --------------------------------

@pytest.mark.root
@pytest.mark.parametrize("cli", clis())
def test_the_docker_cli_s_flags_reach_the_engine(daemon, cli):  # noqa: F811
    status = "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | cut -f2 | tr '\\n' ' '"
    ran = daemon.docker(cli, "run", "--rm", "--network", "none", "--cap-add", "sys_admin", "--cap-drop", "net_raw",
                        "--security-opt", "no-new-privileges", "busybox", "sh", "-c", status)
    assert (ran.returncode, ran.stdout) == (0, b"00000000a82405fb 1 2 "), ran.stderr
    ran = daemon.docker(cli, "run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", "busybox",
                        "sh", "-c", status)
    assert ran.stdout == b"00000000a80425fb 0 0 "
    refused = daemon.docker(cli, "run", "--rm", "--cap-add", "FOO", "busybox", "true")
    assert refused.returncode == 125 and b'invalid CapAdd: unknown capability: "CAP_FOO"' in refused.stderr
    refused = daemon.docker(cli, "run", "--rm", "--security-opt", "bogus=1", "busybox", "true")
    assert refused.returncode == 125 and b'invalid --security-opt 2: \\"bogus=1\\"' in refused.stderr or \
        b'invalid --security-opt 2: "bogus=1"' in refused.stderr
    info = daemon.docker(cli, "info", "--format", "{{json .SecurityOptions}}")
    assert json.loads(info.stdout) == ["name=seccomp,profile=builtin"]


@pytest.mark.root
def test_docker_py_s_security_arguments(daemon):  # noqa: F811
    docker = pytest.importorskip("docker", reason="needs the docker package (make setup installs the test extra)")
    client = docker.DockerClient(base_url=f"unix://{daemon.sock}")
    try:
        out = client.containers.run("busybox", ["unshare", "-m", "true"], cap_add=["SYS_ADMIN"], remove=True,
                                    network_mode="none", security_opt=["no-new-privileges"])
        assert out == b""
        made = client.containers.create("busybox", "true", privileged=True, cap_drop=["KILL"])
        assert (made.attrs["HostConfig"]["Privileged"], made.attrs["HostConfig"]["CapDrop"]) == (True, ["CAP_KILL"])
        made.remove()
        with pytest.raises(docker.errors.ContainerError):
            client.containers.run("busybox", ["unshare", "-m", "true"], remove=True, network_mode="none")
    finally:
        client.close()


def test_the_modes_say_whether_they_filter(monkeypatch):
    """A chapter's ``%%needs seccomp`` cells run where containers get the filter: root and rootless."""
    from minidock import course
    for mode, lacks in (("root", []), ("rootless", []), ("chroot-emulated", ["seccomp"])):
        monkeypatch.setenv("MINIDOCK_MODE", mode)
        assert course.lacking("seccomp") == lacks
