"""Shared fixtures: a fresh store per test, the base image, the markers' gates, and CI's no-skip rule.

The markers (declared in pyproject.toml) are the one way a test says what it needs; the gates are here:

* ``root``: uid 0 with CAP_SYS_ADMIN (overlay, namespaces, cgroups, the bridge);
* ``peers("podman", ...)``: the real peer tools named (``make setup`` installs them);
* ``browser``: Debian's chromium and Playwright;
* ``slow``: nothing to gate, but ``make unit`` leaves it out (it runs the chapters as a learner).

Outside CI a test whose needs are missing is skipped, saying why; in CI it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import minidock

REPO = Path(__file__).resolve().parent.parent
IN_CI = bool(os.environ.get("CI"))


def keep_progress_away() -> None:
    """Point MINIDOCK_COURSE_PROGRESS at a temp dir of this session, removed at exit.

    ``course.check`` records each verdict in the progress file of whoever runs it
    (``minidock/course/record.py``); a test session, and the nbval kernels it starts (they inherit its
    environment), must not write into the home of the user running ``make test``.  (``make notebooks``,
    which loads no conftest of ours, sets the variable itself: a second conftest.py under notebooks/
    would clash with this one as the module ``conftest`` when ``make test`` collects both folders.)
    """
    import atexit
    import tempfile
    temp = tempfile.mkdtemp(prefix="minidock-progress-")
    os.environ["MINIDOCK_COURSE_PROGRESS"] = os.path.join(temp, "course-progress.json")
    atexit.register(shutil.rmtree, temp, True)


keep_progress_away()
collect_ignore = ["artifacts"]   # what tests leave to look at (test_browser's executed chapter), not tests


@pytest.fixture(autouse=True)
def own_address_pool(tmp_path, monkeypatch):
    """Each test its own pool of bridge addresses (the host's lives in /run/minidock)."""
    monkeypatch.setenv("MINIDOCK_RUN", str(tmp_path / "run"))


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """A fresh, empty store; MINIDOCK_ROOT points at it for the CLI too."""
    path = tmp_path / "store"
    monkeypatch.setenv("MINIDOCK_ROOT", str(path))
    return path


@pytest.fixture
def client(root) -> minidock.Client:
    return minidock.Client(root)


@pytest.fixture(scope="session")
def busybox_store(tmp_path_factory) -> Path:
    """A store holding busybox:latest, bootstrapped once per test session."""
    if not Path("/bin/busybox").exists():
        pytest.skip("needs /bin/busybox (apt-get install busybox-static)")
    path = tmp_path_factory.mktemp("busybox") / "store"
    minidock.Client(path).images.bootstrap()
    return path


@pytest.fixture
def busybox(busybox_store, root, client) -> minidock.api.images.Image:
    """conftest's ``busybox``, copied from the session's store rather than made again (it is slow)."""
    shutil.copytree(busybox_store, root, symlinks=True, dirs_exist_ok=True)
    return client.images.get("busybox")


@pytest.fixture
def small(client) -> minidock.api.images.Image:
    """``small:1``, a hand-made image of two tiny layers: quicker to move around than busybox."""
    from archives import docker_archive, small_layer  # (archives imports this module)

    (image,) = client.images.load(docker_archive([small_layer("hello"), small_layer("world")], tags=["small:1"]))
    return image


@pytest.fixture
def canary(tmp_path) -> Path:
    """A directory outside the store that hostile archives aim at."""
    path = tmp_path / "canary"
    path.mkdir()
    (path / "keep").write_text("untouched")
    return path


def run_cli(*args: str, input: bytes | None = None, check: bool = False, env=None) -> subprocess.CompletedProcess:
    """Run ``python -m minidock ARGS`` as a user would, capturing its output."""
    proc = subprocess.run([sys.executable, "-m", "minidock", *args], input=input,
                          capture_output=True, env=env, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"minidock {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return proc


def require_tool(name: str) -> str:
    """The path of a peer tool, or skip (outside CI) saying how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs {name} (make setup installs it)")
    return path


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (uid 0 with CAP_SYS_ADMIN)")


ROOT_FIXTURES: set[tuple[str, str]] = set()   # (module file, fixture name)


def root_fixture(*args, **kwargs):
    """``@pytest.fixture`` for a fixture that needs root: every test using it is marked ``root``."""
    def declare(function):
        ROOT_FIXTURES.add((function.__code__.co_filename, function.__name__))
        return pytest.fixture(function, **kwargs)
    return declare(args[0]) if args and callable(args[0]) else declare


def pytest_collection_modifyitems(items):
    """Mark ``root`` each test that uses a root fixture, so ``-m "not root"`` leaves it out too."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if any(name in used and file in (str(item.path), __file__) for file, name in ROOT_FIXTURES):
            item.add_marker(pytest.mark.root)


def pytest_runtest_setup(item):
    """The markers' gates: skip (outside CI) a test whose needs this machine lacks, saying which."""
    if item.get_closest_marker("root"):
        require_root()
    for marker in item.iter_markers("peers"):
        for tool in marker.args:
            require_tool(tool)
    if item.get_closest_marker("browser"):
        require_tool("chromium")
        pytest.importorskip("playwright.sync_api", reason="needs Playwright (make setup installs the test extra)")


@pytest.fixture(scope="session")
def readable_package(tmp_path_factory) -> Path:
    """A copy of the package that any user can read, for tests that run minidock as another uid.

    The clone may lie where only root can read it (a teacher's clone in root's home, which is 0700):
    ``PYTHONPATH`` pointing into it would give that user ``No module named minidock``.
    """
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="minidock-package-"))  # pytest's tmp dirs are root's alone
    os.chmod(base, 0o755)
    shutil.copytree(REPO / "minidock", base / "minidock", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [base, *base.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failed test: nothing may be skipped there."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {report.longrepr}"


def fetched(url: str, tries: int = 100) -> bytes | None:
    """The body at ``url`` (on 127.0.0.1) once something answers there, trying for ~10 s; None if nothing did."""
    import time
    import urllib.request
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            time.sleep(0.1)
    return None
