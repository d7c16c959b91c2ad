"""The chapters' exercises: every solution gets ✓ from its checkers; wrong answers get ✗, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from minidock import course
from minidock.course import exercises

SOLUTIONS = REPO / "notebooks" / "solutions"
# chapters whose solutions need no containers (everything else runs them, as root)
WITHOUT_CONTAINERS = {"00-setup", "01-images"}
# chapters whose solutions drive a peer tool (the real docker CLI against minidock's daemon)
PEERS = {"07-client-and-daemon": ("docker",)}


def solution_of(chapter: str) -> Path:
    return SOLUTIONS / f"{chapter}.py"


CHECKERS = exercises.load_all()


def chapters() -> list[str]:
    return sorted({chapter for chapter, _ in CHECKERS})


@pytest.mark.parametrize("chapter", chapters())
def test_every_chapter_has_a_solution(chapter):
    assert solution_of(chapter).is_file()


@pytest.mark.parametrize("chapter", [
    pytest.param(c, marks=(() if c in WITHOUT_CONTAINERS else (pytest.mark.root,))
                 + ((pytest.mark.peers(*PEERS[c]),) if c in PEERS else ())) for c in chapters()])
def test_solution_gets_right(chapter, tmp_path):
    """Run the solution as a learner would; each checker it calls must say ✓ (the script exits 1 otherwise)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MINIDOCK_COURSE_DIR": str(tmp_path / "course")}
    proc = subprocess.run([sys.executable, str(solution_of(chapter))], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = sorted(n for c, n in CHECKERS if c == chapter)
    assert proc.stdout.count("✓ right: ") == len(checks), proc.stdout
    # each exercise three ways: not yet on the chapter's state, not yet on a wrong attempt, then right
    said = [(int(m[1]), m[2]) for m in re.finditer(r"^\[(\d+)\] ([✓✗])", proc.stdout, re.M)]
    for number in checks:
        marks = [mark for n, mark in said if n == number]
        assert marks[-1:] == ["✓"] and marks.count("✗") >= 2 and "✓" not in marks[:-1], (number, proc.stdout)
    assert not (tmp_path / "course" / chapter).exists(), "the solution left its store behind"


@pytest.fixture
def learner(busybox, client, tmp_path, monkeypatch):
    """A fresh store with busybox, the working directory empty, no registry: an untouched notebook."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REGISTRY", raising=False)
    return client


@pytest.mark.parametrize("chapter, number", sorted(CHECKERS))
def test_untouched_is_not_yet(learner, chapter, number):
    verdict = course.check(chapter, number, learner)
    assert not verdict.right and verdict.startswith("✗ not yet: ") and "\n" not in verdict


@pytest.mark.parametrize("chapter, number, answers, says", [
    ("00-setup", 1, {"mem_total": "1GB", "rootless_lacks": []}, "no rootless.json"),
    ("01-images", 1, {"rows": 3, "images": 1, "tag": "latest"}, "show no tag myname/tools"),  # typed, not done
    ("01-images", 2, {"crossing": lambda digits: 10}, "is too few"),
    ("01-images", 2, {"crossing": lambda digits: 16 ** digits}, "is too many"),
    ("01-images", 2, {"crossing": "many"}, "is not a function"),
    ("03-union-fs", 4, {"diff_id": "sha256:0000"}, "no image demo:3"),
    ("04-containers", 1, {"interfaces": ["lo"], "skipped": [4, 5]}, "no container run with --network none"),
    ("05-entering-containers", 1, {"ctrl_p_ctrl_q_detaches": False}, "still attached"),
    ("06-export-import-vs-save-load", 2, {"layers": 2}, "no hello.tar"),
    ("09-cleaning-up", 1, {"plain_exit": 137, "trap_exit": 0}, "no container was stopped"),   # typed, not done
    ("09-cleaning-up", 2, {"order": ["child:1", "base:1"]}, "no image base:1 was committed"),
    ("09-cleaning-up", 3, {"dangling": 4}, "no image webapp:dev"),
    ("08-registry", 1, {"sent": 0}, "no registry"),
])
def test_wrong_answers_are_not_yet(learner, chapter, number, answers, says):
    verdict = course.check(chapter, number, learner, **answers)
    assert not verdict.right and says in verdict, verdict


def test_unknown_exercise_or_answer(learner):
    assert "has no exercise 9 (it has [1, 2, 3])" in course.check("01-images", 9, learner)
    assert "takes no answer rowz=" in course.check("01-images", 1, learner, rowz=3)


def test_verdict_shows_as_its_line():
    verdict = exercises.Verdict(False, "a hint")
    assert repr(verdict) == "✗ not yet: a hint" and verdict.right is False


# -- chapter 07: what went through the chapter's daemon, not what the minidock CLI did --------------

@pytest.fixture
def chapter_daemon(learner, root):
    """The chapter's daemon as its cell starts it: over the learner's store, its log in the store."""
    from test_daemon import Daemon
    d = Daemon(root)
    d.env["MINIDOCK_ROOT"] = str(root)
    yield d.start()
    subprocess.run(["minidock", "rm", "-f", "visitor"], env=d.env, capture_output=True)
    assert d.stop() == 0, (root / "daemon.log").read_text()[-4000:]


@pytest.mark.root
def test_what_the_minidock_cli_did_is_not_yet(learner, chapter_daemon):
    """A container and the tag, made by the minidock CLI beside a running daemon: not through it."""
    run = ["minidock", "run", "--name", "visitor", "--network", "none", "busybox", "sh", "-c", "exit 3"]
    assert subprocess.run(run, env=chapter_daemon.env, capture_output=True).returncode == 3
    subprocess.run(["minidock", "rm", "visitor"], env=chapter_daemon.env, check=True, capture_output=True)
    verdict = course.check("07-client-and-daemon", 1, learner)
    assert not verdict.right and "without the daemon" in verdict, verdict
    subprocess.run(["minidock", "tag", "busybox", "course/busybox:07"], env=chapter_daemon.env, check=True)
    verdict = course.check("07-client-and-daemon", 2, learner, named_by="id")
    assert not verdict.right and "minidock tagged it itself" in verdict, verdict


@pytest.mark.root
@pytest.mark.peers("docker")
def test_through_the_daemon_but_not_quite_is_not_yet(learner, chapter_daemon):
    """A label of the wrong value, the container left behind, the tag request misread: each says what."""
    run = chapter_daemon.docker("docker", "run", "--name", "visitor", "--label", "course.chapter=7",
                                "--network", "none", "busybox", "sh", "-c", "exit 3")
    assert run.returncode == 3, run.stderr + run.stdout
    verdict = course.check("07-client-and-daemon", 1, learner)
    assert not verdict.right and "no label course.chapter=07" in verdict, verdict
    assert chapter_daemon.docker("docker", "rm", "visitor").returncode == 0
    run = chapter_daemon.docker("docker", "run", "--name", "visitor", "--label", "course.chapter=07",
                                "--network", "none", "busybox", "true")
    verdict = course.check("07-client-and-daemon", 1, learner)
    assert not verdict.right and "exited with code 0, not 3" in verdict, verdict
    run = chapter_daemon.docker("docker", "tag", "busybox", "course/busybox:07")  # the CLI names it as typed
    assert run.returncode == 0, run.stderr
    verdict = course.check("07-client-and-daemon", 2, learner, named_by="id")
    assert not verdict.right and "is WHAT a name or an ID" in verdict, verdict
    assert course.check("07-client-and-daemon", 2, learner, named_by="name").right
