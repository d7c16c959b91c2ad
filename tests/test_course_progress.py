"""The learner's progress file and the teacher's view: ``course.check`` records every verdict in the
learner's home; ``minidock course progress`` shows it, a learner their own, root (the teacher) every
learner's, as a table, CSV, or an nbgrader gradebook read back by nbgrader itself."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from minidock import course
from minidock.course import classbook, gradebook, record
from minidock.course.exercises.ch01_images import crossing_of

PYTHON = "/usr/bin/python3"   # Debian's: the venv's interpreter lives where a learner cannot read it
LEARNERS = ("mdprg1", "mdprg2")


@pytest.fixture
def progress(tmp_path, monkeypatch) -> Path:
    """This test's own progress file (conftest already keeps the session's out of the real home)."""
    path = tmp_path / "state" / "course-progress.json"
    monkeypatch.setenv("MINIDOCK_COURSE_PROGRESS", str(path))
    return path


def entries(path: Path) -> dict:
    return json.loads(path.read_text())["exercises"]


# -- where things live ------------------------------------------------------------------------------

def test_chapter_dirs_and_the_progress_file_are_under_the_home_never_a_shared_temp_dir(tmp_path, monkeypatch):
    for name in ("MINIDOCK_COURSE_DIR", "MINIDOCK_COURSE_PROGRESS", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert course.course_root("01-images") == tmp_path / ".cache" / "minidock-course" / "01-images"
    assert record.progress_file() == tmp_path / ".local" / "state" / "minidock" / "course-progress.json"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert course.course_root("01-images") == tmp_path / "cache" / "minidock-course" / "01-images"
    assert record.progress_file() == tmp_path / "state" / "minidock" / "course-progress.json"
    monkeypatch.setenv("MINIDOCK_COURSE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("MINIDOCK_COURSE_PROGRESS", str(tmp_path / "p.json"))
    assert course.course_root("01-images") == tmp_path / "mine" / "01-images"
    assert record.progress_file() == tmp_path / "p.json"


def test_a_test_session_never_writes_into_the_real_home():
    real = Path(os.path.expanduser("~"))
    assert not Path(os.environ["MINIDOCK_COURSE_PROGRESS"]).is_relative_to(real)


def test_free_port_is_the_preferred_one_when_free_else_one_the_kernel_picks(monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        free = holder.getsockname()[1]
    assert course.free_port(free) == free and os.environ["PORT"] == str(free)
    with socket.socket() as holder:          # another learner's web server has it
        holder.bind(("127.0.0.1", free))
        holder.listen()
        other = course.free_port(free)
        assert other != free and os.environ["PORT"] == str(other)
    with socket.socket() as check:           # and it was free to bind
        check.bind(("127.0.0.1", other))


# -- recording ---------------------------------------------------------------------------------------

def test_every_check_is_recorded_with_attempts_first_right_and_the_last_verdict(client, progress):
    assert not course.check("01-images", 2, client, crossing=None).right
    first = entries(progress)["01-images/2"]
    assert (first["right"], first["attempts"], first["first_right"]) == (False, 1, None)
    assert first["verdict"].startswith("✗ not yet: fill in your answer crossing=")
    right = course.check("01-images", 2, client, crossing=crossing_of)
    assert right.right
    second = entries(progress)["01-images/2"]
    assert (second["right"], second["attempts"], second["verdict"]) == (True, 2, str(right))
    assert second["first_right"] == second["last"]
    course.check("01-images", 2, client, crossing=None)   # the chapter run again from the top
    third = entries(progress)["01-images/2"]
    assert (third["right"], third["attempts"], third["first_right"]) == (False, 3, second["first_right"])
    course.check("01-images", 2, client, answer=1)          # an answer it does not take: a verdict too
    assert entries(progress)["01-images/2"]["attempts"] == 4
    course.check("01-images", 99, client)                   # no such exercise: nothing to record
    assert set(entries(progress)) == {"01-images/2"}
    assert progress.stat().st_mode & 0o777 == 0o600          # the learner's alone


WORKER = """
import sys
from minidock.course import record
name, count, same = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "same"
for n in range(count):
    record.note("01-images", 1 if same else 1000 * (int(name) + 1) + n, n % 2 == 0, "verdict of " + name)
"""


def test_concurrent_kernels_of_one_learner_lose_no_record(progress):
    def run_all(mode: str, workers: int = 6, count: int = 15) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(w), str(count), mode], env=env)
                 for w in range(workers)]
        assert [p.wait(timeout=120) for p in procs] == [0] * workers
    run_all("distinct")
    assert len(entries(progress)) == 6 * 15
    run_all("same")
    assert entries(progress)["01-images/1"]["attempts"] == 6 * 15
    assert sorted(p.name for p in progress.parent.iterdir()) == \
        ["course-progress.json", "course-progress.json.lock"]    # no temp file left behind


def test_a_torn_file_reads_as_empty_with_one_warning_and_is_rewritten_whole(progress, capfd):
    progress.parent.mkdir(parents=True)
    progress.write_text('{"version": 1, "exercises": {"01-images/1": {"chap')
    assert record.read(progress) == {}
    warning = capfd.readouterr().err
    assert warning.count("\n") == 1 and "damaged (torn)" in warning
    proc = run_cli("course", "progress")                   # the command says so once too, and goes on
    assert proc.returncode == 0 and proc.stderr.decode().count("\n") == 1
    assert "01-images" in proc.stdout.decode()
    record.note("01-images", 3, True, "✓ right: yes")
    assert list(entries(progress)) == ["01-images/3"]
    progress.write_text('{"version": 1, "exercises": {"x": 1, "01-images/1": {"chapter": "01-images", '
                        '"exercise": "one"}, "01-images/2": {"chapter": "01-images", "exercise": 2, '
                        '"attempts": "many"}}}')            # foreign entries are left out, never a traceback
    assert record.read(progress) == {} and run_cli("course", "progress").returncode == 0
    record.note("01-images", 2, False, "✗ not yet: 2")
    assert entries(progress)["01-images/2"]["attempts"] == 1


def test_a_home_that_cannot_be_written_costs_one_warning_never_the_check(client, tmp_path, monkeypatch, capfd):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("MINIDOCK_COURSE_PROGRESS", str(tmp_path / "file" / "progress.json"))  # ENOTDIR
    verdict = course.check("01-images", 2, client, crossing=crossing_of)
    assert verdict.right
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minidock: warning: your progress was not recorded (")


@contextmanager
def tmpfs(*options: str):
    """A small tmpfs of this test's own, unmounted after."""
    where = Path(tempfile.mkdtemp(prefix="minidock-progress-fs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=64k", *options)), "tmpfs", str(where)],
                   check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)
        where.rmdir()


@pytest.mark.root
@pytest.mark.parametrize("options,error", [(("ro",), "Read-only file system"), ((), "No space left on device")])
def test_a_read_only_or_full_home_still_answers_the_check(client, monkeypatch, capfd, options, error):
    with tmpfs(*options) as home:
        if not options:   # fill it: the progress file's directory fits, its data does not
            (home / "state").mkdir()
            with open(home / "filler", "wb") as filler, pytest.raises(OSError):
                filler.write(b"x" * 1024 * 1024)
                filler.flush()
        monkeypatch.setenv("MINIDOCK_COURSE_PROGRESS", str(home / "state" / "course-progress.json"))
        verdict = course.check("01-images", 2, client, crossing=crossing_of)
        assert verdict.right
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and error in err, err
        assert not (home / "state" / "course-progress.json").exists()
        assert [p.name for p in (home / "state").glob("*")] in ([], ["course-progress.json.lock"])


# -- the teacher's view ------------------------------------------------------------------------------

def a_class(base: Path) -> list[classbook.Learner]:
    """Three learners' progress files, as record.note writes them."""
    learners = [classbook.Learner(name, base / name / "course-progress.json") for name in ("ada", "bo", "cy")]
    os.environ["MINIDOCK_COURSE_PROGRESS"] = str(learners[0].progress_file)
    record.note("01-images", 1, True, "✓ right: 1")
    record.note("01-images", 2, False, "✗ not yet: 2")
    os.environ["MINIDOCK_COURSE_PROGRESS"] = str(learners[1].progress_file)
    record.note("01-images", 2, True, "✓ right: 2")
    record.note("04-containers", 3, True, "✓ right: 3")
    return learners


def test_the_class_as_a_table_and_as_csv(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDOCK_COURSE_PROGRESS", "")
    table = classbook.rows(a_class(tmp_path))
    course_size = len(classbook.exercises())
    assert len(table) == 3 * course_size
    assert classbook.class_table(table).splitlines() == [
        "LEARNER   RIGHT     EXERCISES RIGHT",
        f"ada       1/{course_size}      01/1",
        f"bo        2/{course_size}      01/2 04/3",
        f"cy        0/{course_size}      -"]
    assert classbook.grid(table).splitlines() == [
        "LEARNER   01/1      01/2      04/3",
        "ada       ✓         ✗         ·",
        "bo        ·         ✓         ✓",
        "cy        ·         ·         ·"]
    rows = list(csv.DictReader(io.StringIO(classbook.to_csv(table))))
    assert list(rows[0]) == list(classbook.COLUMNS)
    ada = {(r["chapter"], r["exercise"]): r for r in rows if r["learner"] == "ada"}
    assert (ada["01-images", "1"]["right"], ada["01-images", "1"]["attempts"]) == ("1", "1")
    assert (ada["01-images", "2"]["right"], ada["01-images", "2"]["last_verdict"]) == ("0", "✗ not yet: 2")
    assert ada["01-images", "3"]["attempts"] == "0" and ada["01-images", "3"]["last_checked"] == ""


def test_the_gradebook_is_read_back_by_nbgrader(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook
    table = classbook.rows(a_class(tmp_path))
    path = gradebook.write(tmp_path / "gradebook.db", table)
    with Gradebook(f"sqlite:///{path}") as book:
        assert sorted(s.id for s in book.students) == ["ada", "bo", "cy"]
        assert [a.name for a in book.assignments] == sorted({c for c, _ in classbook.exercises()})
        assert book.find_grade_cell("exercise-3", "01-images", "01-images").max_score == 1
        assert book.find_submission("01-images", "ada").score == 1
        assert book.find_submission("01-images", "bo").score == 1
        assert book.find_submission("04-containers", "bo").score == 1
        assert book.find_submission("04-containers", "cy").score == 0
    exported = tmp_path / "grades.csv"
    subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "export", "--db", f"sqlite:///{path}",
                    "--to", str(exported)], cwd=tmp_path, check=True, capture_output=True)
    scores = {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(exported.open())}
    assert scores["ada", "01-images"] == 1.0 and scores["bo", "04-containers"] == 1.0
    assert scores["cy", "01-images"] == 0.0 and scores["ada", "00-setup"] == 0.0


def test_bad_input_is_one_line_and_docker_s_exit_code(progress):
    bad_format = run_cli("course", "progress", "--format", "xml")
    assert (bad_format.returncode, bad_format.stderr) == (125, b'minidock: unknown format "xml": choose table or csv\n')
    unknown = run_cli("course", "progress", "--learner", "no-such-learner-here")
    assert (unknown.returncode, unknown.stderr) == (1, b"minidock: no such learner: no-such-learner-here "
                                                       b"(not a local user)\n")
    nowhere = progress.parent / "no" / "dir" / "gradebook.db"
    unwritable = run_cli("course", "progress", "--gradebook", str(nowhere))
    assert (unwritable.returncode, unwritable.stderr.decode()) == \
        (1, f"minidock: cannot write the gradebook {nowhere}: No such file or directory\n")
    assert run_cli("course", "nope").returncode == 125


# -- learners and their teacher, as real users -----------------------------------------------------

@pytest.fixture
def two_learners(readable_package):
    """Local users mdprg1 and mdprg2 with homes of their own (removed, whatever happens), and a runner
    of commands as one of them."""
    if not os.path.exists(PYTHON) or shutil.which("setpriv") is None:
        pytest.skip("needs Debian's python3 and util-linux's setpriv (make setup)")
    base = Path(tempfile.mkdtemp(prefix="minidock-learners-"))
    os.chmod(base, 0o755)
    try:
        for name in LEARNERS:
            subprocess.run(["useradd", "-m", "-b", str(base), "-s", "/bin/sh", name], check=True)

        def as_learner(name: str, *argv: str) -> subprocess.CompletedProcess:
            env = {"HOME": str(base / name), "PYTHONPATH": str(readable_package), "LANG": "C.UTF-8",
                   "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            return subprocess.run(["setpriv", f"--reuid={name}", f"--regid={name}", "--init-groups", PYTHON,
                                   *argv], env=env, capture_output=True, text=True, timeout=120)

        as_learner.base = base
        yield as_learner
    finally:
        for name in LEARNERS:
            subprocess.run(["userdel", "-r", name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


CHECK = """
import sys, minidock
from minidock import course
from minidock.course.exercises.ch01_images import crossing_of
client = minidock.Client(sys.argv[1])
print(course.check("01-images", 2, client, crossing=crossing_of if sys.argv[2] == "right" else None))
"""


@pytest.mark.root
@pytest.mark.peers("setpriv")
def test_a_learner_sees_only_their_own_and_the_teacher_sees_every_learner(two_learners, tmp_path):
    home = two_learners.base
    for name, answer in (("mdprg1", "right"), ("mdprg2", "wrong"), ("mdprg2", "right"), ("mdprg2", "wrong")):
        checked = two_learners(name, "-c", CHECK, str(home / name / "store"), answer)
        assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    files = {name: home / name / ".local" / "state" / "minidock" / "course-progress.json" for name in LEARNERS}
    assert all(f.stat().st_mode & 0o777 == 0o600 and f.stat().st_uid != 0 for f in files.values())

    mine = two_learners("mdprg1", "-m", "minidock", "course", "progress")
    assert mine.returncode == 0, mine.stderr
    heading, *rows = mine.stdout.splitlines()
    assert heading.split() == ["CHAPTER", "EXERCISE", "RIGHT", "ATTEMPTS", "LAST", "CHECKED"]
    assert any(r.split()[:4] == ["01-images", "2", "right", "1"] for r in rows)
    peek = two_learners("mdprg1", "-m", "minidock", "course", "progress", "--learner", "mdprg2")
    assert peek.returncode == 1 and peek.stdout == ""
    assert peek.stderr == (f"minidock: cannot read the progress of mdprg2 ({files['mdprg2']}): permission denied "
                           "(a learner sees only their own; the teacher runs this as root)\n")
    assert two_learners("mdprg1", "-c", f"open({str(files['mdprg2'])!r}).read()").returncode != 0

    teacher = run_cli("course", "progress", "--all")
    assert teacher.returncode == 0, teacher.stderr
    lines = {line.split()[0]: line.split()[1:] for line in teacher.stdout.decode().splitlines()[1:]}
    size = len(classbook.exercises())
    assert lines["mdprg1"] == [f"1/{size}", "01/2"] and lines["mdprg2"] == [f"1/{size}", "01/2"]
    named = run_cli("course", "progress", "--learner", "mdprg2", "--format", "csv",
                    "--gradebook", str(tmp_path / "gradebook.db"), check=True)
    rows = [r for r in csv.DictReader(io.StringIO(named.stdout.decode())) if r["exercise"] == "2"
            and r["chapter"] == "01-images"]
    assert [(r["learner"], r["right"], r["attempts"], r["last_right"]) for r in rows] == [("mdprg2", "1", "3", "0")]
    assert named.stderr.decode() == f"Wrote the gradebook {tmp_path / 'gradebook.db'}: 1 learner, {size} exercises\n"
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as book:
        assert book.find_submission("01-images", "mdprg2").score == 1
