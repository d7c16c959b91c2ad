"""Benchmark: ``minidock daemon`` against a private dockerd, driven by the same clients.

    .venv/bin/python bench/daemon.py                               # about 3 minutes
    .venv/bin/python bench/daemon.py --runs 5 --seconds 10 --containers 200   # a quick smoke run

Both daemons run side by side in one run on one machine, each on a socket in the temp dir,
each over a store of its own with busybox:latest (dockerd gets it by ``docker load`` of
``minidock save busybox``: the same image ID). dockerd is Debian's, private as the tests'
(``tests/dockerd.py``: its own data-root, exec-root, socket, pidfile, no iptables, no bridge).

1. **Latency**: Debian's ``docker run --rm --network none busybox true``, RUNS times against
   each daemon, the order alternating; the medians of the wall-clock times. Target: minidock's
   at most 0.5x dockerd's.
2. **Throughput**: 8 docker-py clients at once, each in a loop for SECONDS: create, start, wait
   for and remove a ``true`` container (``--network none``); containers done per second, and
   every error. Target: no error, and at least dockerd's throughput.
3. **Memory**: the daemon process's RSS (``VmRSS``) after 1,000 containers have gone through
   it (those of the phases before count; the rest are run by the 8 clients), its shims apart.
   Target: under 100 MB.

Everything is removed at the end: the containers, both daemons (by PID), dockerd's containerd
and mounts, the temp dir.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import common
from common import verdict

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from dockerd import PrivateDockerd  # noqa: E402  (the tests' private dockerd)

CLI = "/usr/bin/docker"
LATENCY_TARGET = 0.5     # minidock's median / dockerd's
RSS_LIMIT = 100 << 20
CLIENTS = 8


class MinidockDaemon:
    """``minidock daemon`` on a socket in ``where``, over a store there with busybox."""

    def __init__(self, where: Path):
        where.mkdir()
        self.dir, self.sock = where, where / "docker.sock"
        self.env = dict(os.environ, MINIDOCK_ROOT=str(where / "store"), MINIDOCK_RUN=str(where / "run"),
                        DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=str(where / "client"))
        subprocess.run([sys.executable, "-m", "minidock", "bootstrap", "busybox"], env=self.env, check=True,
                       capture_output=True)
        self.log = open(where / "daemon.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "minidock", "daemon", "-H", f"unix://{self.sock}"],
                                     env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("minidock daemon did not start: " + (where / "daemon.log").read_text())
            time.sleep(0.05)

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        subprocess.run([sys.executable, "-m", "minidock", "rm", "-f", *self._all()], env=self.env, capture_output=True)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.log.close()

    def _all(self) -> list[str]:
        return subprocess.run([sys.executable, "-m", "minidock", "ps", "-aq", "--no-trunc"], env=self.env,
                              capture_output=True, text=True).stdout.split()


def latency(daemons: dict, runs: int) -> dict[str, list[float]]:
    """Wall-clock seconds of ``docker run --rm --network none busybox true``, alternating daemons."""
    times: dict[str, list[float]] = {name: [] for name in daemons}
    for name, d in daemons.items():   # one untimed warm-up each
        subprocess.run([CLI, "run", "--rm", "--network", "none", "busybox", "true"], env=d.env, capture_output=True)
    for i in range(runs):
        order = list(daemons) if i % 2 == 0 else list(reversed(daemons))
        for name in order:
            start = time.perf_counter()
            proc = subprocess.run([CLI, "run", "--rm", "--network", "none", "busybox", "true"], env=daemons[name].env,
                                  capture_output=True)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError(f"{name}: docker run failed: {proc.stderr.decode()}")
            times[name].append(elapsed)
    return times


def throughput(env: dict, seconds: float, limit: int | None = None) -> tuple[int, list[str], float]:
    """8 docker-py clients in a loop for ``seconds`` (or until ``limit`` containers): (containers done,
    errors, seconds taken)."""
    import docker
    done, errors, lock = [0], [], threading.Lock()
    deadline = time.monotonic() + seconds

    def client_loop() -> None:
        client = docker.DockerClient(base_url=env["DOCKER_HOST"], timeout=60)
        try:
            while time.monotonic() < deadline and (limit is None or done[0] < limit):
                try:
                    c = client.containers.create("busybox", ["true"], network_mode="none")
                    c.start()
                    code = c.wait()["StatusCode"]
                    c.remove()
                    if code != 0:
                        raise RuntimeError(f"exit code {code}")
                    with lock:
                        done[0] += 1
                except Exception as e:   # counted and shown: any error fails the target
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}")
        finally:
            client.close()

    start = time.monotonic()
    threads = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0], errors, time.monotonic() - start


def run(work: Path, args) -> bool:
    minidock = MinidockDaemon(work / "minidock")
    dockerd = None
    try:
        dockerd = PrivateDockerd(work / "dockerd")
        (work / "dockerd").mkdir()
        dockerd.start()
        archive = work / "busybox.tar"
        subprocess.run([sys.executable, "-m", "minidock", "save", "-o", str(archive), "busybox"], env=minidock.env,
                       check=True)
        loaded = dockerd.docker("load", "-i", str(archive))
        if loaded.returncode != 0:
            raise RuntimeError(f"docker load: {loaded.stderr.decode()}")
        daemons = {"minidock": minidock, "dockerd": dockerd}

        print(f"latency: {CLI} run --rm --network none busybox true, {args.runs} runs each")
        times = latency(daemons, args.runs)
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, m in medians.items():
            print(f"  {name:9} median {m * 1000:7.1f} ms  (min {min(times[name]) * 1000:.1f}, max {max(times[name]) * 1000:.1f})")
        ratio = medians["minidock"] / medians["dockerd"]

        print(f"throughput: {CLIENTS} docker-py clients, create/start/wait/remove for {args.seconds} s")
        rates, errors, counts = {}, {}, {}
        for name in ("dockerd", "minidock"):
            count, errs, took = throughput(daemons[name].env, args.seconds)
            rates[name], errors[name], counts[name] = count / took, errs, count
            print(f"  {name:9} {count:5} containers in {took:.1f} s = {rates[name]:6.1f}/s, {len(errs)} errors")
            for e in errs[:5]:
                print(f"      {e}")

        ran = args.runs + 1 + counts["minidock"] + len(errors["minidock"])
        rest = max(0, args.containers - ran)
        if rest:
            print(f"memory: {rest} more containers through minidock's daemon, to {args.containers}")
            count, errs, _ = throughput(minidock.env, 3600, limit=rest)
            errors["minidock"] += errs
        rss = minidock.rss()
        print(f"  minidock daemon RSS after {args.containers} containers: {rss / (1 << 20):.1f} MB")

        return verdict([
            (f"docker run latency against minidock {ratio:.2f}x dockerd's (target <= {LATENCY_TARGET})",
             ratio <= LATENCY_TARGET),
            (f"8 docker-py clients: minidock {rates['minidock']:.1f}/s, dockerd {rates['dockerd']:.1f}/s, "
             f"{len(errors['minidock'])} errors (target: none, and >= dockerd)",
             not errors["minidock"] and rates["minidock"] >= rates["dockerd"]),
            (f"daemon RSS {rss / (1 << 20):.1f} MB after {args.containers} containers (target < 100 MB)",
             rss < RSS_LIMIT),
        ])
    finally:
        minidock.stop()
        if dockerd is not None:
            dockerd.stop()


if __name__ == "__main__":
    sys.exit(common.main(__doc__, run, [
        (("--runs",), {"type": int, "default": 20, "help": "timed runs of each daemon (default 20)"}),
        (("--seconds",), {"type": float, "default": 30, "help": "seconds of the throughput phase (default 30)"}),
        (("--containers",), {"type": int, "default": 1000, "help": "containers before RSS is read (default 1000)"}),
    ], root="namespaces, cgroups and dockerd", tools=("dockerd", "docker")))
