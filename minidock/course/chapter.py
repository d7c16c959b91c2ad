"""Helpers for the course's notebooks: a fresh store per chapter, and exercise checks.

Every chapter starts with one visible line::

    client = minidock.course.start("01-images")

which gives the notebook a store of its own (so chapters run alone, in any
order, and never touch the teacher's images), makes the base image in it, and
fixes the clock images are stamped with, so every image ID printed in a
chapter is the same on every machine, run after run.

Each chapter ends with exercises, each checked by one line (``minidock/course/exercises/``)::

    course.check("01-images", 3, client)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..api.client import Client
from . import lang
from .lang import use

# 2023-11-14T22:13:20Z: the time every image made in a chapter claims
# (reproducible-builds.org's SOURCE_DATE_EPOCH), so IDs do not depend on when
# a notebook ran.
COURSE_EPOCH = 1700000000


def course_root(chapter: str) -> Path:
    """Where a chapter's store lives: under MINIDOCK_COURSE_DIR, else the learner's own cache directory.

    Never a shared temp directory: on a machine with a class, /tmp/minidock-course would be one path for
    every learner, and whoever made it first could plant a symlink there for the next one to follow.  The
    XDG Base Directory rule puts what may be deleted without loss in ``$XDG_CACHE_HOME``
    (``~/.cache`` when unset) -- a chapter's store is remade by ``start``.
    """
    base = os.environ.get("MINIDOCK_COURSE_DIR") or \
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minidock-course"
    return Path(base) / chapter


def free_port(preferred: int) -> int:
    """A host port on 127.0.0.1 for a chapter to publish: ``preferred`` if it is free to bind, else one the
    kernel picks (bind(2) to port 0); also set as ``$PORT`` for ``!minidock run -p 127.0.0.1:$PORT:...``.

    Two learners on one network (one machine, one class) would otherwise both ask for the same port and
    the second would get docker's "port is already allocated"; where ``preferred`` is free (CI, a learner
    in a network namespace of their own) the chapter prints what it always printed.
    """
    import socket
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:          # EADDRINUSE: someone else has it
            probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ["PORT"] = str(port)
    return port


def start(chapter: str, lang: str | None = None) -> Client:
    """A fresh store for ``chapter`` with ``busybox:latest`` in it; the CLI uses it too.  ``lang``: the
    edition ("en", "zh") the course speaks in (``lang.py``)."""
    if lang is not None:
        use(lang)
    root = course_root(chapter)
    _current["chapter"] = chapter
    _remove_containers(root)  # a chapter that stopped halfway may have left some running
    shutil.rmtree(root, ignore_errors=True)
    _enter_workdir(root)
    os.environ["MINIDOCK_ROOT"] = str(root)          # for `!minidock ...` cells
    os.environ["SOURCE_DATE_EPOCH"] = str(COURSE_EPOCH)
    client = Client(root)
    client.images.bootstrap()
    _register_needs()
    print(mode_line())
    return client


def workdir(root: Path) -> Path:
    """The chapter's scratch working directory, beside its store: the files a chapter writes (a
    Dockerfile, a saved archive) go there, never into ``notebooks/``, and go with it at the end."""
    return root.with_name(root.name + ".work")


def _enter_workdir(root: Path) -> None:
    """Make the chapter's working directory the notebook's, remembering where the notebook was
    (``finish`` goes back); ``COURSE_DOCS`` names the repository's ``docs/`` for shell cells."""
    if "COURSE_NOTEBOOK_DIR" not in os.environ:
        os.environ["COURSE_NOTEBOOK_DIR"] = os.getcwd()
    os.environ["COURSE_DOCS"] = str(Path(__file__).resolve().parents[2] / "docs")
    work = workdir(root)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.chdir(work)


def _leave_workdir(root: Path) -> None:
    back = os.environ.pop("COURSE_NOTEBOOK_DIR", None)
    if back and Path.cwd() == workdir(root):
        os.chdir(back)
    shutil.rmtree(workdir(root), ignore_errors=True)


def mode_line() -> str:
    """One line saying which run mode the chapter runs in and what is real in it."""
    from ..api.system import mode
    name, why = mode.detect()
    real = [feature for feature, used in mode.ISOLATES[name].items() if used]
    namespaces = [feature for feature in real if feature in mode.NAMESPACES]
    if lang.current() == "zh":
        real = ([f"{'、'.join(namespaces)} 命名空间"] if namespaces else []) + \
            [FEATURES_ZH.get(f, f) for f in real if f not in mode.NAMESPACES]
        line = f"运行模式：{name}（{WHY_ZH.get(why, why)}）。这里真实可用：{'；'.join(real) or '没有任何隔离'}。"
        return line + ("" if name == "root" else "以 %%needs 开头的单元格会说明缺少什么，而不是运行。")
    real = ([f"{', '.join(namespaces)} namespaces"] if namespaces else []) + \
        [f for f in real if f not in mode.NAMESPACES]
    line = f"Run mode: {name} ({why}). Real here: {'; '.join(real) or 'no isolation at all'}."
    if name != "root":
        line += " Cells that begin with %%needs say what they lack instead of running."
    return line


# the mode line's words in the Chinese edition (runtime/mode.py's reasons and features)
WHY_ZH = {"chosen with MINIDOCK_MODE": "由 MINIDOCK_MODE 选定",
          "uid 0 with CAP_SYS_ADMIN": "uid 0，具备 CAP_SYS_ADMIN",
          "not root, but user namespaces are allowed": "不是 root，但允许用户命名空间",
          "no root and no user namespaces; proot is installed": "没有 root，也没有用户命名空间；已安装 proot",
          "no root and no user namespaces (install proot to run containers)":
              "没有 root，也没有用户命名空间（安装 proot 才能运行容器）"}
FEATURES_ZH = {"overlayfs": "overlayfs", "cgroup limits": "cgroup 资源限制", "bridge network": "网桥网络",
               "host root": "宿主机上的 root"}


# what a cell may need beyond the mode's own isolation (runtime/mode.py's ISOLATES)
HOST_ROOT = "host root"  # uid 0 on the host itself: util-linux's nsenter, mount(8), /run/minidock
SECCOMP = "seccomp"      # containers get Docker's seccomp filter (runtime/mode.py's SECURITY_OPTIONS)


def lacking(*needs: str) -> list[str]:
    """Which of ``needs`` (ISOLATES' keys, or HOST_ROOT) this machine's run mode does not have."""
    from ..api.system import mode
    name = mode.detect()[0]
    have = {**mode.ISOLATES[name], HOST_ROOT: name == "root", SECCOMP: bool(mode.SECURITY_OPTIONS[name])}
    unknown = [need for need in needs if need not in have]
    if unknown:
        raise ValueError(f"unknown needs {unknown}: choose from {sorted(have)}")
    return [need for need in needs if not have[need]]


def needs(line: str, cell: str) -> None:
    """The ``%%needs FEATURE[, FEATURE...]`` cell magic: run the cell only where the run mode has them.

    Where it does not (Binder's chroot-emulated mode, say), the cell prints
    plainly why it cannot run here, then what it showed when it ran in the
    root mode, so the learner still sees it; the rest of the chapter goes on.
    Where it runs in the root mode while the notebooks are regenerated
    (``make regen-notebooks`` sets ``MINIDOCK_COURSE_RECORD``), what it prints
    is recorded for that (``recording``); a test run or a learner's run
    writes nothing into the repository.  The body may itself start with a cell magic (``%%bash``).
    """
    from IPython import get_ipython
    from ..api.system import mode
    missing = lacking(*(need.strip() for need in line.split(",") if need.strip()))
    name, why = mode.detect()
    record = recording(cell)
    if missing:
        print(lang.say(f"[not run in the {name} mode ({why}): this cell needs {', '.join(missing)}; "
                       "the root mode (a VM as root) runs it]",
                       f"[未在 {name} 模式（{WHY_ZH.get(why, why)}）下运行：这个单元格需要 "
                       f"{'、'.join(FEATURES_ZH.get(m, m) for m in missing)}；root 模式（以 root 身份运行的虚拟机）会运行它]"))
        if record is not None and record.is_file():
            print(lang.say("what it showed in the root mode:", "它在 root 模式下显示的是："))
            print(record.read_text(), end="")
        return
    shell = get_ipython()
    with _teed() as shown:
        result = shell.run_cell(cell, store_history=False)
    if result.result is not None:  # the cell's value, as Out[] shows it in text (a picture's text twin)
        shown.append(shell.display_formatter.format(result.result)[0].get("text/plain", "") + "\n")
    if record is not None and name == "root" and result.success and os.environ.get("MINIDOCK_COURSE_RECORD"):
        with contextlib.suppress(OSError):  # a read-only checkout: the cell ran, only its recording is lost
            _write_atomically(record, "".join(shown))
    result.raise_error()


def recording(cell: str) -> Path | None:
    """Where the root mode's output of the ``%%needs`` cell with body ``cell`` is kept:
    ``recorded/<chapter>/<first 16 hex of sha256 of the body>.txt`` beside the notebook (None outside a
    chapter).  A changed body is another file: tests/test_recorded.py finds recordings no cell has."""
    here, chapter = os.environ.get("COURSE_NOTEBOOK_DIR"), _current.get("chapter")
    if not here or not chapter:
        return None
    return Path(here) / "recorded" / chapter / f"{cell_digest(cell)}.txt"


def cell_digest(cell: str) -> str:
    """The name of a cell body's recording: surrounding blank lines do not count."""
    return hashlib.sha256(cell.strip().encode()).hexdigest()[:16]


@contextlib.contextmanager
def _teed():
    """Copy what the cell writes to stdout and stderr into a list, in order, while it still shows."""
    shown: list[str] = []
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (_Tee(stream, shown) for stream in streams)
    try:
        yield shown
    finally:
        sys.stdout, sys.stderr = streams


class _Tee:
    """A text stream that writes through to ``stream`` and keeps a copy."""

    def __init__(self, stream, copy: list[str]):
        self.stream, self.copy = stream, copy

    def write(self, text: str) -> int:
        self.copy.append(text)
        return self.stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename: a reader never sees half of it."""
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(temp, path)


_current: dict[str, str] = {}  # the chapter ``start`` began, for ``recording``


def _register_needs() -> None:
    """Make ``%%needs`` available in the notebook that called ``start`` (nothing outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.register_magic_function(needs, magic_kind="cell")


def registry(client: Client):
    """Start the chapter's own registry on 127.0.0.1 (a free port), as the course's Docker Hub.

    ``REGISTRY`` (its ``HOST:PORT``) and ``MINIDOCK_REGISTRY_MIRROR`` (so that
    ``pull busybox`` asks it, not Docker Hub) are set for ``!minidock`` cells;
    credentials go to a config dir of the chapter's own.  ``finish`` stops it.
    """
    from ..api.registry import RegistryServer
    server = RegistryServer(client.store.root / "registry").start()
    _registries.append(server)
    os.environ["REGISTRY"] = server.address
    os.environ["MINIDOCK_REGISTRY_MIRROR"] = server.url
    os.environ["MINIDOCK_CONFIG"] = str(client.store.root / "config")
    return server


_registries: list = []


def finish(client: Client) -> None:
    """Remove the chapter's containers, registry, store and working directory (going back to the
    notebook's): the course leaves nothing behind."""
    while _registries:
        _registries.pop().stop()
    for name in ("REGISTRY", "MINIDOCK_REGISTRY_MIRROR", "MINIDOCK_CONFIG"):
        os.environ.pop(name, None)
    _remove_containers(client.store.root)
    shutil.rmtree(client.store.root, ignore_errors=True)
    _leave_workdir(client.store.root)


def _remove_containers(root: Path) -> None:
    """``rm -f`` every container of the store at ``root``, if there is one."""
    if (root / "containers").is_dir():
        client = Client(root)
        for container in client.containers.list(all=True):
            container.remove(force=True)
