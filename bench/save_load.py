"""Benchmark: ``minidock save``/``load`` against ``podman save``/``load`` of the same image.

    .venv/bin/python bench/save_load.py            # ~200 MB, 20,000 files, 5 runs each

Everything happens in one run on one machine (timings on a shared machine drift
between runs, so only ratios measured side by side mean anything):

1. make a directory of FILES files of random sizes totalling MB megabytes;
2. import it (the Python API's ``import_image`` of the directory): a one-layer image, as ``docker import`` makes;
3. ``minidock save`` it once, and ``podman load`` that archive, so both tools
   hold the same image (same ID, checked);
4. RUNS times, alternating the tools: save each tool's image to a file, and load
   minidock's archive into a fresh, empty store of each tool;
5. print the medians, the ratios minidock/podman, minidock's peak RSS while
   saving, and whether each target is met.

Times are wall-clock times of the whole command (``python -m minidock ...``
includes the interpreter's start-up, ~0.1 s), each started after ``sync``: the
previous command's dirty pages are written out first, untimed.  Reads come
from a warm page cache.  Peak RSS is ``ru_maxrss`` from
``os.wait4`` on that one child process (the kernel's high-water mark of its
resident memory), so runs do not mix as ``getrusage(RUSAGE_CHILDREN)`` would.
All files live in one temp dir, removed at the end; podman gets its own
``--root``/``--runroot``/``--tmpdir`` there and never touches the machine's storage.
"""

from __future__ import annotations

import os
import random
import shutil
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
IMAGE = "localhost/bench:latest"
SAVE_RATIO_TARGET = LOAD_RATIO_TARGET = 1.0
SAVE_RSS_TARGET_MB = 100


@dataclass
class Run:
    """One command's wall time (seconds) and peak resident memory (MB)."""
    seconds: float
    peak_mb: float


def timed(argv: list[str], env: dict | None = None) -> Run:
    """Run ``argv`` to completion; fail loudly if it fails.

    The page cache is flushed first (outside the clock), so the previous
    command's writes do not land in this one's time.
    """
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)   # this child's own rusage
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {stderr}")
    return Run(seconds, usage.ru_maxrss / 1024)   # ru_maxrss is in KiB on Linux


class Minidock:
    """The minidock CLI on the store ``root``."""

    def __init__(self, root: Path):
        self.env = os.environ | {"MINIDOCK_ROOT": str(root)}

    def __call__(self, *args: str) -> Run:
        return timed([sys.executable, "-m", "minidock", *args], self.env)

    def output(self, *args: str) -> str:
        return subprocess.run([sys.executable, "-m", "minidock", *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()

    def import_dir(self, tree: Path, ref: str) -> Run:
        """A directory as a one-layer image, through the Python API: ``minidock import``, as
        ``docker import``, reads only a tar, and tarring 200 MB first would time the tar too."""
        code = "import sys, minidock; minidock.from_env().images.import_image(sys.argv[1], sys.argv[2])"
        return timed([sys.executable, "-c", code, str(tree), ref], self.env)


class Podman:
    """podman on a private store under ``base`` (see ../../shared/PEERS.md for the config)."""

    def __init__(self, base: Path):
        self.argv = ["podman", f"--root={base / 'root'}", f"--runroot={base / 'run'}",
                     f"--tmpdir={base / 'tmp'}"]
        self.env = os.environ | {"CONTAINERS_CONF": str(CONTAINERS_CONF)}

    def __call__(self, *args: str) -> Run:
        return timed(self.argv + list(args), self.env)

    def output(self, *args: str) -> str:
        return subprocess.run(self.argv + list(args), env=self.env, capture_output=True,
                              text=True, check=True).stdout.strip()


def make_tree(dest: Path, files: int, total: int, seed: int) -> None:
    """``files`` files of log-normal random sizes summing to ``total`` bytes, 100 to a directory."""
    rng = random.Random(seed)
    weights = [rng.lognormvariate(0, 1.5) for _ in range(files)]
    scale = total / sum(weights)
    sizes = [int(w * scale) for w in weights]
    sizes[-1] += total - sum(sizes)
    for n, size in enumerate(sizes):
        directory = dest / f"d{n // 100:03d}"
        if n % 100 == 0:
            directory.mkdir(parents=True)
        (directory / f"f{n:05d}.bin").write_bytes(rng.randbytes(size))


def median(runs: list[Run], field: str = "seconds") -> float:
    return statistics.median(getattr(r, field) for r in runs)


def bench(work: Path, args) -> dict[str, list[Run]]:
    """Build the image, then time RUNS saves and loads of each tool, alternating."""
    tree = work / "tree"
    print(f"making {args.files} files, {args.mb} MB in all ...", flush=True)
    make_tree(tree, args.files, args.mb << 20, args.seed)
    minidock, podman = Minidock(work / "minidock"), Podman(work / "podman")
    made = minidock.import_dir(tree, IMAGE)
    shutil.rmtree(tree)
    archive = work / "image.tar"
    minidock("save", "-o", str(archive), IMAGE)
    podman("load", "-q", "-i", str(archive))
    image_id = minidock.output("inspect", "--format", "{{.Id}}", IMAGE)
    assert podman.output("inspect", "--format", "{{.Id}}", IMAGE) == image_id.split(":")[1], "IDs differ"
    print(f"image {image_id[:19]}: one layer, {archive.stat().st_size / 1e6:.0f} MB "
          f"(import took {made.seconds:.2f} s)", flush=True)

    runs: dict[str, list[Run]] = {key: [] for key in ("minidock save", "podman save",
                                                      "minidock load", "podman load")}
    out = work / "out.tar"
    for n in range(args.runs):
        for tool in ((minidock, podman) if n % 2 == 0 else (podman, minidock)):
            name = "minidock" if tool is minidock else "podman"
            runs[f"{name} save"].append(tool("save", "-o", str(out), IMAGE))
            out.unlink()
            runs[f"{name} load"].append(load_fresh(name, work / f"load-{name}", archive))
        print(f"run {n + 1}/{args.runs} done", flush=True)
    return runs


def load_fresh(name: str, store: Path, archive: Path) -> Run:
    """Load ``archive`` into an empty store (made before the clock starts), then remove it."""
    tool = Minidock(store) if name == "minidock" else Podman(store)
    tool("images")   # creates the store, so its set-up is not timed
    run = tool("load", "-q", "-i", str(archive))
    shutil.rmtree(store)
    return run


def report(runs: dict[str, list[Run]]) -> bool:
    """Print the table and the targets; return whether every target is met."""
    rows = []
    for op in ("save", "load"):
        m, p = median(runs[f"minidock {op}"]), median(runs[f"podman {op}"])
        rows.append((f"{op} (median s)", f"{m:.3f}", f"{p:.3f}", f"{m / p:.2f}"))
    m_rss, p_rss = (max(r.peak_mb for r in runs[f"{t} save"]) for t in ("minidock", "podman"))
    rows.append(("save peak RSS (MB)", f"{m_rss:.1f}", f"{p_rss:.1f}", f"{m_rss / p_rss:.2f}"))
    print()
    print(f"{'':<20}{'minidock':>10}{'podman':>10}{'ratio':>8}")
    for label, *cells in rows:
        print(f"{label:<20}" + "".join(f"{c:>{w}}" for c, w in zip(cells, (10, 10, 8))))
    for op in ("save", "load"):
        print(f"  {op} runs (s): minidock " + " ".join(f"{r.seconds:.3f}" for r in runs[f"minidock {op}"])
              + " | podman " + " ".join(f"{r.seconds:.3f}" for r in runs[f"podman {op}"]))
    save_ratio = median(runs["minidock save"]) / median(runs["podman save"])
    load_ratio = median(runs["minidock load"]) / median(runs["podman load"])
    targets = [(f"save ratio {save_ratio:.2f} <= {SAVE_RATIO_TARGET}", save_ratio <= SAVE_RATIO_TARGET),
               (f"load ratio {load_ratio:.2f} <= {LOAD_RATIO_TARGET}", load_ratio <= LOAD_RATIO_TARGET),
               (f"minidock save peak RSS {m_rss:.1f} MB < {SAVE_RSS_TARGET_MB} MB", m_rss < SAVE_RSS_TARGET_MB)]
    return verdict(targets)


def run(work: Path, args) -> bool:
    return report(bench(work, args))


if __name__ == "__main__":
    sys.exit(common.main(__doc__, run, [
        (("--files",), {"type": int, "default": 20_000, "help": "number of files (default 20000)"}),
        (("--mb",), {"type": int, "default": 200, "help": "total size in MiB (default 200)"}),
        common.RUNS, common.SEED], tools=("podman",)))
