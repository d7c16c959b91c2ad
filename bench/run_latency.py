"""Benchmark: the latency of ``minidock run --rm busybox true`` against podman and runc.

    .venv/bin/python bench/run_latency.py              # 20 runs of each, about 1 minute
    .venv/bin/python bench/run_latency.py --runs 3     # a quick smoke run

Everything happens in one run on one machine (timings on a shared machine drift
between runs, so only ratios measured side by side mean anything).  The same
busybox rootfs is run by six contenders, RUNS times each, the order rotated
every round so none always goes first:

* ``minidock run --rm busybox true``                  the CLI, default network (bridge)
* ``minidock run --rm --network none busybox true``   the CLI, no network
* ``podman run --rm --network=none --pull=never docker.io/library/busybox:latest true``
* ``runc run -b BUNDLE ID``                           the bare runtime, process ``true``
* ``client.containers.run("busybox", "true", remove=True)``   minidock's Python API,
  in this very process (no interpreter start-up, no imports), default network
* the same API call with ``network_mode="none"``       (shown, no target)

podman gets busybox by ``podman load`` of ``minidock save busybox`` (the image
IDs are checked to be equal); runc's bundle is ``skopeo copy
docker-archive:... oci:DIR:latest`` + ``umoci unpack``, with ``terminal``
false and ``args ["true"]``.  umoci's config keeps its own network namespace
(an empty one, like ``--network=none``), pid/ipc/uts/mount namespaces, and no
cgroup limits.

Times are wall-clock times of the whole command (for minidock's CLI that
includes starting Python and its imports; its bytecode is cached in the temp
dir, as an installed package's would be), each started after an untimed ``sync``.  One
untimed warm-up run of each contender comes first.  A run that fails (exit
status not 0, or an exception from the API) is counted, printed, and left out
of the median; any failed minidock run is itself a NOT MET.

The targets (issue 12): the CLI's median with ``--network none`` at most 0.8x
podman's with ``--network=none``; the CLI's with the bridge at most 1.0x
podman's with its default network -- measured here against podman with
``--network=none``, the stricter bound (podman's default network only adds
to its time, and setting it up here would change the host's bridges and
firewall); the API call's median at most 2x runc's.  The exit status is 0
only if all are met.

Isolation: minidock uses a store in a temp dir and a bridge of its own
(``MINIDOCK_BRIDGE``) on a /24 that overlaps no host route (``MINIDOCK_SUBNET``);
its address pool in the temp dir (``MINIDOCK_RUN``); podman its own
``--root``/``--runroot``/``--tmpdir`` there; runc its own ``--root``.  Everything is removed at the end: containers, podman's storage,
the bundle, the bridge, and cgroups left by runs of ours.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import common
from common import mounts_under, verdict

REPO = Path(__file__).resolve().parent.parent
CONTAINERS_CONF = REPO / "tests" / "peers" / "containers.conf"
PODMAN_IMAGE = "docker.io/library/busybox:latest"
CLI_TARGET = 0.8          # minidock CLI (--network none) median / podman (--network=none) median
CLI_BRIDGE_TARGET = 1.0   # minidock CLI (bridge) median / podman median (see the docstring)
API_TARGET = 2.0   # minidock API median / runc median
PEERS = ("podman", "runc")


@dataclass
class Series:
    """The runs of one contender: seconds of the good ones, and what failed."""
    label: str
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def minidock_argv() -> list[str]:
    """The venv's ``minidock`` entry point, as a user runs it (else ``python -m minidock``)."""
    script = Path(sys.executable).parent / "minidock"
    return [str(script)] if script.exists() else [sys.executable, "-m", "minidock"]


def cli_env(work: Path) -> dict:
    """The environment of minidock's CLI: ours, with a private bytecode cache.

    An installed minidock has its modules compiled once; this checkout may not
    (its ``__pycache__`` goes stale while people edit, and PYTHONDONTWRITEBYTECODE
    may be set), and then every command would compile them again, ~70 ms.
    PYTHONPYCACHEPREFIX in the temp dir lets the untimed first commands compile
    them there, without writing into the checkout.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def run_quiet(argv: list[str], env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Set-up and clean-up commands (never timed)."""
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def timed_command(argv: list[str], env: dict | None = None) -> tuple[float, str | None]:
    """Wall time of ``argv`` after an untimed ``sync``; the failure text, or None if it succeeded."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return seconds, f"exit {proc.returncode}: {proc.stderr.decode(errors='replace').strip()[-500:]}"
    return seconds, None


def store_holders(root: Path) -> list[int]:
    """PIDs of the other processes that hold a file of the store open (minidock's shims)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue  # it ended while we looked
        if any(link.startswith(str(root)) for link in links):
            found.append(int(pid))
    return found


def settle(root: Path, timeout: float = 10) -> None:
    """Untimed: wait until minidock's shims are gone.

    A shim reports the exit code before it takes an idle bridge down (the
    kernel needs ~40 ms to delete a bridge); that tail must not overlap the
    next contender's run and slow it.
    """
    deadline = time.monotonic() + timeout
    while store_holders(root) and time.monotonic() < deadline:
        time.sleep(0.005)


def timed_call(fn) -> tuple[float, str | None]:
    """Wall time of ``fn()`` in this process, after an untimed ``sync``."""
    os.sync()
    start = time.perf_counter()
    try:
        fn()
    except Exception as e:  # noqa: BLE001 -- a failed run is reported, not raised
        return time.perf_counter() - start, f"{type(e).__name__}: {e}"
    return time.perf_counter() - start, None


def private_subnet() -> str:
    """A /24 for our own bridge that overlaps no route on the host (as tests/test_network.py picks)."""
    from minidock.errors import APIError
    from minidock.runtime import network
    for k in range(256):
        candidate = ipaddress.IPv4Network(f"10.199.{(os.getpid() + k) % 256}.0/24")
        try:
            network.check_overlap(candidate)
            return str(candidate)
        except APIError:
            continue
    raise SystemExit("no free 10.199.x.0/24 for the benchmark's bridge")


class Bench:
    """The temp dir, the three tools on private state, and the contenders."""

    def __init__(self, work: Path):
        self.work = work
        self.tag = f"{os.getpid() % 100000}"
        self.md_root = work / "minidock"
        # our own store and bridge (its subnet is chosen in setup): others keep theirs (minidock0)
        os.environ["MINIDOCK_ROOT"] = str(self.md_root)
        os.environ["MINIDOCK_BRIDGE"] = f"mdbench{self.tag}"[:15]
        os.environ["MINIDOCK_RUN"] = str(work / "run")  # the bridge's address pool: gone with the temp dir
        self.podman = ["podman", f"--root={work / 'podman' / 'root'}", f"--runroot={work / 'podman' / 'run'}",
                       f"--tmpdir={work / 'podman' / 'tmp'}"]
        self.podman_env = os.environ | {"CONTAINERS_CONF": str(CONTAINERS_CONF)}
        self.runc = ["runc", "--root", str(work / "runc-state")]
        self.bundle = work / "bundle"
        self.cidfiles: list[Path] = []
        self.runc_ids: list[str] = []
        self.client = None
        self.counter = 0

    # -- set-up -------------------------------------------------------------

    def setup(self) -> None:
        os.environ["MINIDOCK_SUBNET"] = private_subnet()
        self.md_env = cli_env(self.work)
        md = minidock_argv()
        run_quiet(md + ["bootstrap", "busybox"], self.md_env)
        archive = self.work / "busybox.tar"
        run_quiet(md + ["save", "-o", str(archive), "busybox"], self.md_env)
        run_quiet(self.podman + ["load", "-q", "-i", str(archive)], self.podman_env)
        md_id = run_quiet(md + ["inspect", "--format", "{{.Id}}", "busybox"], self.md_env).stdout.strip()
        p_id = run_quiet(self.podman + ["inspect", "--format", "{{.Id}}", PODMAN_IMAGE], self.podman_env).stdout.strip()
        assert md_id.split(":")[-1] == p_id, f"image IDs differ: minidock {md_id}, podman {p_id}"
        oci = self.work / "oci"
        run_quiet(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{oci}:latest"])
        run_quiet(["umoci", "unpack", "--image", f"{oci}:latest", str(self.bundle)])
        spec_path = self.bundle / "config.json"
        spec = json.loads(spec_path.read_text())
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["true"]
        spec_path.write_text(json.dumps(spec, indent=1))
        from minidock.api.client import Client
        self.client = Client(self.md_root)
        print(f"busybox {md_id[:19]} in minidock, podman and a runc bundle; "
              f"minidock bridge {os.environ['MINIDOCK_BRIDGE']} on {os.environ['MINIDOCK_SUBNET']}", flush=True)

    # -- the contenders ---------------------------------------------------------

    def contenders(self) -> dict[str, callable]:
        md = minidock_argv()
        return {
            "minidock CLI (bridge)": self.settled(lambda: timed_command(md + ["run", "--rm", "busybox", "true"],
                                                                       self.md_env)),
            "minidock CLI (--network none)": self.settled(lambda: timed_command(
                md + ["run", "--rm", "--network", "none", "busybox", "true"], self.md_env)),
            "podman": self.podman_run,
            "runc": self.runc_run,
            "minidock API (bridge)": self.settled(lambda: timed_call(
                lambda: self.client.containers.run("busybox", "true", remove=True))),
            "minidock API (network none)": self.settled(lambda: timed_call(
                lambda: self.client.containers.run("busybox", "true", remove=True, network_mode="none"))),
        }

    def settled(self, run):
        """``run``, then (untimed) wait for minidock's shims to finish: see ``settle``."""
        def run_then_settle():
            result = run()
            settle(self.md_root)
            return result
        return run_then_settle

    def podman_run(self) -> tuple[float, str | None]:
        # --cidfile only so that clean-up can find any cgroup a failed run leaves behind
        self.counter += 1
        cidfile = self.work / f"podman-{self.counter}.cid"
        self.cidfiles.append(cidfile)
        return timed_command(self.podman + ["run", "--rm", "--pull=never", "--network=none",
                                            f"--cidfile={cidfile}", PODMAN_IMAGE, "true"], self.podman_env)

    def runc_run(self) -> tuple[float, str | None]:
        self.counter += 1
        cid = f"mdbench-{self.tag}-{self.counter}"
        self.runc_ids.append(cid)
        return timed_command(self.runc + ["run", "-b", str(self.bundle), cid])

    # -- clean-up -------------------------------------------------------------

    def leftover_minidock(self) -> list[str]:
        if self.client is None:
            return []
        return self.client.containers.containers.ids()

    def cleanup(self) -> None:
        """Remove everything of ours; keep going past errors, and say what could not be removed."""
        problems = []

        def attempt(what, fn):
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                problems.append(f"{what}: {e}")

        if self.client is not None:
            c = self.client.containers.containers
            for cid in c.ids():
                attempt(f"minidock rm {cid[:12]}", lambda cid=cid: c.remove(cid, force=True))
        def remove_bridge():   # MINIDOCK_BRIDGE: ours only
            from minidock.runtime import network
            network.remove_bridge()
        attempt("bridge", remove_bridge)
        if (self.work / "podman").exists():
            run_quiet(self.podman + ["rm", "-af"], self.podman_env, check=False)
            run_quiet(self.podman + ["rmi", "-af"], self.podman_env, check=False)
            run_quiet(self.podman + ["system", "reset", "-f"], self.podman_env, check=False)
        for cid in self.runc_ids:
            run_quiet(self.runc + ["delete", "-f", cid], check=False)
        ids = [f.read_text().strip() for f in self.cidfiles if f.exists()]
        for group in Path("/sys/fs/cgroup").glob("*/"):
            for name in [f"libpod_parent/libpod-{i}" for i in ids if i] + self.runc_ids:
                if (group / name).is_dir():
                    attempt(f"rmdir {group / name}", lambda p=group / name: os.rmdir(p))
        for mount in reversed(mounts_under(self.work)):
            run_quiet(["umount", "-l", mount], check=False)
        shutil.rmtree(self.work, ignore_errors=True)
        if self.work.exists():
            problems.append(f"{self.work} could not be removed")
        for p in problems:
            print(f"clean-up: {p}", file=sys.stderr)



def bench(b: Bench, runs: int) -> dict[str, Series]:
    contenders = b.contenders()
    names = list(contenders)
    for name in names:   # warm-up: first-time costs (page cache, podman's storage) are not measured
        _, error = contenders[name]()
        if error:
            print(f"warm-up of {name} failed: {error}", flush=True)
    series = {name: Series(name) for name in names}
    for n in range(runs):
        order = names[n % len(names):] + names[:n % len(names)]   # rotate: each goes first in turn
        for name in order:
            seconds, error = contenders[name]()
            if error:
                series[name].failures.append(f"run {n + 1}: {error}")
            else:
                series[name].seconds.append(seconds)
        if (n + 1) % 5 == 0 or n + 1 == runs:
            print(f"round {n + 1}/{runs} done", flush=True)
    return series


def fmt(x: float | None, spec: str = ".1f", scale: float = 1000) -> str:
    return "-" if x is None else f"{x * scale:{spec}}"


def report(series: dict[str, Series], runs: int, leftovers: list[str]) -> bool:
    """Print the table and the targets; return whether every target is met."""
    podman, runc = series["podman"].median(), series["runc"].median()
    print()
    print(f"{'(ms)':<31}{'median':>8}{'min':>8}{'max':>8}{'ok':>7}{'/podman':>9}{'/runc':>8}")
    for s in series.values():
        m = s.median()
        ratio = lambda peer: "-" if m is None or peer is None else f"{m / peer:.2f}"  # noqa: E731
        print(f"{s.label:<31}{fmt(m):>8}{fmt(min(s.seconds, default=None)):>8}"
              f"{fmt(max(s.seconds, default=None)):>8}{f'{len(s.seconds)}/{runs}':>7}"
              f"{ratio(podman):>9}{ratio(runc):>8}")
    print()
    for s in series.values():
        print(f"  {s.label} runs (ms): " + " ".join(f"{x * 1000:.0f}" for x in s.seconds))
    failed = [(s.label, f) for s in series.values() for f in s.failures]
    if failed:
        print()
        for label, text in failed:
            print(f"  FAILED  {label}, {text}")

    def target(label: str, peer: str, bound: float) -> tuple[str, bool]:
        m, p = series[label].median(), series[peer].median()
        if m is None or p is None:
            return f"{label} / {peer}: no successful runs to compare", False
        return f"{label} {m * 1000:.1f} ms / {peer} {p * 1000:.1f} ms = {m / p:.2f} <= {bound}", m / p <= bound

    md_failures = sum(len(s.failures) for s in series.values() if s.label.startswith("minidock"))
    targets = [target("minidock CLI (bridge)", "podman", CLI_BRIDGE_TARGET),
               target("minidock CLI (--network none)", "podman", CLI_TARGET),
               target("minidock API (bridge)", "runc", API_TARGET),
               (f"every minidock run succeeded ({md_failures} of {4 * runs} failed)", md_failures == 0),
               (f"no minidock container left behind by --rm / remove=True ({len(leftovers)} left)",
                not leftovers)]
    return verdict(targets)


def run(work: Path, args) -> bool:
    sys.path.insert(0, str(REPO))
    b = Bench(work)
    try:
        b.setup()
        series = bench(b, args.runs)
        return report(series, args.runs, b.leftover_minidock())
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(common.main(__doc__, run, [
        (("--runs",), {"type": int, "default": 20, "help": "timed runs of each contender (default 20)"})],
        root="minidock's containers, podman and runc all run as root here", tools=("podman", "runc", "skopeo", "umoci"),
        tmp=("minidock-bench-run-", None)))
