"""Drive a class's JupyterHub as its learners would: the hub's REST API and the Jupyter kernel protocol.

``Hub`` starts ``jupyterhub -f jupyterhub_config.py`` (root, its own state directory, free ports) with an
admin service token, and stops it by its PID.  Through the hub's REST API it starts a learner's server
(``POST /hub/api/users/NAME/server``) and makes a token for that learner; through the proxy, with that
token, ``Kernel`` starts a kernel in the learner's server (``POST /user/NAME/api/kernels``) and runs code
in it over the websocket ``/user/NAME/api/kernels/ID/channels``: an ``execute_request`` on the shell
channel, then the ``iopub`` messages of that request until the kernel's ``status`` is ``idle`` (the
Jupyter messaging spec, version 5.3).  ``run_notebook`` runs a chapter's code cells so.

The hub test (tests/test_classroom_hub.py), the benchmark (bench/classroom.py) and ``make classroom``
(classroom.py) all use this module; it needs the standard library and websocket-client only.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "jupyterhub_config.py"


class CellFailed(AssertionError):
    """A cell ended with an ``error`` message (an exception in the kernel), or never ended."""


def free_port(host: str) -> int:
    """A port nothing listens on at ``host`` now (the kernel picks it: bind to port 0)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Hub:
    """A JupyterHub for ``learners`` with its files in ``state``; ``settings`` are more of its variables."""
    state: Path
    learners: list[str]
    settings: dict = field(default_factory=dict)
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    process: subprocess.Popen | None = None

    def start(self, *, port: int | None = None, timeout: float = 120) -> "Hub":
        """Start the hub (and through it the proxy) and wait until its API answers."""
        from minidock.classroom.sandbox import HUB_ADDRESS
        self.state.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.port = port or free_port("127.0.0.1")
        env = {**os.environ, **self.settings,
               "MINIDOCK_HUB_STATE": str(self.state), "MINIDOCK_HUB_PORT": str(self.port),
               "MINIDOCK_HUB_API_PORT": str(free_port(HUB_ADDRESS)),
               "MINIDOCK_HUB_PROXY_API_PORT": str(free_port("127.0.0.1")),
               "MINIDOCK_CLASS_LEARNERS": " ".join(self.learners), "MINIDOCK_HUB_SERVICE_TOKEN": self.token,
               "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(32)}
        log = open(self.state / "jupyterhub.log", "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)], cwd=self.state,
                                        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the hub did not start; its log:\n{self.log()[-4000:]}")
            time.sleep(0.5)
        return self

    @property
    def url(self) -> str:
        """The public URL: the proxy, on 127.0.0.1."""
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        """Whether the hub's API answers through the proxy."""
        try:
            self.api("GET", "/")
            return True
        except OSError:
            return False

    def log(self) -> str:
        """What the hub (and the proxy, and the learners' servers) printed so far."""
        return (self.state / "jupyterhub.log").read_text(errors="replace")

    def stop(self, timeout: float = 60) -> None:
        """Stop the hub by its PID (SIGTERM: it stops the learners' servers and the proxy), else kill it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stop_proxy()

    def stop_proxy(self) -> None:
        """Stop the proxy the hub started, if the hub left it (a hub that failed to start does)."""
        try:
            pid = int((self.state / "proxy.pid").read_text())
            if b"configurable-http-proxy" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        """A request to the hub's REST API (``/hub/api`` + ``path``); the JSON answer, or None."""
        return request(method, f"{self.url}/hub/api{path}", token or self.token, body)

    def start_server(self, name: str, timeout: float = 240) -> None:
        """Start ``name``'s server and wait until the hub says it is ready."""
        try:
            self.api("POST", f"/users/{name}/server")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"the hub did not start {name}'s server ({e}); its log:\n{self.log()[-4000:]}") from None
        deadline = time.monotonic() + timeout
        while not (self.api("GET", f"/users/{name}")["servers"].get("", {}).get("ready")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}'s server is not ready after {timeout:.0f} s; the hub's log:\n"
                                   f"{self.log()[-4000:]}")
            time.sleep(0.5)

    def stop_server(self, name: str, timeout: float = 120) -> None:
        """Stop ``name``'s server (the spawner removes the sandbox) and wait until it is gone."""
        self.api("DELETE", f"/users/{name}/server")
        deadline = time.monotonic() + timeout
        while self.api("GET", f"/users/{name}")["servers"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}'s server did not stop after {timeout:.0f} s")
            time.sleep(0.5)

    def user_token(self, name: str) -> str:
        """A new API token of ``name`` (with the learner's own rights: their server, nobody else's)."""
        return self.api("POST", f"/users/{name}/tokens", {"note": "classroom driver", "expires_in": 3600})["token"]


def request(method: str, url: str, token: str, body: dict | None = None):
    """One HTTP request with a JupyterHub token; the JSON answer (None for an empty one)."""
    data = json.dumps(body).encode() if body is not None else (b"" if method in ("POST", "PUT") else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as answer:
            text = answer.read()
    except urllib.error.HTTPError as e:
        raise urllib.error.HTTPError(e.url, e.code, f"{e.reason}: {e.read()[:500]!r}", e.headers, None) from None
    return json.loads(text) if text.strip() else None


class Kernel:
    """A kernel of ``user``'s server, driven over its websocket (``with Kernel(...) as k: k.run(code)``)."""

    def __init__(self, hub: Hub, user: str, token: str, path: str = ""):
        import websocket  # websocket-client
        self.base, self.user, self.token = f"{hub.url}/user/{user}/api/kernels", user, token
        self.id = request("POST", self.base, token, {"name": "python3", "path": path})["id"]
        self.session = uuid.uuid4().hex
        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{hub.port}/user/{user}/api/kernels/{self.id}/channels?session_id={self.session}",
            header=[f"Authorization: token {token}"], timeout=600)

    def __enter__(self) -> "Kernel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the websocket and shut the kernel down."""
        self.ws.close()
        request("DELETE", f"{self.base}/{self.id}", self.token)

    def run(self, code: str, timeout: float = 300) -> str:
        """Execute ``code``; what it printed and displayed as text.  ``CellFailed`` on an ``error``."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "session": self.session, "username": self.user, "date": "",
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        return self._collect(msg_id, code, time.monotonic() + timeout)

    def _collect(self, msg_id: str, code: str, deadline: float) -> str:
        """The iopub messages answering ``msg_id`` until the kernel is idle again."""
        shown = []
        while True:
            self.ws.settimeout(max(1.0, deadline - time.monotonic()))
            try:
                msg = json.loads(self.ws.recv())
            except Exception as e:  # websocket's timeout, or the server went away
                raise CellFailed(f"no end of cell ({type(e).__name__}: {e}):\n{code}\n{''.join(shown)}") from None
            if msg.get("parent_header", {}).get("msg_id") != msg_id or msg.get("channel") != "iopub":
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                shown.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                shown.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                trace = "\n".join(content.get("traceback", []))
                raise CellFailed(f"{content['ename']}: {content['evalue']} in cell:\n{code}\n{trace}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(shown)


def each_at_once(work, names) -> dict:
    """``work(name)`` for every name, a thread each; {name: result}; the first failure is raised."""
    results, failures = {}, {}

    def one(name):
        try:
            results[name] = work(name)
        except BaseException as e:  # raised below, with the learner's name
            failures[name] = e
    threads = [threading.Thread(target=one, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, error in failures.items():
        raise RuntimeError(f"{name}: {error}") from error
    return results


def code_cells(notebook: Path) -> list[str]:
    """The code cells of a notebook, in order."""
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def run_notebook(hub: Hub, user: str, token: str, notebook: str, *, cells: list[str]) -> tuple[float, list[str]]:
    """Run ``cells`` (a chapter's code cells) in a new kernel of ``user``'s server whose working directory is
    ``notebook``'s folder in the home, as opening the chapter in JupyterLab does; the seconds it took, and
    what each cell showed."""
    started = time.monotonic()
    with Kernel(hub, user, token, path=str(Path(notebook).parent)) as kernel:
        shown = [kernel.run(cell) for cell in cells]
    return time.monotonic() - started, shown
