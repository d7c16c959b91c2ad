"""``docker events``: the store's journal (images/journal.py), ``minidock events``, and ``GET /events``
read by the real docker CLI and docker-py."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from minidock.display import parse_instant, rfc3339
from minidock.images import journal

from conftest import REPO, run_cli


def _some(root, n: int, kind: str = "container", action: str = "start") -> None:
    for i in range(n):
        journal.record(root, kind, action, f"{i:064x}", {"name": f"c{i}", "image": "busybox"})


def test_an_event_has_the_engine_apis_shape_and_the_old_fields_only_where_docker_sends_them(tmp_path):
    journal.record(tmp_path, "container", "die", "ab" * 32, {"image": "busybox", "name": "x", "exitCode": "3"})
    journal.record(tmp_path, "volume", "create", "data", {"driver": "local"})
    died, made = journal.past(tmp_path)[0]
    assert died["status"] == "die" and died["id"] == "ab" * 32 and died["from"] == "busybox"
    assert died["Actor"] == {"ID": "ab" * 32, "Attributes": {"image": "busybox", "name": "x", "exitCode": "3"}}
    assert died["scope"] == "local" and died["time"] == died["timeNano"] // 10**9
    assert "status" not in made and made["Type"] == "volume" and made["timeNano"] >= died["timeNano"]


def test_a_half_written_line_is_not_read_until_it_is_whole(tmp_path):
    _some(tmp_path, 2)
    with open(tmp_path / journal.JOURNAL, "ab") as f:
        f.write(b'{"Type": "container", "Act')
    events, position = journal.past(tmp_path)
    assert len(events) == 2
    with open(tmp_path / journal.JOURNAL, "ab") as f:
        f.write(b'ion": "x"}\n')
    stop = iter([False, True])
    assert [e["Action"] for e in journal.follow(tmp_path, position, lambda: next(stop))] == ["x"]


def test_the_journal_is_rotated_and_nothing_is_lost_across_the_rotation(tmp_path, monkeypatch):
    monkeypatch.setattr(journal, "KEEP", 2000)
    _some(tmp_path, 3)
    position = journal.now(tmp_path)
    _some(tmp_path, 40)        # rotates several times; only the last rotation's older part is kept
    assert (tmp_path / (journal.JOURNAL + ".1")).exists()
    kept = journal.past(tmp_path)[0]
    assert [e["Actor"]["Attributes"]["name"] for e in kept] == [f"c{i}" for i in range(40 - len(kept), 40)]
    follow_from = journal.now(tmp_path)
    _some(tmp_path, 3)
    (tmp_path / journal.JOURNAL).rename(tmp_path / (journal.JOURNAL + ".1"))   # a rotation while following
    journal.record(tmp_path, "image", "tag", "sha256:" + "0" * 64, {"name": "after"})
    stop = iter([False, False, False, True])
    got = [e["Actor"]["Attributes"]["name"] for e in journal.follow(tmp_path, follow_from, lambda: next(stop))]
    assert got == ["c0", "c1", "c2", "after"]
    assert position != follow_from


def _writer(root: str, n: int) -> None:
    _some(root, n)


def test_writers_in_many_processes_each_land_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(journal, "KEEP", 1 << 30)   # the forked writers inherit it: no rotation here
    procs = [multiprocessing.Process(target=_writer, args=(str(tmp_path), 200)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    lines = (tmp_path / journal.JOURNAL).read_bytes().splitlines()
    assert len(lines) == 800 and all(json.loads(line)["Type"] == "container" for line in lines)


@pytest.mark.parametrize("filters, wanted", [
    ({"type": ["image"]}, ["tag"]),
    ({"event": ["die"]}, ["die"]),
    ({"event": ["exec_start"]}, ["exec_start: sh -c true"]),
    ({"container": ["web"]}, ["die", "exec_start: sh -c true"]),
    ({"container": ["abcdef"]}, ["die", "exec_start: sh -c true"]),     # an ID's prefix
    ({"container": ["db"], "event": ["die"]}, []),
    ({"label": ["tier=front"]}, ["die"]),
    ({"label": ["tier"]}, ["die"]),
    ({"image": ["busybox"]}, ["die", "exec_start: sh -c true", "tag"]),
    ({"type": ["container", "image"], "event": ["tag", "die"]}, ["die", "tag"]),
])
def test_dockers_event_filters(filters, wanted):
    cid = "abcdef" + "0" * 58
    events = [journal.event("container", "die", cid, {"image": "busybox", "name": "web", "tier": "front"}),
              journal.event("container", "exec_start: sh -c true", cid, {"image": "busybox", "name": "web"}),
              journal.event("image", "tag", "sha256:" + "1" * 64, {"name": "busybox:latest"})]
    assert [e["Action"] for e in events if journal.matches(e, filters)] == wanted


def test_since_and_until_read_as_docker_reads_them():
    now = 1_800_000_000.0
    assert parse_instant("1700000000", now) == 1_700_000_000
    assert parse_instant("1700000000.25", now) == 1_700_000_000.25
    assert parse_instant("10m", now) == now - 600
    assert parse_instant("1h30m", now) == now - 5400
    assert parse_instant("2026-01-02T03:04:05Z", now) == 1_767_323_045
    with pytest.raises(ValueError):
        parse_instant("yesterday", now)


def test_minidock_events_prints_dockers_lines_and_reads_the_cli_s_own_changes(root, busybox):
    assert run_cli("tag", "busybox", "copy:1").returncode == 0
    assert run_cli("rmi", "copy:1").returncode == 0
    proc = run_cli("events", "--since", "5m", "--until", "0s", "--filter", "event=tag", "--filter", "event=untag")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert [line.split()[1:3] for line in lines] == [["image", "tag"], ["image", "untag"]]
    assert lines[0].endswith(f"{busybox.id} (name=copy:1)")
    stamp = lines[0].split()[0]
    tagged = [e for e in journal.past(root)[0] if e["Action"] == "tag"][0]
    assert stamp == rfc3339(Decimal(tagged["timeNano"]) / 10**9)
    only = run_cli("events", "--since", "5m", "--until", "0s", "--filter", "event=untag", "--format", "{{.Action}}")
    assert only.stdout.decode() == "untag\n"
    bad = run_cli("events", "--since", "yesterday")
    assert bad.returncode == 125 and b"yesterday" in bad.stderr and b"Traceback" not in bad.stderr


def test_prune_and_commit_journal_what_dockerd_does(root, busybox):
    """``image prune`` journals each image it deletes (and untags, with -a), as rmi does; ``commit`` with
    a name journals the image's tag, then the container's commit (dockerd's order)."""
    assert run_cli("tag", "busybox", "spare:1").returncode == 0
    assert run_cli("run", "--name", "maker", "--network", "none", "busybox", "touch", "/made").returncode == 0
    assert run_cli("commit", "maker", "made:1").returncode == 0
    made = run_cli("images", "-q", "--no-trunc", "made:1").stdout.decode().strip()
    assert run_cli("rm", "maker").returncode == 0
    assert run_cli("image", "prune", "-a", "-f").returncode == 0
    seen = [(e["Type"], e["Action"], e["Actor"]["Attributes"].get("name", "")) for e in journal.past(root)[0]
            if e["Action"] in ("tag", "commit", "untag", "delete")]
    assert seen[1:3] == [("image", "tag", "made:1"), ("container", "commit", "maker")], seen
    assert {("image", "untag", "made:1"), ("image", "untag", "spare:1"), ("image", "untag", "busybox:latest"),
            ("image", "delete", made), ("image", "delete", busybox.id)} <= set(seen), seen


def test_events_follow_what_happens_next_and_stop_at_until(root, busybox):
    follower = subprocess.Popen([sys.executable, "-m", "minidock", "events", "--until", str(time.time() + 3)],
                                stdout=subprocess.PIPE, cwd=REPO)
    time.sleep(1)
    assert run_cli("tag", "busybox", "later:1").returncode == 0
    out, _ = follower.communicate(timeout=15)
    assert follower.returncode == 0
    assert [line.split()[1:3] for line in out.decode().splitlines()] == [["image", "tag"]]


# -- through the daemon: the real docker CLI and docker-py ------------------------------------

from test_daemon import clis, daemon  # noqa: E402,F401  (the fixture: a private minidock daemon)


@pytest.mark.root
@pytest.mark.peers("docker")
@pytest.mark.parametrize("cli", clis())
def test_docker_events_shows_a_run_and_what_the_minidock_cli_did(daemon, cli):
    follower = subprocess.Popen([cli, "events", "--filter", "type=container", "--format", "{{.Action}} {{.Actor.Attributes.name}}"],
                                env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1)
        run = daemon.docker(cli, "run", "--rm", "--network", "none", "--name", "evt", "busybox", "sh", "-c", "exit 3")
        assert run.returncode == 3, run.stderr
        time.sleep(0.5)
    finally:
        follower.terminate()
    live = follower.communicate(timeout=10)[0].decode().split("\n")
    assert [line for line in live if line] == ["create evt", "attach evt", "start evt", "die evt", "destroy evt"]
    assert subprocess.run([sys.executable, "-m", "minidock", "tag", "busybox", "mine:1"], env=daemon.env).returncode == 0
    time.sleep(1.1)   # the CLI sends --until in whole seconds: "0s" is the start of this second
    past = daemon.docker(cli, "events", "--since", "1m", "--until", "0s", "--filter", "event=die", "--filter", "event=tag")
    lines = past.stdout.decode().splitlines()
    assert past.returncode == 0 and len(lines) == 2, past.stderr
    assert " container die " in lines[0] and "exitCode=3" in lines[0] and "name=evt" in lines[0]
    assert " image tag " in lines[1] and lines[1].endswith("(name=mine:1)")
    bad = daemon.docker(cli, "events", "--filter", "colour=red", "--until", "0s")
    assert bad.returncode != 0 and b"colour" in bad.stderr


@pytest.mark.root
@pytest.mark.peers("docker")
def test_docker_py_reads_the_events(daemon):
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=daemon.env["DOCKER_HOST"])
    since = time.time()
    client.containers.run("busybox", ["true"], network_mode="none", remove=True)
    events = list(client.events(since=since, until=time.time() + 0.1, decode=True,
                                filters={"type": "container", "event": ["start", "die"]}))
    assert [e["Action"] for e in events] == ["start", "die"]
    assert events[1]["Actor"]["Attributes"]["exitCode"] == "0"
    client.close()


def test_volumes_and_networks_have_their_events(root, client):
    client.volumes.create("notes")
    client.volumes.get("notes").remove()
    network = client.networks.create("backend")
    network.remove()
    events = [(e["Type"], e["Action"], e["Actor"]["Attributes"].get("name", e["Actor"]["ID"]))
              for e in client.events(since=0, until=time.time() + 0.01)]
    assert events == [("volume", "create", "notes"), ("volume", "destroy", "notes"),
                      ("network", "create", "backend"), ("network", "destroy", "backend")]
