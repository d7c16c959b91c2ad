"""Benchmark: one machine, N learners through the class's JupyterHub, each running chapter 04 at once.

    .venv/bin/python bench/classroom.py                 # N = 1, 3, 10: about 10 minutes on 2 cores
    .venv/bin/python bench/classroom.py --learners 1 3  # a quicker run

As root, after ``make classroom-env classroom-proxy``.  The class is the real one (deploy/jupyterhub:
``running_class`` of classroom.py, as ``make classroom`` starts it: the hub, the proxy, the class
registry), with accounts ``mdbench1..10`` of its own, removed at the end.  For each N:

1. the first N learners' servers are started through the hub's REST API, all at once; once every one is
   ready and has sat idle for a few seconds, each learner's **idle memory** is read: the memory of the
   learner's cgroup (``Sandbox.usage()``), i.e. their JupyterLab server alone;
2. each learner opens chapter 04 (a kernel of their own, driven over the kernel protocol through the
   proxy) and runs its code cells, all N at once; the **time per chapter** is each learner's wall-clock
   time from opening the kernel to the last cell's end (median and max over the N learners);
3. the **memory per learner** is the peak of the learner's cgroup over the round: server, kernel, the
   minidock commands and the rootless containers the chapter runs (on cgroup v1 ``max_usage_in_bytes``,
   on v2 ``memory.peak``; page cache counts, as it does against the limit);
4. the **CPU per learner** is the CPU time the learner's cgroup used over the chapter (cpuacct; v2
   ``cpu.stat``): what the chapter costs the machine, whatever the wall clock says;
5. the servers are stopped (their sandboxes go), so each round starts from nothing.

There is no target: the figures are what the deployment README's capacity arithmetic starts from.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "deploy" / "jupyterhub"))

from classroom import running_class  # noqa: E402
from drive import code_cells, each_at_once, run_notebook  # noqa: E402
from spawner import sandbox_of  # noqa: E402

PREFIX = Path(os.environ.get("CLASSROOM_PREFIX", "/opt/minidock-classroom"))   # as the hub test reads it
CHAPTER = "04-containers"
IDLE_SECONDS = 5
MiB = 1 << 20


def round_of(hub, names: list[str], cells: list[str]) -> dict:
    """One round with ``names``: start, idle memory, chapter 04 at once, peak memory, stop."""
    each_at_once(hub.start_server, names)
    time.sleep(IDLE_SECONDS)
    idle = [sandbox_of(name).usage()["memory"] for name in names]
    cpu_before = {name: sandbox_of(name).usage()["cpu_ns"] for name in names}
    tokens = {name: hub.user_token(name) for name in names}
    seconds = each_at_once(lambda name: run_notebook(hub, name, tokens[name], f"course/{CHAPTER}.ipynb",
                                                     cells=cells), names)
    peaks = [sandbox_of(name).usage()["memory_peak"] for name in names]
    cpu = [(sandbox_of(name).usage()["cpu_ns"] - cpu_before[name]) / 1e9 for name in names]
    each_at_once(hub.stop_server, names)
    times = [took for took, _ in seconds.values()]
    return {"n": len(names), "median_s": statistics.median(times), "max_s": max(times),
            "peak_mib": statistics.median(peaks) / MiB, "peak_max_mib": max(peaks) / MiB,
            "idle_mib": statistics.median(idle) / MiB, "cpu_s": statistics.median(cpu), "cpu_max_s": max(cpu)}


def table(rows: list[dict]) -> str:
    """The figures as a Markdown table (bench/README.md's "Classroom" section holds one)."""
    lines = ["| learners at once | chapter 04, median | max | memory per learner (peak), median | max | idle server "
             "| CPU per learner, median | max |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['n']} | {r['median_s']:.0f} s | {r['max_s']:.0f} s | {r['peak_mib']:.0f} MiB | "
              f"{r['peak_max_mib']:.0f} MiB | {r['idle_mib']:.0f} MiB | {r['cpu_s']:.1f} s | {r['cpu_max_s']:.1f} s |"
              for r in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[1, 3, 10], help="the N of each round")
    parser.add_argument("--memory", default="1G", help="each learner's memory limit (mem_limit)")
    args = parser.parse_args(argv)
    from minidock.classroom import learners
    names = [f"mdbench{i}" for i in range(1, max(args.learners) + 1)]
    cells = code_cells(PREFIX / "share" / "minidock-classroom" / "course" / f"{CHAPTER}.ipynb")
    for name in names:
        learners.remove(name)  # a killed run may have left them
    rows = []
    try:
        for name in names:
            learners.create(name)
        with tempfile.TemporaryDirectory(prefix="bench-classroom-") as state, \
                running_class(Path(state), names, registry_port=0, settings={
                    "CLASSROOM_PREFIX": str(PREFIX), "MINIDOCK_CLASS_MEMORY": args.memory}) as (hub, _):
            for n in args.learners:
                rows.append(round_of(hub, names[:n], cells))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        for name in names:
            learners.remove(name)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
