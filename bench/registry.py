"""Benchmark: ``minidock push``/``pull`` against ``skopeo copy`` to and from the distribution registry.

    .venv/bin/python bench/registry.py            # ~200 MB in 5 layers, 5 runs each

Everything happens in one run on one machine, in one temp dir (timings on a
shared machine drift between runs, so only ratios measured side by side mean
anything):

1. make a 5-layer image (LAYERS layers of ~MB/LAYERS MiB each, a few hundred to
   a few thousand seeded random files per layer) as a docker-archive tar by hand,
   and ``minidock load`` it;
2. start Debian's ``docker-registry`` (distribution) twice on 127.0.0.1: a *pull*
   registry, into which minidock pushes the image once (untimed), and a *push*
   registry, restarted on empty storage before every timed push, so that no push
   finds a blob already there (or mountable from another repository);
3. RUNS times, alternating which tool goes first:
   - push: ``minidock push`` / ``skopeo copy docker-archive:ARCHIVE docker://...``
     (layers sent uncompressed by both, see ``PUSHERS``; skopeo's gzip push is
     timed too, for information);
   - pull of the pull registry's image into a fresh, empty store: ``minidock pull``
     / ``skopeo copy docker://... containers-storage:[overlay@ROOT+RUNROOT]...``,
     both extracting the layers into a store;
4. print the medians, the ratios minidock/skopeo, minidock's peak RSS and the
   targets; exit 0 only if all are met.  The temp dir (and any mount skopeo's
   overlay storage left in it) is removed at the end, also on failure.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import common
from common import verdict
import save_load
from save_load import Run, median, timed   # the same clock and peak RSS as save_load's

IMAGE = "localhost/bench/registry:latest"
PUSH_RATIO_TARGET = PULL_RATIO_TARGET = 1.2
RSS_TARGET_MB = 100
# skopeo 1.9 gzips every layer it sends to a registry (--dest-compress-format only picks
# gzip or zstd); --preserve-digests sends them as they are, uncompressed, as minidock
# does: that is the push compared ("skopeo push"); the gzip one is shown too.
PUSHERS = ["minidock push", "skopeo push", "skopeo push (gzip)"]
PULLERS = ["minidock pull", "skopeo pull"]


class Minidock(save_load.Minidock):
    """save_load's minidock CLI, with a config dir of its own: no saved credentials or mirrors."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.env["MINIDOCK_CONFIG"] = str(root) + "-config"
        self.env.pop("MINIDOCK_REGISTRY_MIRROR", None)


class Skopeo:
    """skopeo with its temp files (``--tmpdir``) under ``base``, on the same disk as everything else."""

    def __init__(self, base: Path):
        self.tmp = base / "skopeo-tmp"
        self.tmp.mkdir(parents=True)
        self.argv = ["skopeo", f"--tmpdir={self.tmp}"]

    def __call__(self, *args: str) -> Run:
        return timed(self.argv + list(args))


class Distribution:
    """``docker-registry serve`` on 127.0.0.1:``port`` with its storage in ``base/data``; stopped by PID."""

    def __init__(self, base: Path, port: int):
        self.base, self.host, self.proc = base, f"127.0.0.1:{port}", None

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "config.yml"
        config.write_text("\n".join([
            "version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
            "storage:", "  filesystem:", f"    rootdirectory: {self.base / 'data'}",
            "  delete:", "    enabled: true", "http:", f"  addr: {self.host}", ""]))
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(self.host.split(":")[1])), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"docker-registry did not start: {self.proc.stderr.read().decode()}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc.stderr.close()
        self.proc = None

    def fresh(self) -> None:
        """Restart on empty storage: no blob of an earlier push is left to skip or mount."""
        self.stop()
        shutil.rmtree(self.base / "data", ignore_errors=True)
        self.start()

    def blobs(self) -> list[int]:
        """Sizes of the blobs in the storage (to check that a push really sent the layers)."""
        blobs = self.base / "data" / "docker" / "registry" / "v2" / "blobs"
        return [p.stat().st_size for p in blobs.rglob("data")] if blobs.exists() else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def layer_sizes(rng: random.Random, files: int, total: int) -> list[int]:
    """``files`` log-normal random sizes summing to ``total``."""
    weights = [rng.lognormvariate(0, 1.5) for _ in range(files)]
    scale = total / sum(weights)
    sizes = [int(w * scale) for w in weights]
    sizes[-1] += total - sum(sizes)
    return sizes


def write_layer(path: Path, n: int, sizes: list[int], rng: random.Random) -> str:
    """A layer tar of ``sizes`` random files under ``/l{n}/dNNN/``, 100 to a directory; its DiffID."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, data: bytes | None = None) -> None:
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        add(f"l{n}")
        for i, size in enumerate(sizes):
            if i % 100 == 0:
                add(f"l{n}/d{i // 100:03d}")
            add(f"l{n}/d{i // 100:03d}/f{i:05d}.bin", rng.randbytes(size))
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def make_archive(work: Path, layers: int, mb: int, seed: int) -> tuple[Path, int]:
    """A docker-archive tar (manifest.json, config, one uncompressed tar per layer); its path and layer bytes."""
    rng = random.Random(seed)
    parts = work / "parts"
    parts.mkdir()
    diff_ids, names, layer_bytes = [], [], 0
    for n in range(layers):
        files = rng.randint(300, 3000)
        tmp = parts / f"layer{n}.tar"
        diff_id = write_layer(tmp, n, layer_sizes(rng, files, (mb << 20) // layers), rng)
        name = diff_id.split(":")[1] + ".tar"
        tmp.rename(parts / name)
        diff_ids.append(diff_id)
        names.append(name)
        layer_bytes += (parts / name).stat().st_size
        print(f"  layer {n + 1}/{layers}: {files} files, {(parts / name).stat().st_size / 1e6:.0f} MB", flush=True)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"bench layer {n}"} for n in range(layers)],
    }, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    (parts / config_name).write_bytes(config)
    (parts / "manifest.json").write_text(json.dumps([{"Config": config_name, "RepoTags": [IMAGE],
                                                       "Layers": names}]))
    archive = work / "image.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ["manifest.json", config_name, *names]:
            info = tar.gettarinfo(parts / name, arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with open(parts / name, "rb") as f:
                tar.addfile(info, f)
    shutil.rmtree(parts)
    return archive, layer_bytes


def bench(work: Path, args) -> dict[str, list[Run]]:
    """Build the image and the registries, then time RUNS pushes and pulls of each tool, alternating."""
    print(f"making a {args.layers}-layer image of {args.mb} MiB ...", flush=True)
    archive, layer_bytes = make_archive(work, args.layers, args.mb, args.seed)
    minidock, skopeo = Minidock(work / "minidock"), Skopeo(work)
    loaded = minidock("load", "-q", "-i", str(archive))
    image_id = minidock.output("inspect", "--format", "{{.Id}}", IMAGE)
    print(f"image {image_id[:19]}: {args.layers} layers, archive {archive.stat().st_size / 1e6:.0f} MB "
          f"(minidock load took {loaded.seconds:.2f} s)", flush=True)

    source = Distribution(work / "reg-pull", free_port())
    target = Distribution(work / "reg-push", free_port())
    registries = [source, target]
    try:
        source.start()
        pull_ref = f"{source.host}/bench/pull:latest"
        minidock("tag", IMAGE, pull_ref)
        minidock("push", pull_ref)
        return timed_runs(work, args, minidock, skopeo, target, archive, layer_bytes, pull_ref, image_id)
    finally:
        for reg in registries:
            reg.stop()


def timed_runs(work: Path, args, minidock: Minidock, skopeo: Skopeo, target: Distribution, archive: Path,
               layer_bytes: int, pull_ref: str, image_id: str) -> dict[str, list[Run]]:
    """RUNS rounds: each push into an empty registry (checked to hold the layers after), then the pulls."""
    runs: dict[str, list[Run]] = {key: [] for key in PUSHERS + PULLERS}
    for n in range(args.runs):
        for key in PUSHERS[n % 3:] + PUSHERS[:n % 3]:   # each pusher goes first in turn
            target.fresh()
            if key == "minidock push":
                ref = f"{target.host}/bench/m:{n}"
                minidock("tag", IMAGE, ref)
                run = minidock("push", ref)
            else:
                as_is = key == "skopeo push"
                run = skopeo("copy", "-q", *(["--preserve-digests"] if as_is else []), f"docker-archive:{archive}",
                             f"docker://{target.host}/bench/s:{n}", "--dest-tls-verify=false")
            sent = target.blobs()   # the registry was empty: every blob in it came with this push
            if len(sent) < args.layers + 1 or ("gzip" not in key and sum(sent) < layer_bytes):
                raise SystemExit(f"{key}: the registry holds {len(sent)} blobs, {sum(sent)} bytes; "
                                 f"the image is {args.layers} layers of {layer_bytes} bytes and a config")
            runs[key].append(run)
        for key in (PULLERS if n % 2 == 0 else PULLERS[::-1]):
            runs[key].append(pull_fresh(key.split()[0], work / f"pull-{key[0]}", skopeo, pull_ref, image_id))
        print(f"run {n + 1}/{args.runs} done", flush=True)
    return runs


def pull_fresh(name: str, store: Path, skopeo: Skopeo, ref: str, image_id: str) -> Run:
    """Pull ``ref`` into an empty store (made before the clock starts), then remove the store."""
    if name == "minidock":
        tool = Minidock(store)
        tool("images")   # creates the store, so its set-up is not timed
        run = tool("pull", "-q", ref)
        got = tool.output("inspect", "--format", "{{.Id}}", ref)
        if got != image_id:
            raise SystemExit(f"minidock pulled {got}, not {image_id}")
    else:
        spec = f"[overlay@{store / 'root'}+{store / 'run'}]"
        run = skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                     f"containers-storage:{spec}{ref}")
    left = common.unmount_under(store)
    if left:
        print(f"  unmounted what {name} left: {' '.join(left)}", flush=True)
    shutil.rmtree(store)
    return run


def report(runs: dict[str, list[Run]]) -> bool:
    """Print the table and the targets; return whether every target is met."""
    rows = []
    for op, other in (("push", "skopeo push"), ("push", "skopeo push (gzip)"), ("pull", "skopeo pull")):
        m, s = median(runs[f"minidock {op}"]), median(runs[other])
        label = f"{op} (median s)" if "gzip" not in other else "  vs gzip push (s)"
        rows.append((label, f"{m:.3f}", f"{s:.3f}", f"{m / s:.2f}"))
    for op in ("push", "pull"):
        m_rss, s_rss = (max(r.peak_mb for r in runs[f"{t} {op}"]) for t in ("minidock", "skopeo"))
        rows.append((f"{op} peak RSS (MB)", f"{m_rss:.1f}", f"{s_rss:.1f}", f"{m_rss / s_rss:.2f}"))
    print()
    print(f"{'':<20}{'minidock':>10}{'skopeo':>10}{'ratio':>8}")
    for label, *cells in rows:
        print(f"{label:<20}" + "".join(f"{c:>{w}}" for c, w in zip(cells, (10, 10, 8))))
    for key in PUSHERS + PULLERS:
        print(f"  {key + ' runs (s):':<29}" + " ".join(f"{r.seconds:.3f}" for r in runs[key]))
    targets = []
    for op, target in (("push", PUSH_RATIO_TARGET), ("pull", PULL_RATIO_TARGET)):
        ratio = median(runs[f"minidock {op}"]) / median(runs[f"skopeo {op}"])
        targets.append((f"{op} ratio {ratio:.2f} <= {target}", ratio <= target))
    for op in ("push", "pull"):
        peak = max(r.peak_mb for r in runs[f"minidock {op}"])
        targets.append((f"minidock {op} peak RSS {peak:.1f} MB < {RSS_TARGET_MB} MB", peak < RSS_TARGET_MB))
    return verdict(targets)


def run(work: Path, args) -> bool:
    return report(bench(work, args))


if __name__ == "__main__":
    sys.exit(common.main(__doc__, run, [
        (("--mb",), {"type": int, "default": 200, "help": "image size in MiB, all layers (default 200)"}),
        (("--layers",), {"type": int, "default": 5, "help": "number of layers (default 5)"}),
        common.RUNS, common.SEED], tools=("skopeo", "docker-registry"), tmp=("mdreg-", None)))
