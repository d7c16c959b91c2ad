"""Benchmark: what making the store durable costs, and why a layer gets one syncfs, not an fsync per file.

    .venv/bin/python bench/durability.py                  # 2,000 files a layer, 5 runs each
    .venv/bin/python bench/durability.py --files 200 --runs 2

Two questions, both answered on the disk the temp dir is on (``--dir``), in one run:

1. A layer directory of FILES small files (the shape of an extracted layer, 100 to a
   subdirectory) must be on the disk before it is renamed into the store.  Three ways,
   each timed from the files written (not yet synced) to the layer durable:
   ``syncfs`` (one syncfs(2) of the file system, what ``Images.commit_layer`` does),
   ``fsync each`` (an fsync(2) per file and per directory, what a program without
   syncfs would do), and ``none`` (nothing: what minidock did before; the data
   reaches the disk whenever the kernel writes it back, and a power loss before
   that leaves empty or torn files under a committed name).
2. A container's ``state.json`` is rewritten three times by a ``run``: a write with
   the durable rule (``runtime/durable.py``: fsync, rename, fsync the directory)
   against one renamed only (``runtime/state.py``'s).  The difference, times three,
   is what syncing it would add to every ``run``.

Before each timed step the script calls ``sync`` (untimed), so no earlier dirty page
is written on its clock.  Medians of RUNS; target: syncfs faster than an fsync per file.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import common
from common import verdict
from minidock.runtime import durable

FILES = (("--files",), {"type": int, "default": 2000, "help": "files in the layer (default 2000)"})


def make_layer(root: Path, files: int) -> None:
    """FILES files of 1-4 KB, 100 to a directory."""
    for i in range(files):
        d = root / f"d{i // 100}"
        if i % 100 == 0:
            d.mkdir(parents=True)
        (d / f"f{i}").write_bytes(os.urandom(1024 + (i * 37) % 3072))


def fsync_each(root: Path) -> None:
    for top, dirs, names in os.walk(root):
        for name in names:
            durable.fsync_file(os.path.join(top, name))
        durable.fsync_dir(top)


WAYS = {"syncfs": durable.syncfs, "fsync each": fsync_each, "none": lambda root: None}


def layer_times(work: Path, files: int, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for n in range(runs):
        for way, make_durable in WAYS.items():   # the same order each round: each starts from a synced disk
            root = work / f"layer-{n}-{way.replace(' ', '-')}"
            make_layer(root, files)
            start = time.perf_counter()
            make_durable(root)
            times[way].append(time.perf_counter() - start)
            os.sync()
    return times


def state_times(work: Path, runs: int) -> dict[str, list[float]]:
    data = json.dumps({"Status": "running", "Pid": 4242, "ShimPid": 4241, "ExitCode": 0}, indent=1).encode()
    times: dict[str, list[float]] = {"durable": [], "renamed only": []}
    for _ in range(runs * 10):
        os.sync()
        start = time.perf_counter()
        durable.write(work / "state.json", data)
        times["durable"].append(time.perf_counter() - start)
        os.sync()
        start = time.perf_counter()
        tmp = work / f".state.json.{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, work / "state.json")
        times["renamed only"].append(time.perf_counter() - start)
    return times


def run(work: Path, args) -> bool:
    print(f"a layer of {args.files} files, {args.runs} runs of each way ...", flush=True)
    layer = {way: statistics.median(t) * 1000 for way, t in layer_times(work, args.files, args.runs).items()}
    state = {way: statistics.median(t) * 1000 for way, t in state_times(work, args.runs).items()}
    print(f"\n{'making a layer durable (median ms)':40} {'':>8}")
    for way, ms in layer.items():
        print(f"  {way:38} {ms:8.1f}")
    print(f"\n{'one state.json write (median ms)':40}")
    for way, ms in state.items():
        print(f"  {way:38} {ms:8.2f}")
    print(f"  {'a run (3 writes) would pay':38} {3 * (state['durable'] - state['renamed only']):8.2f}")
    return verdict([(f"syncfs {layer['syncfs']:.1f} ms < an fsync per file {layer['fsync each']:.1f} ms",
                     layer["syncfs"] < layer["fsync each"])])


if __name__ == "__main__":
    sys.exit(common.main(__doc__, run, [FILES, common.RUNS], tmp=("minidock-bench-durability-", None)))
