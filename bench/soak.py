"""Soak: 8 docker-py clients for 10 minutes of mixed calls against one ``minidock daemon``.

    .venv/bin/python bench/soak.py                  # 10 minutes, as root
    .venv/bin/python bench/soak.py --minutes 0.5    # a quick smoke run

One daemon on a socket and a store in the temp dir (busybox bootstrapped there), a registry
(``minidock registry serve``'s server, on 127.0.0.1) for the pushes and pulls, and 8 docker-py clients,
each with a ``cat`` container of its own, calling at random (weights in ``CALLS``): run and remove a
``--network none`` busybox, ps, inspect, logs, exec, images, a build of a tiny context (its RUN a
container), a push and a pull, an attach, and a client that hangs up on ``logs -f``.

Every few seconds the daemon's RSS, open files and threads are sampled. At the end, once the clients'
containers are removed: RSS at the start (after one warm-up round of every call), its peak and its end;
files and threads before and after; and what must not be left: mounts under the store, cgroups and
processes of the daemon's containers (found by their IDs, from the store's event journal), veths on the
daemon's bridge, children of the daemon. Targets: no call failed, RSS at the end at most 1.5x its start
(and under 100 MB), and after the first minute its second half's peak at most 10% above its first
half's; files and threads back to their count; nothing left, and no traceback in the daemon's log.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import socket
import sys
import tarfile
import threading
import time
from collections import Counter
from pathlib import Path

import common
from common import mounts_under, verdict
from daemon import MinidockDaemon

CLIENTS = 8
SAMPLE_EVERY = 5.0          # seconds between samples of the daemon
RSS_GROWTH = 1.5            # the end's RSS / the start's, at most
RSS_LIMIT = 100 << 20
STABLE = 1.1                # the second half's peak RSS / the first half's, at most
# each call's weight: the cheap ones often, the heavy ones (a build, a push and a pull) now and then
CALLS = {"run": 6, "ps": 6, "inspect": 6, "logs": 5, "exec": 5, "images": 5, "attach": 3,
         "build": 1, "push_pull": 1, "logs_hang_up": 2}


class Soaker:
    """One client: a docker-py client, a ``cat`` container of its own, and the calls."""

    def __init__(self, n: int, sock: Path, registry: str):
        import docker
        self.n, self.sock, self.registry = n, sock, registry
        self.client = docker.DockerClient(base_url=f"unix://{sock}", timeout=120)
        self.api = self.client.api
        self.own = self.client.containers.run("busybox", ["cat"], detach=True, stdin_open=True,
                                              network_mode="none", name=f"soak-{n}")
        self.calls: Counter = Counter()
        self.errors: list[str] = []

    def call(self, name: str) -> None:
        try:
            getattr(self, name)()
            self.calls[name] += 1
        except Exception as e:   # counted and shown: any error fails the soak
            self.errors.append(f"client {self.n} {name}: {type(e).__name__}: {e}"[:300])

    def run(self) -> None:
        out = self.client.containers.run("busybox", ["echo", "soak"], remove=True, network_mode="none")
        assert out == b"soak\n", out

    def ps(self) -> None:
        # docker-py inspects each container listed: one another client removes meanwhile is skipped, not a 404
        assert any(c.name == f"soak-{self.n}" for c in self.client.containers.list(ignore_removed=True))

    def inspect(self) -> None:
        assert self.api.inspect_container(self.own.id)["State"]["Running"]
        assert self.api.inspect_image("busybox")["Id"].startswith("sha256:")

    def logs(self) -> None:
        self.own.logs(tail=10)

    def exec(self) -> None:
        result = self.own.exec_run(["echo", "in", str(self.n)])
        assert (result.exit_code, result.output) == (0, f"in {self.n}\n".encode()), result

    def images(self) -> None:
        # the API's list, not docker-py's images.list(): that inspects each image listed, and an image
        # another client's build removes in between is a 404 (against dockerd too)
        assert any("busybox:latest" in (i["RepoTags"] or []) for i in self.api.images())

    def attach(self) -> None:
        """Attach before the start (as ``docker run`` does), read to the end, remove."""
        cid = self.api.create_container("busybox", ["echo", "attached"], host_config=self.api.create_host_config(
            network_mode="none"))["Id"]
        try:
            sock = self.api.attach_socket(cid, params={"stdout": 1, "stream": 1})
            self.api.start(cid)
            got = b""
            while chunk := sock._sock.recv(4096):
                got += chunk
            sock.close()
            assert b"attached" in got, got
            assert self.api.wait(cid)["StatusCode"] == 0
        finally:
            self.api.remove_container(cid, force=True)

    def build(self) -> None:
        tag = f"soak-build-{self.n}:latest"
        image, _ = self.client.images.build(fileobj=_context(self.n), custom_context=True, tag=tag, rm=True,
                                            nocache=True, network_mode="none")
        assert self.client.containers.run(tag, remove=True, network_mode="none") == f"built {self.n}\n".encode()
        self.client.images.remove(tag)

    def push_pull(self) -> None:
        name = f"{self.registry}/soak/c{self.n}"
        self.client.images.get("busybox").tag(name, "latest")
        for line in self.api.push(name, "latest", stream=True, decode=True):
            assert "error" not in line, line
        self.client.images.remove(f"{name}:latest")
        self.client.images.pull(name, tag="latest")
        self.client.images.remove(f"{name}:latest")

    def logs_hang_up(self) -> None:
        """A client that follows the logs, reads the head and goes without a word (a reset)."""
        with socket.socket(socket.AF_UNIX) as raw:
            raw.settimeout(30)
            raw.connect(str(self.sock))
            raw.sendall(f"GET /v1.41/containers/{self.own.id}/logs?follow=1&stdout=1 HTTP/1.1\r\n"
                        "Host: docker\r\n\r\n".encode())
            got = b""
            while b"\r\n\r\n" not in got:
                got += raw.recv(4096)

    def close(self) -> None:
        try:
            self.own.remove(force=True)
        finally:
            self.client.close()


def _context(n: int) -> io.BytesIO:
    text = f'FROM busybox\nRUN echo "built {n}" > /built\nCMD ["cat", "/built"]\n'.encode()
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    data.seek(0)
    return data


# -- what the daemon holds --------------------------------------------------------------

def sample(pid: int) -> tuple[int, int, int]:
    """(RSS bytes, open files, threads) of the process."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return (int(status["VmRSS"].split()[0]) * 1024, len(os.listdir(f"/proc/{pid}/fd")), int(status["Threads"]))


def settle(pid: int, within: float = 60) -> tuple[int, int, int]:
    """The daemon's figures once its files and threads stay the same for 3 s."""
    deadline, last, since = time.monotonic() + within, None, time.monotonic()
    while time.monotonic() < deadline:
        now = sample(pid)
        if last is None or now[1:] != last[1:]:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > 3:
            break
        time.sleep(0.2)
    return sample(pid)


def container_ids(store: Path) -> set[str]:
    """Every container the store's event journal saw created."""
    ids = set()
    for journal in sorted(store.glob("events.jsonl*")):
        for line in journal.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("Type") == "container" and event.get("Action") == "create":
                ids.add(event["Actor"]["ID"])
    return ids


def leftovers(d: MinidockDaemon, ids: set[str]) -> dict[str, list[str]]:
    """What the daemon's containers left behind, by kind."""
    short = {cid[:12] for cid in ids} | ids
    cgroups = [str(p) for top in Path("/sys/fs/cgroup").iterdir() if top.is_dir()
               for parent in _minidock_dirs(top) for p in parent.iterdir() if p.is_dir() and p.name in short]
    store = str(d.dir / "store")
    processes = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != d.proc.pid:
            try:
                environ = (proc / "environ").read_bytes().split(b"\0")
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if f"MINIDOCK_ROOT={store}".encode() in environ or ppid == d.proc.pid:
                processes.append(f"{proc.name} {stat.split(' (')[1].split(')')[0]}")
    bridge = d.env.get("MINIDOCK_BRIDGE", "")
    veths = [n for n in os.listdir("/sys/class/net")
             if os.path.exists(f"/sys/class/net/{n}/master")
             and os.path.basename(os.readlink(f"/sys/class/net/{n}/master")) == bridge]
    return {"mounts": mounts_under(d.dir / "store"), "cgroups": cgroups, "processes": processes, "veths": veths}


def _minidock_dirs(top: Path) -> list[Path]:
    """``minidock/`` cgroup directories in one hierarchy (at the top, or one or two levels down)."""
    found = []
    for depth in range(3):
        for path in top.glob("/".join(["*"] * depth + ["minidock"])):
            if path.is_dir():
                found.append(path)
    return found


# -- the soak -----------------------------------------------------------------------------

def run(work: Path, args) -> bool:
    from minidock.registry.server import RegistryServer
    os.environ["MINIDOCK_BRIDGE"] = f"mdsoak{os.getpid() % 100000}"   # not the course's minidock0
    d = MinidockDaemon(work / "minidock")
    registry = RegistryServer(work / "registry").start()
    soakers: list[Soaker] = []
    try:
        # the warm-up: every call once by each client, which then goes; the daemon's figures with no client
        soakers = [Soaker(n, d.sock, registry.address) for n in range(CLIENTS)]
        for s in soakers:
            for name in CALLS:
                s.call(name)
        warm_errors = [e for s in soakers for e in s.errors]
        for s in soakers:
            s.close()
        start = settle(d.proc.pid)
        print(f"soak: {CLIENTS} docker-py clients for {args.minutes} minutes against minidock daemon "
              f"(pid {d.proc.pid}); after a warm-up round, no client connected: RSS {start[0] / 2**20:.1f} MB, "
              f"{start[1]} files, {start[2]} threads")
        soakers = [Soaker(n, d.sock, registry.address) for n in range(CLIENTS)]
        samples = [(0.0, *start)]
        stop = threading.Event()
        t0 = time.monotonic()

        def loop(s: Soaker, seed: int) -> None:
            rng = random.Random(seed)
            names, weights = list(CALLS), list(CALLS.values())
            while not stop.is_set():
                s.call(rng.choices(names, weights)[0])

        threads = [threading.Thread(target=loop, args=(s, args.seed + s.n)) for s in soakers]
        for t in threads:
            t.start()
        while time.monotonic() - t0 < args.minutes * 60:
            time.sleep(min(SAMPLE_EVERY, max(0.0, args.minutes * 60 - (time.monotonic() - t0))))
            samples.append((time.monotonic() - t0, *sample(d.proc.pid)))
            print(f"  {samples[-1][0]:6.0f} s  RSS {samples[-1][1] / 2**20:6.1f} MB  files {samples[-1][2]:4}  "
                  f"threads {samples[-1][3]:3}", flush=True)
        stop.set()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
        calls = sum((s.calls for s in soakers), Counter())
        errors = warm_errors + [e for s in soakers for e in s.errors]
        for s in soakers:
            s.close()
        soakers = []
        end = settle(d.proc.pid)
        if end[1:] != start[1:]:   # what the daemon's threads are doing: their stacks, into its log
            log = d.dir / "daemon.log"
            size = log.stat().st_size
            os.kill(d.proc.pid, signal.SIGUSR1)
            time.sleep(1)
            print("the daemon's threads (SIGUSR1):\n" + log.read_bytes()[size:].decode(errors="replace"))
        left = leftovers(d, container_ids(d.dir / "store"))
        left["tracebacks in the daemon's log"] = [
            line for line in (d.dir / "daemon.log").read_text(errors="replace").splitlines() if "Traceback" in line]
        return report(start, end, samples, (calls, errors, took), left)
    finally:
        for s in soakers:
            s.close()
        d.stop()
        registry.stop()


def report(start, end, samples, done, left) -> bool:
    """Print the figures and the targets; whether every one is met."""
    calls, errors, took = done
    peak = max(s[1] for s in samples)
    # stable: after the first minute (the heap and the threads' stacks grow to their size), what the second
    # half of the rest reaches, its first half had nearly reached already; a short run is not judged
    steady = [s[1] for s in samples if s[0] >= 60]
    half = len(steady) // 2
    first, second = (max(steady[:half]), max(steady[half:])) if half >= 6 else (0, 0)
    print(f"calls: {sum(calls.values())} in {took:.0f} s ({sum(calls.values()) / took:.1f}/s): "
          + ", ".join(f"{name} {calls[name]}" for name in CALLS) + f"; {len(errors)} errors")
    for e in errors[:10]:
        print(f"    {e}")
    print(f"daemon RSS: start {start[0] / 2**20:.1f} MB, peak {peak / 2**20:.1f} MB, end {end[0] / 2**20:.1f} MB")
    print(f"daemon files: {start[1]} before, {end[1]} after; threads: {start[2]} before, {end[2]} after")
    print("daemon RSS every minute (MB): " + " ".join(f"{s[1] / 2**20:.1f}" for s in samples[::int(60 / SAMPLE_EVERY)]))
    for kind, found in left.items():
        print(f"left behind: {kind}: {len(found)}" + (f" ({', '.join(found[:5])})" if found else ""))
    return verdict([
        (f"{len(errors)} calls failed (target: none)", not errors),
        (f"RSS at the end {end[0] / start[0]:.2f}x the start's (target <= {RSS_GROWTH}), peak "
         f"{peak / 2**20:.1f} MB (target < {RSS_LIMIT >> 20} MB)", end[0] <= RSS_GROWTH * start[0] and peak < RSS_LIMIT),
        (f"RSS stable after the first minute: peak {first / 2**20:.1f} MB in the first half, {second / 2**20:.1f} MB "
         f"in the second (target: at most {STABLE - 1:.0%} more; not judged in a run under two minutes)",
         second <= STABLE * first),
        (f"files {start[1]} -> {end[1]}, threads {start[2]} -> {end[2]} (target: the same)",
         end[1:] == start[1:]),
        (f"nothing left: {sum(len(v) for v in left.values())} mounts, cgroups, processes, veths or tracebacks",
         not any(left.values())),
    ])


if __name__ == "__main__":
    sys.exit(common.main(__doc__, run, [
        (("--minutes",), {"type": float, "default": 10, "help": "how long the clients call (default 10)"}),
        (("--seed",), {"type": int, "default": 1, "help": "seed of the clients' choices"}),
    ], root="namespaces, cgroups and the daemon's containers"))
