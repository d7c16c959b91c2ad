"""What every benchmark here shares: its ``main`` (flags, needs, a temp dir, clean-up), leftover mounts, verdicts."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

# --runs, --seed and --dir, which most benchmarks take: (flags, argparse keywords)
RUNS = (("--runs",), {"type": int, "default": 5, "help": "timed runs of each contender (default 5)"})
SEED = (("--seed",), {"type": int, "default": 1, "help": "seed of the file sizes and contents"})


def main(doc: str, run, options=(), root: str | None = None, tools=(), tmp=("minidock-bench-", None),
         cleanup=None) -> int:
    """A benchmark's whole program: 0 when every target is met, 1 when one is not, 2 when it failed.

    ``run(work, args)`` benchmarks in the temp dir ``work`` and returns whether every target was met;
    ``options`` are its flags; ``root`` says why it needs root, if it does; ``tools`` are the peers it
    runs; ``tmp`` is the temp dir's prefix and default parent (``--dir``); ``cleanup(work)`` runs
    afterwards, before the temp dir (and anything still mounted in it) is removed.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    for flags, keywords in options:
        parser.add_argument(*flags, **keywords)
    parser.add_argument("--dir", default=tmp[1], help=f"where to make the temp dir (default: {tmp[1] or '$TMPDIR'})")
    args = parser.parse_args()
    if root and os.geteuid() != 0:
        raise SystemExit(f"needs root ({root})")
    for tool in tools:
        if shutil.which(tool) is None:
            raise SystemExit(f"needs {tool} (make setup)")
    work = Path(tempfile.mkdtemp(prefix=tmp[0], dir=args.dir))
    try:
        return 0 if run(work, args) else 1
    except Exception:
        traceback.print_exc()
        return 2
    finally:
        if cleanup is not None:
            cleanup(work)
        left = unmount_under(work)
        if left:
            print(f"unmounted: {' '.join(left)}")
        shutil.rmtree(work, ignore_errors=True)
        if work.exists():
            print(f"clean-up: {work} could not be removed", file=sys.stderr)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (from /proc/self/mountinfo), in mount order."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == str(path) or point.startswith(str(path) + "/"):
            found.append(point)
    return found


def unmount_under(path: Path) -> list[str]:
    """Unmount (lazily, deepest first) whatever is mounted at or below ``path``; the mount points."""
    points = mounts_under(path)
    for point in reversed(points):
        subprocess.run(["umount", "-l", point], capture_output=True)
    return points


def verdict(targets: list[tuple[str, bool]]) -> bool:
    """Print each target as MET or NOT MET; whether all were met."""
    print()
    for text, met in targets:
        print(f"  {'MET    ' if met else 'NOT MET'}  {text}")
    return all(met for _, met in targets)
