"""Chapter 03 in a real browser: JupyterLab on 127.0.0.1, Debian's chromium driven by Playwright.

nbval (``make test``) checks what the chapters print; this checks what a learner *sees*: the
chapter is run with JupyterLab's own "Run All Cells", the layer pictures (SVG) must be on the
page, and the layer slider widget must answer (move it and the file list changes), which needs
the ipywidgets front end, the kernel and the browser all working together.

The server serves a copy of the chapter in a temp dir (autosave never touches ``notebooks/``),
the chapter's store goes under the test's tmp dir (``MINIDOCK_COURSE_DIR``), and screenshots,
the server's log and the executed notebook go to ``tests/artifacts/browser/`` (or
``$MINIDOCK_TEST_ARTIFACTS/browser``). Playwright never downloads a browser here: it launches
``/usr/bin/chromium`` (``make setup`` installs Debian's package).
"""

from __future__ import annotations

import ipaddress
import json
import re
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = [pytest.mark.root, pytest.mark.browser]  # chapter 03 mounts overlays and runs containers

# chapter 03 in each edition: the Chinese one's pictures and slider speak Chinese, its cells are the same
EDITIONS = {"en": (REPO / "notebooks" / "03-union-fs.ipynb", " through the layers"),
            "zh": (REPO / "notebooks" / "zh" / "03-union-fs.ipynb", " 在各层中")}
CHAPTER = EDITIONS["en"][0]
CHROMIUM = Path("/usr/bin/chromium")
# as root chromium needs --no-sandbox; the rest keep it from calling out (the network is closed)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START = 60       # seconds for JupyterLab to answer
RUN_ALL = 240           # seconds for the whole chapter (about a minute here)
SLIDER_ANSWER = 20      # seconds for the kernel to redraw the file list after the slider moves
# JupyterLab's settings for this run (not the user's): every cell in the DOM (no windowing, so
# all prompts and outputs can be read), and no news or update checks (they would call out)
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
}


# two different Chinese characters drawn alike are two "missing glyph" boxes: no font has them
CJK_DRAWN = """() => { const canvas = document.createElement('canvas'); canvas.width = canvas.height = 40;
    const pen = canvas.getContext('2d'); pen.font = '32px sans-serif';
    const drawn = t => { pen.clearRect(0, 0, 40, 40); pen.fillText(t, 2, 34);
                         return pen.getImageData(0, 0, 40, 40).data.join(','); };
    return drawn('镜') !== drawn('像'); }"""


def artifacts_dir(edition: str) -> Path:
    base = os.environ.get("MINIDOCK_TEST_ARTIFACTS")
    path = (Path(base) if base else REPO / "tests" / "artifacts") / "browser" / edition
    shutil.rmtree(path, ignore_errors=True)  # only this test's files: no stale screenshots
    path.mkdir(parents=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (kernels, their children), read from /proc: PID -> start time."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found, todo = {}, [pid]
    while todo:
        for child, start in children.get(todo.pop(), []):
            found[child] = start
            todo.append(child)
    return found


def start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Lab:
    """``jupyter lab`` on 127.0.0.1 with a token, serving ``root_dir``; ``stop`` ends it and its kernels."""

    def __init__(self, root_dir: Path, work: Path, log: Path):
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        settings = work / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values))
        config = work / "jupyter-config"
        config.mkdir()
        (config / "jupyter_lab_config.json").write_text(json.dumps({"LabApp": {
            "user_settings_dir": str(settings), "workspaces_dir": str(work / "workspaces"),
            "news_url": None, "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "extension_manager": "readonly"}}))
        (work / "tmp").mkdir()
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ,
               "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",  # `!minidock ...` cells
               "MINIDOCK_COURSE_DIR": str(work / "course"),  # course.start's store: this test's own
               "TMPDIR": str(work / "tmp"),                  # the chapter's scratch dir and its mounts
               "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
               "JUPYTER_CONFIG_DIR": str(config)}             # the settings above, not the user's
        env.pop("MINIDOCK_ROOT", None)
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [str(Path(bin_dir) / "jupyter"), "lab", "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root_dir}"],
            cwd=root_dir, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.started: dict[int, str] = {}

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}/api{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"jupyter lab exited with {self.proc.returncode}; see {self.log.name}")
            try:
                self.api("/status")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        raise AssertionError(f"jupyter lab did not answer on {self.url}/api in {SERVER_START} s")

    def remember_kernels(self) -> None:
        """Note the kernels' PIDs while the server runs, so that ``kill_remaining`` can make sure they end."""
        self.started.update(descendants(self.proc.pid))

    def stop(self) -> None:
        """Shut the kernels down, then the server (SIGTERM, SIGKILL after 20 s)."""
        self.remember_kernels()
        if self.proc.poll() is None:
            try:  # a clean shutdown first: the kernels' own atexit handlers run
                for kernel in self.api("/kernels"):
                    self.api(f"/kernels/{kernel['id']}", method="DELETE")
            except (OSError, urllib.error.URLError, ValueError):
                pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill_remaining(self) -> list[int]:
        """SIGKILL what the server started and is still there (same PID *and* start time: ours)."""
        killed = []
        for pid, start in self.started.items():
            if start_time(pid) == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
        return killed


def remove_leftovers(work: Path) -> None:
    """Containers the chapter leaves in its store if it stops halfway (its last cells remove them)."""
    import minidock
    store = work / "course" / CHAPTER.stem
    if (store / "containers").is_dir():
        for container in minidock.Client(store).containers.list(all=True):
            container.remove(force=True)


def unmount_leftovers(work: Path) -> None:
    """Mounts under the test's dir (the chapter's section 1 mounts one in its scratch dir)."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in reversed(mounts):
        if point.startswith(str(work) + "/"):
            subprocess.run(["umount", "-l", point], check=False)


def own_network(monkeypatch) -> None:
    """A bridge and a /24 of this test's own (the chapter runs a container), never the host's minidock0."""
    from minidock.errors import APIError
    from minidock.runtime import network
    monkeypatch.setenv("MINIDOCK_BRIDGE", f"mdb{os.getpid() & 0xFFFFFF:06x}")
    for k in range(256):
        candidate = ipaddress.IPv4Network(f"10.198.{(os.getpid() + k) % 256}.0/24")
        try:
            network.check_overlap(candidate)
            monkeypatch.setenv("MINIDOCK_SUBNET", str(candidate))
            return
        except APIError:
            continue
    pytest.skip("no free /24 in 10.198.0.0/16 for the test bridge")


@pytest.fixture(params=sorted(EDITIONS))
def lab(request, tmp_path, monkeypatch):
    """JupyterLab serving a copy of the chapter in one edition; afterwards no server, kernel, container,
    mount or bridge."""
    own_network(monkeypatch)
    served = tmp_path / "served"
    served.mkdir()
    chapter, title = EDITIONS[request.param]
    shutil.copy2(chapter, served / CHAPTER.name)
    artifacts = artifacts_dir(request.param)
    server = Lab(served, tmp_path, artifacts / "jupyter-lab.log")
    server.artifacts, server.served = artifacts, served / CHAPTER.name
    server.edition, server.title = request.param, title
    try:
        server.wait_ready()
        yield server
    finally:
        from minidock.runtime import network
        server.stop()
        remove_leftovers(tmp_path)       # before the kill: containers are removed by minidock, not SIGKILL
        server.kill_remaining()
        unmount_leftovers(tmp_path)
        network.remove_bridge()


@pytest.fixture
def browser(lab):
    """Debian's chromium, headless, under Playwright (which never downloads a browser of its own here)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- what the page shows -------------------------------------------------------------------

# The prompt of every code cell: "[ ]:" not run, "[*]:" queued or running, "[7]:" done.
PROMPTS = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
                     .map(p => p.textContent.trim())"""


def wait_for_prompts(page, done, timeout: float, what: str) -> list[str]:
    """Poll the prompts until ``done(prompts)``; the last prompts if it never is."""
    deadline = time.monotonic() + timeout
    prompts = page.evaluate(PROMPTS)
    while not done(prompts):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s; prompts {prompts}")
        page.wait_for_timeout(500)
        prompts = page.evaluate(PROMPTS)
    return prompts


class KernelWatch:
    """What the page's kernel websocket brings: its first kernel_info_reply, and every error message."""

    def __init__(self, page):
        self.answered = False
        self.errors: list[str] = []  # "ename: evalue" of each error message (a cell's, or a widget callback's)
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws) -> None:
        if "/api/kernels/" in ws.url and "/channels" in ws.url:
            ws.on("framereceived", self._on_frame)

    def _on_frame(self, frame) -> None:
        data = frame if isinstance(frame, bytes) else frame.encode()
        self.answered = self.answered or b"kernel_info_reply" in data
        if b'"ename"' in data:
            text = data.decode(errors="replace")
            found = re.search(r'"ename":\s*"((?:[^"\\]|\\.)*)",\s*"evalue":\s*"((?:[^"\\]|\\.)*)"', text)
            self.errors.append(f"{found[1]}: {found[2]}" if found else text[-300:])


def menu(page, title: str, command: str) -> None:
    """Click a menu of the menu bar, then one of its items (by the command it runs)."""
    page.locator(".lm-MenuBar-item", has_text=title).first.click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').first.click()


def press_and_wait(page, handle, key: str, files, shown: str) -> str:
    """Press ``key`` on the slider's handle; the file list once it is no longer ``shown`` (or after a while)."""
    handle.focus()
    page.keyboard.press(key)
    deadline = time.monotonic() + SLIDER_ANSWER
    while (text := files.inner_text()) == shown and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    return text


def layer_pictures(page) -> list[dict]:
    """Each rendered SVG output: its source (JupyterLab shows SVG as an <img> of a data URL) and size."""
    return page.evaluate("""() => [...document.querySelectorAll('.jp-OutputArea-output.jp-RenderedSVG img')]
        .map(img => ({source: decodeURIComponent(img.src.replace(/^data:image\\/svg\\+xml,/, '')),
                      loaded: img.complete && img.naturalWidth > 0,
                      width: img.getBoundingClientRect().width, height: img.getBoundingClientRect().height}))""")


def test_chapter_03_in_jupyterlab(lab, browser):
    """Run All Cells in the browser: no cell fails, the layer pictures show, the layer slider answers."""
    shots = lab.artifacts
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        kernel = KernelWatch(page)
        page.goto(f"{lab.url}/lab/tree/{CHAPTER.name}?token={lab.token}", wait_until="domcontentloaded")
        page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=SERVER_START * 1000)
        # the toolbar says "idle" from the kernel's REST model, before the page is connected to it;
        # cells run before the kernel's first answer on the page's websocket are dropped, not queued
        deadline = time.monotonic() + SERVER_START
        while not kernel.answered:
            assert time.monotonic() < deadline, f"the kernel did not answer the page in {SERVER_START} s"
            page.wait_for_timeout(200)
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for(timeout=10_000)
        lab.remember_kernels()

        # start from a page without the stored outputs, so everything checked below is this run's
        menu(page, "Edit", "editmenu:clear-all")
        wait_for_prompts(page, lambda ps: ps and not any(p.strip("[]:").strip() for p in ps), 10,
                         "clearing the stored outputs")
        started = time.monotonic()
        menu(page, "Run", "runmenu:run-all")
        wait_for_prompts(page, lambda ps: any("*" in p for p in ps) or ps[0] != "[ ]:", 10,
                         "Run All Cells starting")
        lab.remember_kernels()
        prompts = wait_for_prompts(page, lambda ps: not any("*" in p for p in ps), RUN_ALL, "Run All Cells")
        elapsed = time.monotonic() - started
        page.screenshot(path=shots / "01-run-all.png")

        # what the kernel made, as the notebook file holds it after a save
        saved_before = lab.served.stat().st_mtime_ns
        menu(page, "File", "docmanager:save")
        deadline = time.monotonic() + 20
        while lab.served.stat().st_mtime_ns == saved_before or page.locator(".lm-TabBar-tab.jp-mod-dirty").count():
            assert time.monotonic() < deadline, "File > Save did not save the notebook in 20 s"
            page.wait_for_timeout(200)
        shutil.copy2(lab.served, shots / CHAPTER.name)
        executed = json.loads(lab.served.read_text())
        errors = [(cell.get("id"), "\n".join(out.get("traceback", []))[-1500:])
                  for cell in executed["cells"] for out in cell.get("outputs", [])
                  if out.get("output_type") == "error"]
        assert not errors, f"cells failed: {errors}"
        assert all(p.strip("[]:").strip().isdigit() for p in prompts), \
            f"not every cell ran after {elapsed:.0f} s: {prompts}"

        # the Chinese edition's characters are drawn, not boxes (a font that has them is installed)
        assert page.evaluate(CJK_DRAWN), "the browser draws 镜 and 像 alike: no Chinese font (make setup)"

        # the layer pictures: SVG from graphviz, loaded and with a size on the page
        pictures = layer_pictures(page)
        assert len(pictures) >= 2, f"expected the image's and the container's layer pictures, got {len(pictures)}"
        for picture in pictures:
            assert picture["source"].lstrip().startswith(("<?xml", "<svg", "<!--")) and "<svg" in picture["source"]
            assert picture["loaded"] and picture["width"] > 100 and picture["height"] > 50, picture | {"source": "..."}
        assert any(lab.title in p["source"] and "whiteout" in p["source"] for p in pictures), lab.edition
        assert any(">upper<" in p["source"] for p in pictures), "no picture shows the container's upper layer"
        page.locator(".jp-OutputArea-output.jp-RenderedSVG").first.screenshot(path=shots / "02-layer-picture.png")

        # the layer slider: an ipywidgets slider and the file list it redraws
        files = page.locator("pre.minidock-layer-files")
        assert files.count() == 1, \
            f"expected one layer slider's file list (pre.minidock-layer-files), found {files.count()}"
        cell = page.locator(".jp-CodeCell", has=files)
        handle = cell.locator(".widget-slider [role=slider]")
        assert handle.count() == 1, f"expected one slider beside the file list, found {handle.count()}"
        cell.scroll_into_view_if_needed()
        before, value = files.inner_text(), handle.get_attribute("aria-valuenow")
        assert before.strip(), "the file list is empty"
        cell.screenshot(path=shots / "03-slider-before.png")
        at_bottom = float(value) <= float(handle.get_attribute("aria-valuemin"))
        there, back = ("ArrowRight", "ArrowLeft") if at_bottom else ("ArrowLeft", "ArrowRight")
        seen_errors = len(kernel.errors)
        after = press_and_wait(page, handle, there, files, before)
        cell.screenshot(path=shots / "04-slider-after.png")
        page.screenshot(path=shots / "05-page-after-slider.png")
        assert handle.get_attribute("aria-valuenow") != value, f"{there} did not move the slider from {value}"
        assert after != before, (f"moving the slider from {value} left the file list as it was; the kernel's errors "
                                 f"since: {kernel.errors[seen_errors:]} (after Run All, the chapter's last cell has "
                                 f"removed its store: a slider that reads it at every move has nothing to read)"
                                 f"\n{before}")
        assert "/etc/" in after, f"the file list after the move lists nothing under /etc:\n{after}"
        # and back: the list it showed first
        again = press_and_wait(page, handle, back, files, after)
        assert handle.get_attribute("aria-valuenow") == value, f"{back} did not move the slider back to {value}"
        assert again == before, f"moving the slider back did not give the first list:\n{again}"
        raised = kernel.errors[seen_errors:]
        assert not raised, f"the slider's moves raised in the kernel: {raised}"
    except BaseException:
        try:
            page.screenshot(path=shots / "failed.png")
        except Exception:  # a crashed page: the first error is the one to see
            pass
        raise
    finally:
        (shots / "browser-console.log").write_text("\n".join(console) + "\n")
        page.close()
