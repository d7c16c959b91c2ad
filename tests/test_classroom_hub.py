"""The classroom's JupyterHub with three learners (issue 16, item 3), driven as learners would drive it.

The hub (deploy/jupyterhub/jupyterhub_config.py, as root, its own state directory and free ports) starts
each learner's server through its REST API; through the proxy, each learner's kernel runs the code cells
of chapters 01 and 04, the three learners at once, while a runaway container of learner 3 is OOM-killed
inside learner 3's own memory limit (item 2: everyone's chapters still run to their end); then, from
inside the learners' kernels, item 1's isolation: one learner cannot see, inspect, stop, enter or remove
another's containers or images, read another's store, or reach another's address or published port, and
each runs minidock rootless. After it: servers stopped through the API, the hub stopped by its PID, no
sandbox, process or account left.

It needs ``make classroom-env`` (the learners' environment) and ``make classroom-proxy``
(configurable-http-proxy); ``make test`` makes both first.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "jupyterhub"))

from classroom import running_class  # noqa: E402
from drive import Hub, Kernel, code_cells, each_at_once, run_notebook  # noqa: E402
from learner_home import copy_course, save_registry  # noqa: E402
from spawner import sandbox_of  # noqa: E402

PREFIX = Path(os.environ.get("CLASSROOM_PREFIX", "/opt/minidock-classroom"))
PROXY = REPO / "deploy" / "jupyterhub" / "node_modules" / ".bin" / "configurable-http-proxy"
NAMES = ("mdhub1", "mdhub2", "mdhub3")
CHAPTERS = ("01-images", "04-containers")


def own_leftovers() -> list[str]:
    """What is left of the sandboxes of this test's learners (other tests may have theirs)."""
    from minidock.classroom.sandbox import leftovers
    mine = set()
    for name in NAMES:
        try:
            box = sandbox_of(name)
        except KeyError:
            continue
        mine |= {f"netns {box.netns}", f"link {box.host_link}", f"cgroup {box.cgroup}"}
    return [thing for thing in leftovers() if thing in mine]


def processes_of(uids: set[int]) -> list[int]:
    """PIDs of processes owned by any of ``uids``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid in uids:
                pids.append(int(entry.name))
        except FileNotFoundError:
            continue
    return pids


@pytest.fixture(scope="module")
def learners():
    """The three learners' accounts, removed afterwards even if the test failed."""
    from minidock.classroom import learners as accounts
    for name in NAMES:
        accounts.remove(name)  # a run that was killed may have left them
    try:
        yield [accounts.create(name) for name in NAMES]
    finally:
        for name in NAMES:
            accounts.remove(name)


@pytest.fixture(scope="module")
def hub(learners, tmp_path_factory):
    """The class registry and the hub (free ports), with the three learners; all stopped afterwards."""
    missing = [str(p) for p in (PREFIX / ".installed", PROXY) if not p.exists()]
    assert not missing, f"missing {missing}: run `make classroom-env classroom-proxy` first"
    state = tmp_path_factory.mktemp("classroom")
    state.chmod(0o700)
    with running_class(state, list(NAMES), registry_port=0, settings={
            "CLASSROOM_PREFIX": str(PREFIX), "MINIDOCK_CLASS_MEMORY": "1G", "MINIDOCK_CLASS_CPUS": "1"}) as (hub, _):
        yield hub


ISOLATION = '''
import os, socket, subprocess, urllib.request
import minidock
# the learner's own minidock, from the classroom env (nothing of root's environment leaks in)
assert minidock.__file__.startswith({prefix!r}) and "PYTHONPATH" not in os.environ, minidock.__file__
def sh(command):
    done = subprocess.run(command, shell=True, capture_output=True, text=True)
    return done.returncode, done.stdout, done.stderr
other = {other!r}
# the other learner's container and image, by full ID: never listed, and every verb refused in one line
for listing, hidden in (("ps -a --no-trunc", other["container"]), ("images --no-trunc", other["image"])):
    code, out, said = sh(f"minidock {{listing}}")
    assert code == 0 and hidden not in out and "mdhub-private" not in out, (listing, out, said)
for verb in ("inspect", "stop", "rm -f", "exec", "logs", "inspect --type image", "rmi"):
    thing = other["image"] if verb in ("rmi", "inspect --type image") else other["container"]
    code, out, said = sh(f"minidock {{verb}} {{thing}}" + (" true" if verb == "exec" else ""))
    # one line on stderr, as Docker's (inspect prints its empty list, [], on stdout as docker does)
    assert code != 0 and "Traceback" not in said and len(said.strip().splitlines()) == 1, (verb, code, out, said)
# nobody else's processes, the other learner's containers included: /proc shows this learner's only
def owner(pid):
    try:
        return os.stat(f"/proc/{{pid}}").st_uid
    except FileNotFoundError:  # ended meanwhile
        return os.getuid()
assert {{owner(p) for p in os.listdir("/proc") if p.isdigit()}} == {{os.getuid()}}
# the other learner's store: not even listable
try:
    os.listdir(other["store"])
    raise AssertionError("read another learner's store")
except PermissionError:
    pass
# the other learner's published port and address: out of reach
for host, port in (("127.0.0.1", other["port"]), (other["address"], other["port"]),
                   (other["address"], other["server_port"])):
    try:
        socket.create_connection((host, port), timeout=3).close()
        raise AssertionError(f"reached {{host}}:{{port}}")
    except OSError:
        pass
# rootless, in this learner's own namespace; the class registry serves busybox, read-only
assert "rootless" in sh("minidock info")[1]
code, out, said = sh("MINIDOCK_ROOT=$HOME/pulled minidock pull busybox")
assert code == 0, said
code, out, said = sh("MINIDOCK_ROOT=$HOME/pulled minidock tag busybox $REGISTRY_HOST/mine/busybox && "
                "MINIDOCK_ROOT=$HOME/pulled minidock push $REGISTRY_HOST/mine/busybox")
assert code != 0 and "Traceback" not in said, said
print("isolated")
'''

SECRET = '''
import json, subprocess, time, urllib.request
def sh(command):
    return subprocess.run(command, shell=True, check=True, capture_output=True, text=True).stdout.strip()
# an image of this learner's own (its ID is no other store's) and a server on a published port
sh("minidock rm -f secret mk >/dev/null 2>&1; minidock pull busybox && "
   "minidock run --name mk busybox sh -c 'echo mdhub2 > /owner' && minidock commit mk mdhub-private/mine && minidock rm mk")
container = sh("minidock run -d --name secret -p 127.0.0.1:{port}:8080 busybox sh -c "
               "'mkdir /www; echo secret > /www/index.html; exec httpd -f -p 8080 -h /www'")
for _ in range(100):
    try:
        assert urllib.request.urlopen("http://127.0.0.1:{port}/", timeout=3).read() == b"secret\\n"
        break
    except OSError:
        time.sleep(0.1)
else:
    raise AssertionError("my own published port does not answer")
print(json.dumps({{"container": container, "image": sh("minidock inspect --format '{{{{.Id}}}}' mdhub-private/mine"),
                  "store": sh("echo $HOME/.local/share/minidock")}}))
'''


HOG = '''
import subprocess
subprocess.run(["minidock", "bootstrap", "busybox"], check=True, capture_output=True)
# dd reads 1.5 GB of zeros into one buffer: every page of it touched, against the learner's 1 GiB limit
done = subprocess.run(["minidock", "run", "--rm", "busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=1536M",
                       "count=1"], capture_output=True, text=True)
print(done.returncode)
'''


@pytest.mark.root
def test_three_learners_run_chapters_and_stay_apart(hub, learners):
    each_at_once(hub.start_server, NAMES)
    tokens = {name: hub.user_token(name) for name in NAMES}
    course = PREFIX / "share" / "minidock-classroom" / "course"

    def chapters(name):
        for chapter in CHAPTERS:
            _, shown = run_notebook(hub, name, tokens[name], f"course/{chapter}.ipynb",
                                    cells=code_cells(course / f"{chapter}.ipynb"))
            # every cell ran (the chapter's last one removes its store), in the learner's rootless mode
            assert len(shown) == len(code_cells(course / f"{chapter}.ipynb"))
            assert shown[0].startswith("Run mode: rootless"), shown[0]
            assert chapter not in {p.name for p in (home(name) / ".local/share/minidock-course").iterdir()}

    def hog(_):
        """Learner 3's runaway container, beside everyone's chapters (learner 3's own included)."""
        with Kernel(hub, "mdhub3", tokens["mdhub3"]) as kernel:
            return kernel.run(HOG).strip().splitlines()[-1]
    oom_kills = sandbox_of("mdhub3").usage()["oom_kills"]
    results = each_at_once(lambda task: chapters(task) if task in NAMES else hog(task), (*NAMES, "hog"))
    # killed inside learner 3's 1 GiB, while all three learners' chapters ran to their end
    assert results["hog"] == "137", results["hog"]
    assert sandbox_of("mdhub3").usage()["oom_kills"] > oom_kills
    assert sandbox_of("mdhub3").usage()["memory_peak"] <= 1 << 30

    # learner 2 runs a server on a published port; learner 1 tries everything on it
    users = {user["name"]: user for user in hub.api("GET", "/users")}
    port = 18099
    with Kernel(hub, "mdhub2", tokens["mdhub2"]) as kernel2, Kernel(hub, "mdhub1", tokens["mdhub1"]) as kernel1:
        secret = json.loads(kernel2.run(SECRET.format(port=port)).strip().splitlines()[-1])
        server = users["mdhub2"]["servers"][""]["url"]
        assert server  # the proxy's route; the server's own address is the sandbox's
        other = {**secret, "port": port, "address": sandbox_of("mdhub2").address, "server_port": server_port(hub, "mdhub2")}
        kernel1.run(f"import os; os.environ['REGISTRY_HOST'] = {hub_registry(hub)!r}")
        assert kernel1.run(ISOLATION.format(other=other, prefix=str(PREFIX) + "/")).strip().endswith("isolated")
        # learner 2's container is untouched by all that
        assert kernel2.run("import subprocess; print(subprocess.run(['minidock', 'inspect', '--format', "
                           "'{{.State.Running}}', 'secret'], capture_output=True, text=True).stdout)").strip() == "true"
        kernel2.run("import subprocess; subprocess.run(['minidock', 'rm', '-f', 'secret'], check=True)")

    for name in NAMES:
        hub.stop_server(name)
    assert own_leftovers() == []
    hub.stop()
    assert processes_of({learner.uid for learner in learners}) == []


def home(name: str) -> Path:
    import pwd
    return Path(pwd.getpwnam(name).pw_dir)


def server_port(hub: Hub, name: str) -> int:
    """The port a learner's server listens on (in their namespace), from the hub's database of routes."""
    import sqlite3
    with sqlite3.connect(hub.state / "jupyterhub.sqlite") as db:
        (url,) = db.execute("SELECT servers.port FROM servers JOIN spawners ON spawners.server_id = servers.id "
                            "JOIN users ON users.id = spawners.user_id WHERE users.name = ?", (name,)).fetchone()
    return int(url)


def hub_registry(hub: Hub) -> str:
    return hub.settings["MINIDOCK_CLASS_REGISTRY"]


def test_the_course_is_copied_never_over_a_learners_edits(tmp_path):
    """First start: every file; later starts: only new ones; a refresh keeps the learner's as NAME.~N~,
    and a symlink the learner put in the way is moved aside, never followed."""
    source, home = tmp_path / "course", tmp_path / "home" / "course"
    (source / "recorded" / "04").mkdir(parents=True)
    (source / "01.ipynb").write_text("teacher's 1")
    (source / "recorded" / "04" / "cell.txt").write_text("recorded")
    assert copy_course(source, home, refresh=False) == ["01.ipynb", "recorded/04/cell.txt"]
    (home / "01.ipynb").write_text("learner's 1")
    (source / "02.ipynb").write_text("teacher's 2")
    outside = tmp_path / "outside"
    outside.write_text("not the course's")
    (home / "02.ipynb").symlink_to(outside)
    assert copy_course(source, home, refresh=False) == []
    assert (home / "01.ipynb").read_text() == "learner's 1" and outside.read_text() == "not the course's"
    assert copy_course(source, home, refresh=True) == ["01.ipynb", "02.ipynb"]
    assert (home / "01.ipynb").read_text() == "teacher's 1" and (home / "01.ipynb.~1~").read_text() == "learner's 1"
    assert (home / "02.ipynb.~1~").is_symlink() and outside.read_text() == "not the course's"
    assert copy_course(source, home, refresh=True) == []  # nothing changed since


def test_registry_credentials_are_saved_as_login_saves_them(tmp_path, monkeypatch):
    """The class registry's read-only account, as ``minidock login`` keeps it; config.json keeps its keys."""
    from minidock.registry import auth
    monkeypatch.setenv("MINIDOCK_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text('{"insecure-registries": ["127.0.0.1:6000"], "other": 1}')
    save_registry("10.213.0.1:5000", "learner", "pw")
    assert auth.credentials("10.213.0.1:5000") == ("learner", "pw")
    assert (tmp_path / "auth.json").stat().st_mode & 0o077 == 0
    assert json.loads((tmp_path / "config.json").read_text()) == {
        "insecure-registries": ["10.213.0.1:5000", "127.0.0.1:6000"], "other": 1,
        "registry-mirrors": ["http://10.213.0.1:5000"]}
