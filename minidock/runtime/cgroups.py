"""Control groups: a container's memory, pids and cpu limits, its usage, and kill-them-all.

A cgroup is a directory in a cgroup file system; writing a PID to its
``cgroup.procs`` moves that process in, writing its limit files sets limits.
Three layouts exist (kernel Documentation/admin-guide/cgroup-v1, cgroup-v2.rst):

* **v1** -- one hierarchy per controller, ``/sys/fs/cgroup/memory``, ``/sys/fs/cgroup/pids`` ...
  (sometimes co-mounted, ``cpu,cpuacct``); a container has one directory in each.
* **v2** -- one tree at ``/sys/fs/cgroup``; a controller works in a child only once the
  parent lists it in ``cgroup.subtree_control``, and only a cgroup without processes
  of its own may do that ("no internal processes").
* **hybrid** -- v1 hierarchies plus an (often controller-less) v2 tree at
  ``/sys/fs/cgroup/unified``.

minidock takes each controller from its v1 hierarchy when one is mounted, else
from v2, so one rule serves all three.  Containers go below the cgroup *this
process* is in (``/proc/self/cgroup``), in ``minidock/<name>``: the caller's own
limits still bind them.  (In v2 it goes beside that cgroup, in its parent: see
``hierarchies``.)  A controller that is not there is skipped and listed in
``Cgroup.missing`` with the reason -- a container without a pids limit still runs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
import time
from collections import namedtuple
from pathlib import Path

from .syscalls import mounts

USED = ("memory", "pids", "cpu", "cpuacct", "freezer")  # cpuacct: cpu usage (in v2, cpu.stat of any cgroup);
# freezer: pause (in v2, cgroup.freeze of any cgroup but the root: no controller to hand down)
ANY_V2 = ("cpuacct", "freezer")              # what every v2 cgroup has without cgroup.subtree_control
PERIOD_US = 100_000                          # the CFS period Docker uses for --cpus
UNLIMITED = 1 << 62                          # v1 memory limits at or above this mean "none"

# file names by (controller, cgroup version)
LIMIT = {("memory", 1): "memory.limit_in_bytes", ("memory", 2): "memory.max",
         ("pids", 1): "pids.max", ("pids", 2): "pids.max"}
USAGE = {("memory", 1): "memory.usage_in_bytes", ("memory", 2): "memory.current",
         ("pids", 1): "pids.current", ("pids", 2): "pids.current",
         ("cpuacct", 1): "cpuacct.usage", ("cpuacct", 2): "cpu.stat"}
# pause: the file, the value that freezes, the value that thaws (cgroup-v1/freezer-subsystem.rst,
# cgroup-v2.rst "cgroup.freeze")
FREEZE = {1: ("freezer.state", "FROZEN", "THAWED"), 2: ("cgroup.freeze", "1", "0")}
CPU_MAX = {1: [("cpu.cfs_period_us", "{period}"), ("cpu.cfs_quota_us", "{quota}")],
           2: [("cpu.max", "{quota} {period}")]}
OOM_EVENTS = {1: "memory.oom_control", 2: "memory.events"}  # both hold a line "oom_kill N" (Linux 4.13+)
CPU_SHARES = {1: "cpu.shares", 2: "cpu.weight"}   # --cpu-shares: a relative weight, used only under contention


def cpu_weight(shares: int) -> int:
    """v1's cpu.shares (2..262144, default 1024) as v2's cpu.weight (1..10000, default 100), as runc converts it."""
    return 1 + ((shares - 2) * 9999) // 262142


class Hierarchy(namedtuple("Hierarchy", "version mount own")):
    """One mounted cgroup tree, and where this process sits in it.

    ``version``: 1 or 2; ``mount``: a Path, e.g. /sys/fs/cgroup/memory; ``own``: this
    process's cgroup relative to the mount, e.g. "process_api/f42...".  (A namedtuple:
    making a dataclass takes a millisecond, which every ``run`` would pay.)
    """

    __slots__ = ()

    def base(self) -> Path:
        """Where minidock's cgroups go in this tree."""
        return self.mount / self.own / "minidock"

    def own_procs(self) -> Path:
        """The cgroup.procs of ``own``: writing a PID there moves that process (back) to it."""
        return self.mount / self.own / "cgroup.procs"


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per hierarchy: ``{"memory": "/a/b", ..., "": "/"}`` ("" is v2)."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _relative(own: str, root: str) -> str:
    """A cgroup path relative to the mount, whose root (in mountinfo) may not be the tree's root."""
    if root != "/" and (own + "/").startswith(root + "/"):
        own = own[len(root):]
    return own.strip("/")


def cgroup_version() -> str:
    """``"v1"``, ``"hybrid"`` (v1 controllers and a v2 tree), ``"v2"``, or ``"none"`` (nothing mounted)."""
    types = {m.fstype for m in mounts()}
    return {(True, False): "v1", (True, True): "hybrid", (False, True): "v2"}.get(
        ("cgroup" in types, "cgroup2" in types), "none")


def hierarchies(used: tuple[str, ...] = USED) -> tuple[dict[str, Hierarchy], dict[str, str]]:
    """Which tree each used controller is in, and why the others are missing."""
    found, own = {}, _own_cgroups()
    v2 = None
    for m in mounts():
        if m.fstype == "cgroup":
            for c in set(m.super_options.split(",")) & set(used):
                if c in own:
                    found[c] = Hierarchy(1, Path(m.point), _relative(own[c], m.root))
        elif m.fstype == "cgroup2" and "" in own and v2 is None:
            # our own v2 cgroup holds processes (us at least), and a cgroup with processes may
            # not hand controllers down (EBUSY): so minidock/ goes beside it, in its parent
            v2 = Hierarchy(2, Path(m.point), os.path.dirname(_relative(own[""], m.root)))
    missing = {}
    for c in used:
        if c in found:
            continue
        if v2 is not None and (c in ANY_V2 or c in _v2_available(v2)):
            found[c] = v2
        else:
            missing[c] = f"no {c} controller: neither a v1 {c} hierarchy nor in the v2 tree's cgroup.controllers"
    return found, missing


def _v2_available(tree: Hierarchy) -> set[str]:
    """The controllers the v2 cgroup holding minidock/ may hand down (its ``cgroup.controllers``)."""
    try:
        return set((tree.mount / tree.own / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


class Cgroup:
    """A container's cgroup: one directory per hierarchy its controllers live in."""

    def __init__(self, name: str, cpuset: bool = False):
        self.name = name
        self.trees, self.missing = hierarchies(USED + (("cpuset",) if cpuset else ()))
        self.paths = {c: tree.base() / name for c, tree in self.trees.items()}

    def dir(self, controller: str) -> Path:
        """This cgroup's directory for ``controller``."""
        return self.paths[controller]

    def dirs(self) -> list[Path]:
        """Every directory of this cgroup, once each (cpu and cpuacct may share one)."""
        return sorted({self.dir(c) for c in self.trees})

    @classmethod
    def create(cls, name: str, *, memory: int | None = None, pids: int | None = None,
               cpus: float | None = None, shares: int | None = None, cpuset: str | None = None) -> "Cgroup":
        """Make the cgroup with these limits (bytes, number of tasks, CPUs, e.g. 1.5), CPU weight and the
        CPUs it may run on (``"0-1,3"``; only then does it have a cpuset cgroup)."""
        cgroup = cls(name, cpuset=bool(cpuset))
        try:
            if cpuset and "cpuset" not in cgroup.trees:
                raise OSError(errno.ENOENT, f"--cpuset-cpus: {cgroup.missing['cpuset']}")
            for tree in set(cgroup.trees.values()):
                cgroup._make(tree)
            if cpuset:
                cgroup._pin(cpuset)
            cgroup._limit(memory, pids, cpus)
            if shares and "cpu" in cgroup.trees:
                version = cgroup.trees["cpu"].version
                (cgroup.dir("cpu") / CPU_SHARES[version]).write_text(str(shares if version == 1 else cpu_weight(shares)))
        except BaseException:
            cgroup.remove()
            raise
        return cgroup

    @classmethod
    def open(cls, name: str) -> "Cgroup":
        """The existing cgroup of that name, to read its stats or remove it.

        It is looked for below our own cgroup first, then anywhere in the tree:
        the shim that made it may have sat in another cgroup than this process
        (another login session, another service).
        """
        cgroup = cls(name, cpuset=True)   # it has a cpuset cgroup if it was made with one
        for controller, tree in list(cgroup.trees.items()):
            found = next((d / name for d in _minidock_dirs(tree) if (d / name).is_dir()), None)
            if found is None and controller == "cpuset" and tree.version == 1:
                del cgroup.trees[controller], cgroup.paths[controller]   # made without --cpuset-cpus
                continue
            cgroup.paths[controller] = found or cgroup.paths[controller]
        return cgroup

    def _make(self, tree: Hierarchy) -> None:
        """mkdir our directory; in v2 first hand the controllers down to it."""
        for attempt in range(5):  # a concurrent remove() may rmdir minidock/ between the two mkdirs
            try:
                tree.base().mkdir(parents=True, exist_ok=True)
                if tree.version == 2:
                    self._enable(tree)
                elif self.trees.get("memory") == tree:
                    _hierarchical(tree.base())
                (tree.base() / self.name).mkdir(exist_ok=True)
                return
            except FileNotFoundError:
                if attempt == 4:
                    raise

    def _enable(self, tree: Hierarchy) -> None:
        """Write ``+memory +pids +cpu`` into cgroup.subtree_control of minidock/'s parent, then of minidock/."""
        wanted = [c for c, t in self.trees.items() if t == tree and c not in ANY_V2]
        for parent in (tree.mount / tree.own, tree.base()):
            enabled = (parent / "cgroup.subtree_control").read_text().split()
            for c in [c for c in wanted if c not in enabled]:
                try:
                    (parent / "cgroup.subtree_control").write_text(f"+{c}")
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        raise
                    wanted.remove(c)
                    self.missing[c] = (f"cgroup v2 cannot hand {c} down from {parent}: it has processes "
                                       "of its own (the no-internal-process rule)")
                    del self.trees[c], self.paths[c]

    def _pin(self, cpus: str) -> None:
        """``--cpuset-cpus``: v1's cpuset starts a new cgroup with no CPUs and no memory nodes (unless
        its parent's cgroup.clone_children), and takes no task until both are set, so minidock/ and
        the container's cgroup get them first, from the parent; v2's inherits them."""
        tree = self.trees["cpuset"]
        if tree.version == 1:
            for d in (tree.base(), self.dir("cpuset")):
                for name in ("cpuset.mems", "cpuset.cpus"):
                    if not (d / name).read_text().strip():
                        (d / name).write_text((d.parent / name).read_text().strip() or "\n")
        (self.dir("cpuset") / "cpuset.cpus").write_text(cpus)

    def _limit(self, memory: int | None, pids: int | None, cpus: float | None) -> None:
        """Write the limits asked for (None, 0 or less: none, as in Docker) where the controller is."""
        for controller, value in (("memory", memory), ("pids", pids)):
            if value and value > 0 and controller in self.trees:
                self._file(controller, LIMIT).write_text(str(value))
        if cpus and cpus > 0 and "cpu" in self.trees:  # Docker's --cpus: a CFS quota per period
            for filename, text in CPU_MAX[self.trees["cpu"].version]:
                (self.dir("cpu") / filename).write_text(text.format(quota=int(cpus * PERIOD_US), period=PERIOD_US))

    def update(self, *, memory: int | None = None, pids: int | None = None, cpus: float | None = None) -> None:
        """``docker update``: change limits of a live cgroup; None leaves one as it is, 0 or less lifts it.

        The kernel refuses a memory limit below what the cgroup uses now (v1: EBUSY;
        v2 reclaims, then OOM-kills), so a limit that cannot be met says so.
        """
        for controller, value in (("memory", memory), ("pids", pids)):
            if value is not None:
                self._write(controller, self._file(controller, LIMIT), str(value) if value > 0 else
                            "-1" if (controller, self.trees[controller].version) == ("memory", 1) else "max")
        if cpus is not None:
            self._needs("cpu")
            version = self.trees["cpu"].version
            quota = int(cpus * PERIOD_US) if cpus > 0 else -1 if version == 1 else "max"  # no limit
            for filename, text in CPU_MAX[version]:
                self._write("cpu", self.dir("cpu") / filename, text.format(quota=quota, period=PERIOD_US))

    def _needs(self, controller: str) -> None:
        if controller not in self.trees:
            raise OSError(errno.ENOENT, self.missing.get(controller, f"no {controller} controller"))

    def _write(self, controller: str, path: Path, value: str) -> None:
        """Write one control file; what the kernel refuses comes back as an OSError naming the file."""
        self._needs(controller)
        try:
            path.write_text(value)
        except OSError as e:
            raise OSError(e.errno, f"cannot write {value} to {path.name}: {e.strerror}") from None

    def freeze(self, frozen: bool = True, timeout: float = 5.0) -> None:
        """Freeze (``pause``) or thaw (``unpause``) every process of the cgroup, and wait until it is so.

        v1's freezer goes through FREEZING while it stops each task (freezer-subsystem.rst);
        v2 says it is done by "frozen 1" in cgroup.events (cgroup-v2.rst).  A frozen task
        does not run, not even to die: SIGKILL waits for the thaw in v1.
        """
        self._needs("freezer")
        version = self.trees["freezer"].version
        filename, on, off = FREEZE[version]
        self._write("freezer", self.dir("freezer") / filename, on if frozen else off)
        deadline = time.monotonic() + timeout
        while self.frozen() != frozen:
            if time.monotonic() > deadline:
                raise OSError(errno.ETIMEDOUT, f"the cgroup did not {'freeze' if frozen else 'thaw'} "
                                               f"within {timeout:g} seconds")
            time.sleep(0.01)

    def frozen(self) -> bool:
        """Whether the cgroup is frozen now (v1: freezer.state reads FROZEN; v2: cgroup.events says frozen 1)."""
        if "freezer" not in self.trees:
            return False
        d = self.dir("freezer")
        try:
            if self.trees["freezer"].version == 1:
                return (d / "freezer.state").read_text().strip() == "FROZEN"
            return "frozen 1" in (d / "cgroup.events").read_text().splitlines()
        except FileNotFoundError:
            return False

    def _file(self, controller: str, table: dict) -> Path:
        """A control file, named by the table for the version that holds ``controller``."""
        return self.dir(controller) / table[controller, self.trees[controller].version]

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into this cgroup, in every hierarchy."""
        for d in self.dirs():
            (d / "cgroup.procs").write_text(str(pid))

    def warm(self) -> None:
        """Start, on a thread, the wait the kernel makes before the first move into a cgroup.

        A write to any v1 cgroup.procs takes the cgroup threadgroup lock for
        writing, which first waits out an RCU grace period (~25 ms here) unless
        another writer did so just before.  Moving ourselves into the cgroup we
        are already in is such a writer: started now, it has done the waiting
        by the time the container's process is moved in.
        """
        v1 = [tree for tree in self.trees.values() if tree.version == 1]
        if v1:
            threading.Thread(target=_write_quietly, args=(v1[0].own_procs(), os.getpid()), daemon=True).start()

    def pids(self) -> list[int]:
        """The processes in this cgroup (a process is in all its directories, or on its way out)."""
        found = set()
        for d in self.dirs():
            try:
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except FileNotFoundError:
                pass
        return sorted(found)

    def stats(self) -> dict:
        """Usage and limits, as ``docker stats`` shows them; None where a controller is missing."""
        return {"memory_usage": self._read("memory", USAGE), "memory_limit": self._read("memory", LIMIT),
                "pids_current": self._read("pids", USAGE), "pids_limit": self._read("pids", LIMIT),
                "cpu_usage_ns": self._read("cpuacct", USAGE)}

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer killed a process of this cgroup (its memory limit was hit):
        what ``inspect`` calls State.OOMKilled.  Read before ``remove``, which takes the counter with it."""
        if "memory" not in self.trees:
            return False
        try:
            lines = (self.dir("memory") / OOM_EVENTS[self.trees["memory"].version]).read_text().splitlines()
        except FileNotFoundError:
            return False
        return any(line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in lines)

    def _read(self, controller: str, files: dict) -> int | None:
        """One number from a control file: "max" and v1's huge memory limit mean None."""
        if controller not in self.trees:
            return None
        text = self._file(controller, files).read_text()
        if text.startswith("usage_usec"):  # v2 cpu.stat: "usage_usec N\nuser_usec ..."
            return int(text.split()[1]) * 1000
        value = None if text.strip() == "max" else int(text)
        return None if value is not None and value >= UNLIMITED else value

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to every process in the cgroup.

        For SIGKILL, v2's ``cgroup.kill`` does it in the kernel, forks
        included; otherwise it is a list-then-kill loop, repeated while a
        process forked between the two (up to a second).
        """
        v2 = [c for c, tree in self.trees.items() if tree.version == 2]
        if sig == signal.SIGKILL and v2 and (self.dir(v2[0]) / "cgroup.kill").exists():
            (self.dir(v2[0]) / "cgroup.kill").write_text("1")  # Linux 5.14+
            return
        deadline = time.monotonic() + 1
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if sig != signal.SIGKILL:
                return
            time.sleep(0.01)

    def remove(self, timeout: float = 2.0) -> None:
        """Kill what is left, then rmdir every directory; fine if already gone.

        rmdir fails with EBUSY until the killed tasks have finished exiting,
        so it is retried for up to ``timeout`` seconds.
        """
        with contextlib.suppress(OSError):  # a frozen task cannot die (v1): thaw it first
            if self.frozen():
                self.freeze(False)
        self.kill()
        deadline = time.monotonic() + timeout
        for d in self.dirs():
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise OSError(e.errno, f"cannot remove cgroup {d}: {e.strerror}") from None
                    time.sleep(0.02)
        for d in self.dirs():
            try:
                d.parent.rmdir()  # the shared minidock/, when this was its last cgroup
            except OSError:
                pass


def _hierarchical(base: Path) -> None:
    """Before Linux 5.11 a v1 memory cgroup could be non-hierarchical (``memory.use_hierarchy`` 0):
    its children's usage would not count against its limit.  Ask for 1 while ``base`` has no
    children (the only time it can change); since 5.11 it always reads 1.
    """
    flag = base / "memory.use_hierarchy"
    try:
        if flag.read_text().strip() == "0":
            flag.write_text("1")
    except OSError:
        pass  # the parent decides (its own use_hierarchy is 1), or children exist already


def _minidock_dirs(tree: Hierarchy):
    """Every ``minidock/`` directory in a tree, ours first."""
    yield tree.base()
    for path, subdirs, _ in os.walk(tree.mount):
        if os.path.basename(path) == "minidock":
            subdirs.clear()  # a container's cgroup has no minidock/ of ours inside
            if Path(path) != tree.base():
                yield Path(path)


def exists(name: str) -> bool:
    """Whether a cgroup of that name is there, in any hierarchy."""
    return any(d.exists() for d in Cgroup.open(name).dirs())


def all_names() -> list[str]:
    """The names of minidock's cgroups present now, wherever in the trees they were made."""
    names = set()
    for tree in set(hierarchies()[0].values()):
        for base in _minidock_dirs(tree):
            if base.is_dir():
                names.update(p.name for p in base.iterdir() if p.is_dir())
    return sorted(names)


def _write_quietly(procs: Path, pid: int) -> None:
    """Move ``pid`` by its cgroup.procs; a refusal (v2's no-internal-process rule, say) leaves it where it is."""
    with contextlib.suppress(OSError):
        procs.write_text(str(pid))
