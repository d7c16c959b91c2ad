"""Benchmark: ``minidock build`` against ``podman build`` of a 10-step Dockerfile, cold and fully cached.

    .venv/bin/python bench/build.py                       # 2,000 files, 4 MiB, 5 runs each
    .venv/bin/python bench/build.py --files 200 --runs 2  # a quick smoke run

Everything happens in one run on one machine, in one temp dir (timings on a
shared machine drift between runs, so only ratios measured side by side mean
anything):

1. make a build context: FILES seeded random files of log-normal sizes (MB MiB
   in all, 100 to a directory, as ``save_load.py`` makes them) under ``tree/``,
   and the Dockerfile ``DOCKERFILE`` (10 steps: FROM, ENV, WORKDIR, COPY of the
   tree, a RUN that walks it, LABEL, EXPOSE, COPY of one file, a RUN, CMD);
2. ``minidock bootstrap busybox`` and ``minidock save`` it once: the base image
   both tools start from (loaded into each fresh store, IDs checked equal);
3. RUNS times, alternating which tool goes first, for each tool:
   - a fresh store with busybox loaded in it (untimed),
   - **cold**: build the context there (nothing cached);
   - **cached**: build it again, unchanged, in the same store: every step comes
     from the cache (checked: the same image ID as the cold build, which a
     re-run step, with its new timestamp, would change),
   - a check (untimed): running the image prints FILES (its CMD reads what the
     RUN step counted), then the store is removed;
4. print the medians, the ratios minidock/podman and the targets; exit 0 only
   if all are met.

Commands: ``minidock build -t TAG CONTEXT`` and ``podman build --layers
--network=none --pull=never -t TAG CONTEXT`` (default isolation, runc).  Times
are wall-clock times of the whole command after an untimed ``sync``; minidock
is the venv's entry point with its bytecode cached in the temp dir (as in
``commit.py``), so Python's start-up is included but not compiling.  podman runs
with ``CONTAINERS_CONF=tests/peers/containers.conf`` and its own ``--root``/
``--runroot``/``--tmpdir`` (and ``TMPDIR``) in the temp dir.  At the end (also
on failure) mounts under the temp dir are unmounted by path, the cgroups that
podman's runs added under ``*/libpod_parent`` removed, and the temp dir deleted.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from pathlib import Path

from commit import Run, Tool, minidock_argv   # the same clock, peak RSS and CLI as commit.py's
import common
from common import verdict
from save_load import make_tree

REPO = Path(__file__).resolve().parent.parent
CONTAINERS_CONF = REPO / "tests" / "peers" / "containers.conf"
BASE = "docker.io/library/busybox:latest"   # the name both tools give minidock's busybox
TAG = "localhost/bench-build:latest"
COLD_TARGET, CACHED_TARGET = 1.0, 0.5
DOCKERFILE = f"""\
FROM {BASE}
ENV APP_HOME=/app
WORKDIR /app
COPY tree/ ./tree/
RUN find . -type f | wc -l > /count
LABEL org.example.bench=build
EXPOSE 8080
COPY Dockerfile /etc/bench.Dockerfile
RUN du -s /app/tree > /size
CMD ["cat", "/count"]
"""
KINDS = ("cold", "cached")


def libpod_cgroups() -> set[Path]:
    """Every cgroup directory at or under ``/sys/fs/cgroup/*/libpod_parent`` (where podman's runs go)."""
    found = set()
    for parent in Path("/sys/fs/cgroup").glob("*/libpod_parent"):
        found.add(parent)
        found.update(p for p in parent.rglob("*") if p.is_dir())
    return found


def remove_new_cgroups(before: set[Path]) -> list[Path]:
    """rmdir, deepest first, the cgroups made since ``before`` (only empty ones can go); those left."""
    left = []
    for cgroup in sorted(libpod_cgroups() - before, key=lambda p: -len(p.parts)):
        try:
            cgroup.rmdir()
        except OSError:
            left.append(cgroup)
    return left


class Stores:
    """Fresh stores of each tool under ``work``, with busybox in them."""

    def __init__(self, work: Path):
        self.work, self.count = work, 0
        self.md_env = {k: v for k, v in os.environ.items()
                       if k not in ("PYTHONDONTWRITEBYTECODE", "SOURCE_DATE_EPOCH")} | {
            "PYTHONPYCACHEPREFIX": str(work / "pycache"), "MINIDOCK_BRIDGE": f"mdbb{os.getpid() % 100000}"}
        self.podman_env = os.environ | {"CONTAINERS_CONF": str(CONTAINERS_CONF), "TMPDIR": str(work / "ptmp")}
        (work / "ptmp").mkdir()

    def minidock(self, store: Path) -> Tool:
        return Tool("minidock", minidock_argv(), self.md_env | {"MINIDOCK_ROOT": str(store)})

    def podman(self, store: Path) -> Tool:
        # short paths: podman refuses a runroot longer than 50 characters
        return Tool("podman", ["podman", f"--root={store / 'root'}", f"--runroot={store / 'run'}",
                               f"--tmpdir={store / 'tmp'}"], self.podman_env)

    def fresh(self, name: str, archive: Path, image_id: str) -> tuple[Tool, Path]:
        """A new, empty store of tool ``name`` holding only busybox (loaded from ``archive``)."""
        self.count += 1
        store = self.work / f"{name[0]}{self.count}"
        tool = self.minidock(store) if name == "minidock" else self.podman(store)
        tool.output("load", "-q", "-i", str(archive))
        got = tool.output("inspect", "--format", "{{.Id}}", BASE)
        if got.removeprefix("sha256:") != image_id.removeprefix("sha256:"):
            raise SystemExit(f"{name} loaded busybox as {got}, not {image_id}")
        return tool, store

    @staticmethod
    def remove(store: Path) -> None:
        common.unmount_under(store)
        shutil.rmtree(store)


def build_argv(tool: Tool, context: Path) -> list[str]:
    if tool.name == "minidock":
        return ["build", "-q", "-t", TAG, str(context)]
    return ["build", "-q", "--layers", "--network=none", "--pull=never", "-t", TAG, str(context)]


def bench(work: Path, args) -> dict[str, list[Run]]:
    context = work / "ctx"
    print(f"making a context of {args.files} files, {args.mb} MiB ...", flush=True)
    make_tree(context / "tree", args.files, args.mb << 20, args.seed)
    (context / "Dockerfile").write_text(DOCKERFILE)

    stores = Stores(work)
    seed = stores.minidock(work / "seed")
    seed.output("bootstrap", "busybox")
    archive = work / "busybox.tar"
    seed.output("save", "-o", str(archive), BASE)
    image_id = seed.output("inspect", "--format", "{{.Id}}", BASE)
    Stores.remove(work / "seed")

    runs: dict[str, list[Run]] = {f"{t} {k}": [] for t in ("minidock", "podman") for k in KINDS}
    for n in range(args.runs):
        for name in (("minidock", "podman") if n % 2 == 0 else ("podman", "minidock")):
            tool, store = stores.fresh(name, archive, image_id)
            argv = build_argv(tool, context)
            runs[f"{name} cold"].append(tool.timed(*argv))
            built = tool.output("inspect", "--format", "{{.Id}}", TAG)
            runs[f"{name} cached"].append(tool.timed(*argv))
            rebuilt = tool.output("inspect", "--format", "{{.Id}}", TAG)
            if rebuilt != built:
                raise SystemExit(f"{name}: the rebuild made {rebuilt}, not {built}: not every step was cached")
            extra = ["--pull=never", "--network=none"] if name == "podman" else ["--network", "none"]
            count = tool.output("run", "--rm", *extra, TAG)
            if count != str(args.files):
                raise SystemExit(f"{name}: the image counted {count!r} files, not {args.files}")
            Stores.remove(store)
        print(f"run {n + 1}/{args.runs} done", flush=True)
    return runs


def report(runs: dict[str, list[Run]]) -> bool:
    """Print the table and the targets; return whether every target is met."""
    med = {key: statistics.median(r.seconds for r in series) for key, series in runs.items()}
    print()
    print(f"{'':<25}{'minidock':>10}{'podman':>10}{'ratio':>8}")
    for kind in KINDS:
        m, p = med[f"minidock {kind}"], med[f"podman {kind}"]
        print(f"{kind + ' build (median s)':<25}{m:>10.3f}{p:>10.3f}{m / p:>8.2f}")
    m_rss = max(r.peak_mb for r in runs["minidock cold"] + runs["minidock cached"])
    p_rss = max(r.peak_mb for r in runs["podman cold"] + runs["podman cached"])
    print(f"{'peak RSS (MB)':<25}{m_rss:>10.1f}{p_rss:>10.1f}{m_rss / p_rss:>8.2f}")
    for kind in KINDS:
        print(f"  {kind} runs (s): minidock " + " ".join(f"{r.seconds:.3f}" for r in runs[f"minidock {kind}"])
              + " | podman " + " ".join(f"{r.seconds:.3f}" for r in runs[f"podman {kind}"]))
    cold = med["minidock cold"] / med["podman cold"]
    cached = med["minidock cached"] / med["podman cached"]
    return verdict([(f"cold build ratio {cold:.2f} <= {COLD_TARGET}", cold <= COLD_TARGET),
                    (f"cached rebuild ratio {cached:.2f} <= {CACHED_TARGET}", cached <= CACHED_TARGET)])


def run(work: Path, args) -> bool:
    if len(str(work / f"p{2 * args.runs}" / "run")) > 50:   # the longest store name
        raise SystemExit(f"{work} is too long a path for podman's runroot; pick a shorter --dir")
    cgroups_before = libpod_cgroups()
    try:
        return report(bench(work, args))
    finally:
        common.unmount_under(work)   # before the cgroups: a store's mounts hold none, but be sure
        stuck = remove_new_cgroups(cgroups_before)
        if stuck:
            print(f"clean-up: cgroups not removed: {' '.join(map(str, stuck))}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(common.main(__doc__, run, [
        (("--files",), {"type": int, "default": 2000, "help": "files in the context (default 2000)"}),
        (("--mb",), {"type": int, "default": 4, "help": "their total size in MiB (default 4)"}),
        common.RUNS, common.SEED], root="RUN steps run containers", tools=("podman",),
        tmp=("mdb-", "/tmp")))  # /tmp: podman refuses a runroot path longer than 50 characters
