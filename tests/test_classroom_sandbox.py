"""The classroom's sandboxes: two learners, each an unprivileged user running rootless minidock in a
network namespace and a cgroup of their own (issue 16, items 1 and 2).

Each learner's minidock runs with Debian's python3 from a copy of the package any user can read
(as tests/test_rootless.py does), entered the way a hub's spawner starts a learner's server: a
forked child joins the sandbox (``Sandbox.enter``), becomes the learner (``Learner.become``), execs.
The users are ``mdsbx1`` and ``mdsbx2``; the sandboxes' indices are high (16001, 16002) so that
another suite's sandboxes on the same machine never take the same host link.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import fetched
from minidock.classroom import learners
from minidock.classroom.sandbox import (HUB_ADDRESS, HUB_LINK, LAST_INDEX, NETWORK, Limits, Sandbox,
                                        address_of, hub_interface_down, hub_interface_up, leftovers, sweep)
from minidock.errors import InvalidParameter, NotFound

PYTHON = "/usr/bin/python3"
NAMES = ("mdsbx1", "mdsbx2")
INDICES = (16001, 16002)
MiB = 1024 * 1024

# -- the address rule, the limits: no root needed ------------------------------------------------


def test_each_index_has_its_own_address_in_the_class_network_and_none_is_the_hub_s():
    import ipaddress
    assert (address_of(1), address_of(2), address_of(LAST_INDEX)) == ("10.213.0.6", "10.213.0.10", "10.213.255.250")
    every = {address_of(i) for i in range(1, LAST_INDEX + 1)}
    assert len(every) == LAST_INDEX and HUB_ADDRESS not in every and "10.213.0.0" not in every
    assert all(ipaddress.IPv4Address(a) in ipaddress.IPv4Network(NETWORK) for a in every)
    for bad in (0, LAST_INDEX + 1, -3, "7", 2.0):
        with pytest.raises(InvalidParameter, match="invalid learner index"):
            address_of(bad)


def test_a_sandbox_is_named_after_its_learner_and_refuses_a_name_that_is_not_a_user_name():
    box = Sandbox("ada", 3)
    assert (box.address, box.netns, box.host_link, box.cgroup) == ("10.213.0.14", "mdclass-ada", "mdc3", "classroom-ada")
    for bad in ("", "../etc", "Ada", "a b", "x" * 40, "-rf"):
        with pytest.raises(InvalidParameter, match="invalid learner name"):
            Sandbox(bad, 3)


def test_limits_are_positive_and_memory_is_at_least_docker_s_minimum():
    assert Limits(memory=256 * MiB, cpus=0.5, pids=64) == Limits(256 * MiB, 0.5, 64)
    assert Limits() == Limits(None, None, None)
    for bad in ({"memory": 0}, {"cpus": -1.0}, {"pids": 0}):
        with pytest.raises(InvalidParameter, match="give a positive number"):
            Limits(**bad)
    with pytest.raises(InvalidParameter, match="minimum memory limit"):
        Limits(memory=1 * MiB)


# -- the kernel side: root ------------------------------------------------------------------------


def mine() -> list[str]:
    """The leftovers of this file's sandboxes (another suite may have its own sandboxes up meanwhile)."""
    return [e for e in leftovers() if any(n in e for n in NAMES) or e.split()[-1] in {f"mdc{i}" for i in INDICES}]


@pytest.fixture
def hub_link():
    """mdclass0 for the test; taken down after only if the test made it (another suite's hub may use it)."""
    there = os.path.exists(f"/sys/class/net/{HUB_LINK}")
    yield
    if not there and not leftovers():  # no other suite's sandbox came meanwhile
        hub_interface_down()


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.root
def test_create_cables_the_learner_to_the_hub_only_and_destroy_leaves_nothing(hub_link):
    box = Sandbox("mdsbx1", INDICES[0])
    try:
        box.create(Limits(memory=128 * MiB, cpus=1.5, pids=50))
        inside = {tuple(line.split()[1:4:2]) for line in ip("-n", box.netns, "-4", "-o", "addr").splitlines()}
        assert inside == {("lo", "127.0.0.1/8"), ("eth0", f"{box.address}/32")}
        assert ip("-n", box.netns, "-6", "addr") == ip("-6", "addr", "show", box.host_link) == ""  # no IPv6
        assert open(f"/proc/sys/net/ipv4/conf/{box.host_link}/forwarding").read() == "0\n"
        assert ip("-n", box.netns, "route").split("\n")[0].split() == [HUB_ADDRESS, "dev", "eth0", "scope", "link"]
        assert "default" not in ip("-n", box.netns, "route")
        assert f"{box.address} dev {box.host_link} scope link src {HUB_ADDRESS}" in ip("route")
        assert f"{HUB_ADDRESS}/32" in ip("-4", "-o", "addr", "show", HUB_LINK)
        assert box.usage()["pids"] == 0 and sorted(mine()) == sorted(
            ["netns mdclass-mdsbx1", f"link {box.host_link}", "cgroup classroom-mdsbx1"])
        from minidock.runtime.cgroups import Cgroup
        stats = Cgroup.open(box.cgroup).stats()
        assert (stats["memory_limit"], stats["pids_limit"]) == (128 * MiB, 50)
    finally:
        box.destroy()
    assert mine() == []
    box.destroy()  # idempotent


@pytest.mark.root
def test_a_failure_halfway_through_create_leaves_nothing_and_a_leftover_is_replaced(hub_link):
    taken = Sandbox("mdsbx2", INDICES[1])
    subprocess.run(["ip", "link", "add", taken.host_link, "type", "veth", "peer", "name", "mdsbxpeer"], check=True)
    try:
        with pytest.raises(Exception, match=f"cannot make {taken.host_link}"):
            Sandbox("mdsbx1", INDICES[1]).create(Limits(memory=64 * MiB))
        assert mine() == [f"link {taken.host_link}"]  # the namespace and the cgroup made before are gone
    finally:
        subprocess.run(["ip", "link", "del", taken.host_link], check=True)
    old = Sandbox("mdsbx1", INDICES[0]).create(Limits())
    new = Sandbox("mdsbx1", INDICES[1])
    try:
        new.create(Limits(pids=20))  # the same learner again, as a hub restarted after a crash would
        assert sorted(mine()) == sorted(["netns mdclass-mdsbx1", f"link {new.host_link}", "cgroup classroom-mdsbx1"])
    finally:
        new.destroy()
        old.destroy()
    assert mine() == []
    with pytest.raises(NotFound, match="learner mdsbx1 has no sandbox"):
        new.usage()


@pytest.mark.root
def test_a_sweep_removes_what_a_killed_hub_left_and_nothing_of_other_learners(hub_link):
    Sandbox("mdsbx1", INDICES[0]).create(Limits(pids=10))  # and forgotten, as by a hub that was killed
    other = Sandbox("mdsbx2", INDICES[1]).create(Limits())
    try:
        assert sorted(sweep(("mdsbx1",))) == ["cgroup classroom-mdsbx1", "netns mdclass-mdsbx1"]
        assert sorted(mine()) == sorted(["netns mdclass-mdsbx2", f"link {other.host_link}", "cgroup classroom-mdsbx2"])
    finally:
        other.destroy()
    assert mine() == [] and sweep(("mdsbx1", "mdsbx2")) == []


# -- two learners running rootless minidock -------------------------------------------------------


@pytest.fixture(scope="module")
def class_of_two(readable_package):
    """Users mdsbx1 and mdsbx2 with busybox in their own stores; removed after, even on failure."""
    if not os.path.exists(PYTHON):
        pytest.skip("needs Debian's python3 with python3-tqdm and python3-pyroute2 (make setup)")
    for name in NAMES:
        learners.remove(name)  # a run killed before its finalizer
    made = []
    try:
        for name in NAMES:
            made.append(learners.create(name))
        runners = [Runner(learner, readable_package) for learner in made]
        for runner in runners:
            runner.minidock("bootstrap", "busybox")
        runners[1].run("touch", "/tmp/mdsbx2-scratch")  # userdel leaves it; learners.remove must not
        assert os.stat("/tmp/mdsbx2-scratch").st_uid == made[1].uid
        yield runners
    finally:
        for sandbox in [Sandbox(name, index) for name, index in zip(NAMES, INDICES)]:
            sandbox.destroy()
        for name in NAMES:
            learners.remove(name)
    assert mine() == [] and not any(os.path.exists(f"/home/{n}") for n in NAMES)
    assert not os.path.exists("/tmp/mdsbx2-scratch")


class Runner:
    """Runs programs as one learner, inside their sandbox when there is one (as a hub's spawner would)."""

    def __init__(self, learner: learners.Learner, package):
        self.learner, self.package, self.sandbox = learner, package, None

    def _start(self):
        if self.sandbox is not None:
            self.sandbox.enter()
        self.learner.become()

    def popen(self, *argv: str) -> subprocess.Popen:
        env = self.learner.environment() | {"PYTHONPATH": str(self.package), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        return subprocess.Popen(argv, env=env, cwd=self.learner.home, preexec_fn=self._start, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = self.popen(*argv)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def minidock(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = self.run(PYTHON, "-m", "minidock", *args)
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.learner.name}: minidock {' '.join(args)} failed ({proc.returncode}): "
                                 f"{proc.stderr}")
        return proc

    def connect(self, host: str, port: int, request: bytes = b"") -> str:
        """From inside the sandbox: what a TCP client gets at host:port (the reply, or the error)."""
        probe = ("import socket, sys\n"
                 "try:\n"
                 "    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)\n"
                 "    s.sendall(sys.argv[3].encode()); s.shutdown(socket.SHUT_WR)\n"
                 "    print(b''.join(iter(lambda: s.recv(4096), b'')).decode(errors='replace'))\n"
                 "except OSError as e:\n"
                 "    print(type(e).__name__, e.strerror or e)\n")
        return self.run(PYTHON, "-c", probe, host, str(port), request.decode()).stdout


@pytest.fixture
def sandboxes(class_of_two, hub_link):
    """Puts each runner in a sandbox of its own (limits set per test with ``put``); destroyed after."""
    made = []

    def put(runner: Runner, index: int, limits: Limits = Limits()) -> Sandbox:
        runner.sandbox = Sandbox(runner.learner.name, index).create(limits)
        made.append(runner.sandbox)
        return runner.sandbox

    yield put
    for sandbox in made:
        sandbox.destroy()
    for runner in class_of_two:
        runner.sandbox = None
    assert mine() == []


@pytest.fixture
def hub_service(hub_link):
    """A TCP server on HUB_ADDRESS that answers every connection with "hub"."""
    hub_interface_up()
    server = socket.create_server((HUB_ADDRESS, 0))
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"hub")
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


HOLD_THE_PIDS_LIMIT = """
import os, sys, time
forked, refused, end = 0, 0, time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:  # fork until refused, and keep trying: every task sleeps until the end
    try:
        pid = os.fork()
    except BlockingIOError:  # EAGAIN: the cgroup's pids.max
        refused += 1
        time.sleep(0.02)
        continue
    if pid == 0:
        time.sleep(max(0, end - time.monotonic()))
        os._exit(0)
    forked += 1
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
print(forked, refused)
"""


def one_line_refusal(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode != 0 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.root
def test_learners_cannot_see_touch_or_reach_each_other_s_containers(class_of_two, sandboxes, hub_service):
    a, b = class_of_two
    sandboxes(a, INDICES[0], Limits(memory=512 * MiB))
    sandboxes(b, INDICES[1], Limits(memory=512 * MiB))
    port = 18080
    a.minidock("tag", "busybox", "mdsbx1-secret:1")
    cid = a.minidock("run", "-d", "--name", "web", "-h", "learner-a-web", "-p", f"127.0.0.1:{port}:8080",
                     "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc").stdout.strip()
    get = b"GET /hostname HTTP/1.0\r\n\r\n"
    for _ in range(50):  # httpd needs a moment to listen
        answer = a.connect("127.0.0.1", port, get)
        if "learner-a-web" in answer:
            break
        time.sleep(0.1)
    assert "learner-a-web" in answer
    # the hub (this process, on the host) reaches a server on A's address, as its proxy reaches A's Jupyter
    server = a.popen(PYTHON, "-m", "http.server", "--bind", a.sandbox.address, "--directory", "/etc", str(port))
    try:
        assert fetched(f"http://{a.sandbox.address}:{port}/hostname") == open("/etc/hostname", "rb").read()
        assert b.connect(a.sandbox.address, port, get).startswith("OSError Network is unreachable")
    finally:
        server.kill()
        server.wait()
    # B, from its own sandbox: the same port number is nobody there, A's address no route at all
    assert b.connect("127.0.0.1", port, get).startswith("ConnectionRefusedError")
    assert b.connect(a.sandbox.address, port, get).startswith("OSError Network is unreachable")
    assert a.connect(b.sandbox.address, 22).startswith("OSError Network is unreachable")
    assert b.connect("8.8.8.8", 53).startswith("OSError Network is unreachable")
    # both reach the hub
    assert a.connect(HUB_ADDRESS, hub_service) == b.connect(HUB_ADDRESS, hub_service) == "hub\n"
    # B's minidock knows nothing of A's containers or images ...
    assert cid[:12] not in b.minidock("ps", "-a", "--no-trunc").stdout and "web" not in b.minidock("ps", "-a").stdout
    assert "mdsbx1-secret" not in b.minidock("images").stdout and "mdsbx1-secret" in a.minidock("images").stdout
    for verb in (["inspect"], ["stop"], ["rm", "-f"], ["exec"], ["logs"]):
        proc = b.minidock(*verb, cid, *(["true"] if verb == ["exec"] else []), check=False)
        assert one_line_refusal(proc) and f"No such {'object' if verb == ['inspect'] else 'container'}: {cid}" \
            in proc.stderr, (verb, proc.stderr)  # docker's words
    assert a.minidock("inspect", "--format", "{{.State.Running}}", cid).stdout.strip() == "true"
    # ... nor enter or signal it behind minidock's back: its namespaces are owned by A's user namespace
    pid = a.minidock("inspect", "--format", "{{.State.Pid}}", cid).stdout.strip()
    for argv in (["nsenter", "-t", pid, "-U", "-n", "--preserve-credentials", "true"], ["kill", "-9", pid]):
        proc = b.run(*argv)
        assert proc.returncode != 0 and any(words in proc.stderr for words in (
            "Operation not permitted", "Permission denied", "No such file or directory")), (argv, proc.stderr)
    # ... nor even see it: each learner's /proc shows their own processes only (hidepid=invisible)
    assert pid in a.run("ls", "/proc").stdout.split()
    seen = b.run("ls", "/proc").stdout.split()
    assert pid not in seen and "1" not in seen and str(os.getpid()) not in seen
    owners = b.run(PYTHON, "-c", "import os; print({os.stat(f'/proc/{p}').st_uid for p in os.listdir('/proc') "
                   "if p.isdigit()})").stdout.strip()
    assert owners == str({b.learner.uid}), owners
    # ... and cannot read A's store, nor A's home
    store = a.learner.home / ".local/share/minidock"
    assert store.is_dir()
    for path in (store, a.learner.home):
        listing = b.run("ls", str(path))
        assert listing.returncode != 0 and "Permission denied" in listing.stderr
    a.minidock("rm", "-f", "web")


@pytest.mark.root
def test_a_learner_s_memory_hog_pids_and_cpu_stay_inside_their_own_limits(class_of_two, sandboxes):
    a, b = class_of_two
    box = sandboxes(a, INDICES[0], Limits(memory=256 * MiB, pids=64, cpus=0.5))
    b_box = sandboxes(b, INDICES[1], Limits(memory=512 * MiB))
    chapter = "for i in 1 2 3; do echo step $i; done; echo done"
    b_runs = [b.popen(PYTHON, "-m", "minidock", "run", "--rm", "busybox", "sh", "-c", chapter) for _ in range(2)]
    # memory: 400 MB through dd's buffer in a 256 MiB cgroup
    hog = a.minidock("run", "--rm", "busybox", "sh", "-c", "dd if=/dev/zero of=/dev/null bs=400M count=1; echo dd=$?",
                     check=False)
    assert hog.returncode == 137 or "dd=137" in hog.stdout or "Killed" in hog.stdout + hog.stderr, hog
    usage = box.usage()
    assert usage["oom_kills"] >= 1 and usage["memory_peak"] <= 256 * MiB
    for run in b_runs:  # B's chapter ran meanwhile, to the end
        out, err = run.communicate(timeout=60)
        assert (run.returncode, out) == (0, "step 1\nstep 2\nstep 3\ndone\n"), err
    # pids: a container's fork loop stops at A's 64 tasks (busybox sh gives up at the first refusal) ...
    bomb = a.minidock("run", "--rm", "busybox", "sh", "-c", "for i in $(seq 100); do sleep 5 & done; wait", check=False)
    assert bomb.returncode != 0 and "can't fork" in bomb.stderr, bomb
    # ... and a loop that keeps A at its limit does not keep B from starting containers meanwhile
    holder = a.popen(PYTHON, "-c", HOLD_THE_PIDS_LIMIT, "6")
    deadline = time.monotonic() + 10
    while box.usage()["pids"] < 64 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert box.usage()["pids"] == 64
    assert b.minidock("run", "--rm", "busybox", "echo", "B runs").stdout == "B runs\n"
    assert box.usage()["pids"] == 64  # A is still at its limit
    forked, refused = map(int, holder.communicate(timeout=30)[0].split())
    assert forked < 64 and refused > 0
    # cpu: two busy loops each in A and in B (no cpu limit), at the same time: A's get half a CPU between
    # them at most.  Where B's show the machine had more to give (other work may take it: a shared CI
    # machine), A's were held back by the kernel (cpu.stat's nr_throttled: the CFS quota ran out).
    spins = [learner.popen(PYTHON, "-c", "while True: pass") for learner in (a, b, a, b)]
    try:
        time.sleep(0.5)
        before = [(box.usage()["cpu_ns"], b_box.usage()["cpu_ns"]), throttled_periods(box), time.monotonic()]
        time.sleep(2)
        seconds = time.monotonic() - before[2]
        a_share, b_share = ((box.usage()["cpu_ns"] - before[0][0]) / 1e9 / seconds,
                            (b_box.usage()["cpu_ns"] - before[0][1]) / 1e9 / seconds)
        throttled = throttled_periods(box) - before[1]
    finally:
        for spin in spins:
            spin.kill()
            spin.wait()
    assert 0.02 < a_share < 0.75, (a_share, b_share)
    if b_share > 0.75:
        assert throttled >= 1 and a_share < b_share, (a_share, b_share, throttled)


def throttled_periods(box: Sandbox) -> int:
    from minidock.runtime.cgroups import Cgroup
    stat = (Cgroup.open(box.cgroup).dir("cpu") / "cpu.stat").read_text().split()
    return int(stat[stat.index("nr_throttled") + 1])


@pytest.mark.root
def test_a_learner_cannot_squat_another_s_daemon_socket_directory(class_of_two):
    """Without XDG_RUNTIME_DIR a rootless daemon listens in /tmp/minidock-UID: made first by another
    learner, it would let them swap the socket for their own, so the daemon refuses it."""
    a, b = class_of_two
    squatted = f"/tmp/minidock-{a.learner.uid}"
    assert b.run("mkdir", "-m", "777", squatted).returncode == 0
    try:
        proc = a.run(PYTHON, "-m", "minidock", "daemon", timeout=30)
        assert one_line_refusal(proc) and f"{squatted} belongs to another user (uid {b.learner.uid})" in proc.stderr, \
            proc.stderr
        assert not os.path.exists(f"{squatted}/minidock/docker.sock")
    finally:
        subprocess.run(["rm", "-rf", squatted], check=True)
