"""Benchmark: ``minidock commit`` against ``podman commit`` of a container that wrote 10,000 files.

    .venv/bin/python bench/commit.py                      # 10,000 files, 5 commits each
    .venv/bin/python bench/commit.py --files 500 --runs 2 # a quick smoke run

Everything happens in one run on one machine (timings on a shared machine drift
between runs, so only ratios measured side by side mean anything):

1. ``minidock bootstrap busybox`` in a temp store; ``minidock save`` it and
   ``podman load`` the archive, so both tools hold the same image (IDs checked);
2. in each tool, run (``--network none``, not removed) one container of that
   image that makes FILES small files::

       sh -c 'mkdir /data; i=0; while [ $i -lt FILES ]; do echo $i > /data/f$i; i=$((i+1)); done'

   (busybox's shell; untimed).  Each file holds its number and a newline;
3. RUNS times, alternating which tool goes first, commit that same container
   to a new tag (``localhost/bench-commit:N``): ``minidock commit C TAG`` and
   ``podman commit -q C TAG``;
4. check that each tool's last image holds FILES files in /data (untimed),
5. print medians, the ratio minidock/podman and whether the target is met.

Times are wall-clock times of the whole command (``minidock`` is the venv's
entry point: Python's start-up is included; its bytecode is cached in the temp
dir by the untimed set-up commands), each started after an untimed
``sync``, so the previous command's dirty pages are not written out on this
one's clock.  Peak RSS is ``ru_maxrss`` of that one child (``os.wait4``).
The first commit of each tool also extracts the new layer into its store;
later ones find that layer there already (same content, same DiffID), so
the median is that of a re-commit.  The first commit is printed on a row of
its own (no target): look at the single runs, not just the medians.

The target (from the issue): minidock's median <= podman's (ratio <= 1.0).
The exit status is 0 only if it is met and every command succeeded.

podman runs with its own ``--root``/``--runroot``/``--tmpdir`` inside the temp
dir and ``CONTAINERS_CONF=tests/peers/containers.conf``; minidock with
``MINIDOCK_ROOT`` there.  Both containers, all images and the temp dir are
removed at the end.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import common
from common import verdict

REPO = Path(__file__).resolve().parent.parent
CONTAINERS_CONF = REPO / "tests" / "peers" / "containers.conf"
PODMAN_IMAGE = "docker.io/library/busybox:latest"
CONTAINER = "bench-commit"
TARGET = 1.0


@dataclass
class Run:
    """One command's wall time (seconds) and peak resident memory (MB)."""
    seconds: float
    peak_mb: float


def script(files: int) -> str:
    return f"mkdir /data; i=0; while [ $i -lt {files} ]; do echo $i > /data/f$i; i=$((i+1)); done"


class Tool:
    """A CLI on private state: ``argv`` prefix and environment."""

    def __init__(self, name: str, argv: list[str], env: dict):
        self.name, self.argv, self.env = name, argv, env

    def output(self, *args: str) -> str:
        """An untimed command's stdout; stop the benchmark if it fails."""
        proc = subprocess.run(self.argv + list(args), env=self.env, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{self.name} {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout.strip()

    def timed(self, *args: str) -> Run:
        """Run after an untimed ``sync``; a failure stops the benchmark (and is printed)."""
        os.sync()
        start = time.perf_counter()
        proc = subprocess.Popen(self.argv + list(args), env=self.env, cwd=REPO, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.returncode != 0:
            raise SystemExit(f"FAILED: {self.name} {' '.join(args)} ({proc.returncode}, "
                             f"{seconds:.2f} s): {stderr.strip()}")
        return Run(seconds, usage.ru_maxrss / 1024)


def minidock_argv() -> list[str]:
    """The venv's ``minidock`` entry point, as a user runs it (else ``python -m minidock``)."""
    script_path = Path(sys.executable).parent / "minidock"
    return [str(script_path)] if script_path.exists() else [sys.executable, "-m", "minidock"]


def make_tools(work: Path) -> tuple[Tool, Tool]:
    # a private bytecode cache: compiled once by the set-up commands, as an installed
    # package's modules are (this checkout's __pycache__ may be stale, or not written)
    md_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
        "MINIDOCK_ROOT": str(work / "minidock"), "PYTHONPYCACHEPREFIX": str(work / "pycache"),
        "MINIDOCK_BRIDGE": f"mdbc{os.getpid() % 100000}"}  # never touch minidock0
    podman = ["podman", f"--root={work / 'podman' / 'root'}", f"--runroot={work / 'podman' / 'run'}",
              f"--tmpdir={work / 'podman' / 'tmp'}"]
    return (Tool("minidock", minidock_argv(), md_env),
            Tool("podman", podman, os.environ | {"CONTAINERS_CONF": str(CONTAINERS_CONF)}))


def bench(work: Path, minidock: Tool, podman: Tool, args) -> dict[str, list[Run]]:
    minidock.output("bootstrap", "busybox")
    archive = work / "busybox.tar"
    minidock.output("save", "-o", str(archive), "busybox")
    podman.output("load", "-q", "-i", str(archive))
    md_id = minidock.output("inspect", "--format", "{{.Id}}", "busybox")
    assert podman.output("inspect", "--format", "{{.Id}}", PODMAN_IMAGE) == md_id.split(":")[-1], "IDs differ"

    print(f"making {args.files} files in a container of each tool ...", flush=True)
    start = time.perf_counter()
    minidock.output("run", "--name", CONTAINER, "--network", "none", "busybox", "sh", "-c", script(args.files))
    made_md = time.perf_counter() - start
    start = time.perf_counter()
    podman.output("run", "--name", CONTAINER, "--pull=never", "--network=none", PODMAN_IMAGE,
                  "sh", "-c", script(args.files))
    made_p = time.perf_counter() - start
    changes = len(minidock.output("diff", CONTAINER).splitlines())
    p_changes = len(podman.output("diff", CONTAINER).splitlines())
    print(f"  minidock: {made_md:.1f} s, diff {changes} entries; podman: {made_p:.1f} s, "
          f"diff {p_changes} entries (untimed)", flush=True)

    runs: dict[str, list[Run]] = {"minidock": [], "podman": []}
    for n in range(args.runs):
        for tool in ((minidock, podman) if n % 2 == 0 else (podman, minidock)):
            tag = f"localhost/bench-commit:{n + 1}"
            extra = ["-q"] if tool is podman else []
            runs[tool.name].append(tool.timed("commit", *extra, CONTAINER, tag))
        print(f"run {n + 1}/{args.runs} done", flush=True)

    last = f"localhost/bench-commit:{args.runs}"
    count = "ls /data | wc -l"
    got_md = minidock.output("run", "--rm", "--network", "none", last, "sh", "-c", count)
    got_p = podman.output("run", "--rm", "--pull=never", "--network=none", last, "sh", "-c", count)
    print(f"files in /data of the committed image: minidock {got_md}, podman {got_p}", flush=True)
    if got_md != str(args.files) or got_p != str(args.files):
        raise SystemExit(f"FAILED: the committed images should hold {args.files} files in /data")
    return runs


def report(runs: dict[str, list[Run]]) -> bool:
    m = statistics.median(r.seconds for r in runs["minidock"])
    p = statistics.median(r.seconds for r in runs["podman"])
    m_rss = max(r.peak_mb for r in runs["minidock"])
    p_rss = max(r.peak_mb for r in runs["podman"])
    print()
    print(f"{'':<22}{'minidock':>10}{'podman':>10}{'ratio':>8}")
    print(f"{'commit (median s)':<22}{m:>10.3f}{p:>10.3f}{m / p:>8.2f}")
    m1, p1 = runs["minidock"][0].seconds, runs["podman"][0].seconds
    print(f"{'first commit (s)':<22}{m1:>10.3f}{p1:>10.3f}{m1 / p1:>8.2f}")
    print(f"{'commit peak RSS (MB)':<22}{m_rss:>10.1f}{p_rss:>10.1f}{m_rss / p_rss:>8.2f}")
    print("  commit runs (s): minidock " + " ".join(f"{r.seconds:.3f}" for r in runs["minidock"])
          + " | podman " + " ".join(f"{r.seconds:.3f}" for r in runs["podman"]))
    return verdict([(f"commit ratio {m / p:.2f} <= {TARGET}", m / p <= TARGET)])



def cleanup(work: Path, minidock: Tool, podman: Tool) -> None:
    def quiet(tool: Tool, *args: str) -> None:
        subprocess.run(tool.argv + list(args), env=tool.env, cwd=REPO, capture_output=True)

    if (work / "minidock").exists():
        quiet(minidock, "rm", "-f", CONTAINER)
    if (work / "podman").exists():
        quiet(podman, "rm", "-af")
        quiet(podman, "rmi", "-af")
        quiet(podman, "system", "reset", "-f")


def run(work: Path, args) -> bool:
    minidock, podman = make_tools(work)
    try:
        return report(bench(work, minidock, podman, args))
    finally:
        cleanup(work, minidock, podman)


if __name__ == "__main__":
    sys.exit(common.main(__doc__, run, [
        (("--files",), {"type": int, "default": 10_000, "help": "files the container writes (default 10000)"}),
        common.RUNS], root="minidock's containers and podman run as root here", tools=("podman",),
        tmp=("minidock-bench-commit-", None)))
