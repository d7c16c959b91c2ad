"""The course's helpers: the run-mode line every chapter prints, and the ``%%needs`` cell magic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minidock import course

IPython = pytest.importorskip("IPython")  # the course extra; make setup installs it


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    shell.register_magic_function(course.needs, magic_kind="cell")
    yield shell
    InteractiveShell.clear_instance()


def test_each_mode_lacks_what_it_does_not_isolate(monkeypatch):
    monkeypatch.setenv("MINIDOCK_MODE", "chroot-emulated")
    assert course.lacking("overlayfs", "net", course.HOST_ROOT) == ["overlayfs", "net", course.HOST_ROOT]
    monkeypatch.setenv("MINIDOCK_MODE", "rootless")
    assert course.lacking("overlayfs", "net", "bridge network", course.HOST_ROOT) == ["bridge network",
                                                                                      course.HOST_ROOT]
    with pytest.raises(ValueError, match="unknown needs"):
        course.lacking("overlay")


def test_the_mode_line_says_what_is_real(monkeypatch):
    monkeypatch.setenv("MINIDOCK_MODE", "chroot-emulated")
    assert "Real here: no isolation at all." in course.mode_line()
    monkeypatch.setenv("MINIDOCK_MODE", "rootless")
    line = course.mode_line()
    assert "user namespaces; overlayfs." in line and "bridge" not in line
    from minidock.runtime import mode
    assert all(set(mode.NAMESPACES) < set(features) for features in mode.ISOLATES.values())
    monkeypatch.setenv("MINIDOCK_MODE", "root")
    assert "Real here: pid, mount, uts, ipc, net, cgroup namespaces; overlayfs; cgroup limits; bridge network." \
        in course.mode_line()


def test_the_mode_line_in_the_chinese_edition(monkeypatch):
    from minidock.course import lang
    from minidock.runtime import mode
    monkeypatch.setitem(lang._edition, "lang", "zh")
    monkeypatch.setenv("MINIDOCK_MODE", "chroot-emulated")
    assert "这里真实可用：没有任何隔离。" in course.mode_line() and "%%needs" in course.mode_line()
    monkeypatch.setenv("MINIDOCK_MODE", "root")
    assert course.mode_line() == ("运行模式：root（由 MINIDOCK_MODE 选定）。这里真实可用：pid、mount、uts、ipc、net、"
                                  "cgroup 命名空间；overlayfs；cgroup 资源限制；网桥网络。")
    from minidock.course.chapter import FEATURES_ZH, WHY_ZH
    assert set(FEATURES_ZH) == {f for features in mode.ISOLATES.values() for f in features} - set(mode.NAMESPACES) | {"host root"}
    import inspect
    import re
    reasons = re.findall(r'return (?:forced|"[^"]+"), "([^"]+)"', inspect.getsource(mode.detect))
    assert len(reasons) >= 5 and set(reasons) <= set(WHY_ZH)   # every reason detect() gives has its Chinese


def test_a_cell_that_needs_what_the_mode_lacks_says_so_and_does_not_run(shell, monkeypatch, capsys):
    monkeypatch.setenv("MINIDOCK_MODE", "chroot-emulated")
    shell.run_cell("%%needs overlayfs, net\nran = True\n").raise_error()
    assert "ran" not in shell.user_ns
    assert "[not run in the chroot-emulated mode (chosen with MINIDOCK_MODE): this cell needs overlayfs, net;" \
        in capsys.readouterr().out


def test_a_cell_the_mode_allows_runs_whole_with_its_own_magic_and_its_errors(shell, monkeypatch, capfd):
    monkeypatch.setenv("MINIDOCK_MODE", "rootless")
    shell.run_cell("%%needs overlayfs\n%%bash\necho from bash\n").raise_error()
    assert capfd.readouterr().out == "from bash\n"
    shell.run_cell("%%needs mount\nx = 6 * 7\nx\n").raise_error()
    assert shell.user_ns["x"] == 42
    failed = shell.run_cell("%%needs mount\n1 / 0\n")
    assert isinstance(failed.error_in_exec, ZeroDivisionError)


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """A chapter begun from a notebook in ``tmp_path``: where its recordings go."""
    from minidock.course import chapter
    monkeypatch.setenv("COURSE_NOTEBOOK_DIR", str(tmp_path))
    monkeypatch.setenv("MINIDOCK_COURSE_RECORD", "1")    # as make regen-notebooks runs them
    monkeypatch.setitem(chapter._current, "chapter", "99-test")
    return tmp_path / "recorded" / "99-test"


def test_a_needs_cell_run_in_the_root_mode_records_what_it_showed(shell, monkeypatch, capfd, recorded):
    monkeypatch.setenv("MINIDOCK_MODE", "root")
    body = "print('to stdout')\nimport sys; print('to stderr', file=sys.stderr)\n6 * 7\n"
    shell.run_cell("%%needs mount, cgroup limits\n" + body).raise_error()
    shown = capfd.readouterr()
    assert shown.out.startswith("to stdout\n") and shown.err == "to stderr\n"  # shown as it ran
    record = recorded / f"{course.chapter.cell_digest(body)}.txt"
    assert [p.name for p in recorded.iterdir()] == [record.name]
    # the cell's value as text too (a picture's text twin); a terminal shell also prints "Out[0]: 42"
    assert record.read_text().startswith("to stdout\nto stderr\n") and record.read_text().endswith("\n42\n")
    shell.run_cell("%%needs mount\n%%bash\necho from bash\n").raise_error()
    bash = course.chapter.cell_digest("%%bash\necho from bash")
    assert (recorded / f"{bash}.txt").read_text() == "from bash\n"
    # a failing cell records nothing (its traceback is not what the root mode shows)
    assert not shell.run_cell("%%needs mount\n1 / 0\n").success
    assert len(list(recorded.iterdir())) == 2
    # nor does a run outside make regen-notebooks (the tests', a learner's): the repository stays as it is
    monkeypatch.delenv("MINIDOCK_COURSE_RECORD")
    shell.run_cell("%%needs mount\nprint('not kept')\n").raise_error()
    assert len(list(recorded.iterdir())) == 2


def test_a_needs_cell_the_mode_lacks_shows_the_root_modes_recording(shell, monkeypatch, capsys, recorded):
    body = "print('the real thing')"
    monkeypatch.setenv("MINIDOCK_MODE", "root")
    shell.run_cell(f"%%needs cgroup limits\n{body}\n").raise_error()
    capsys.readouterr()
    monkeypatch.setenv("MINIDOCK_MODE", "rootless")       # runs what it can, records nothing
    shell.run_cell(f"%%needs mount\nprint('rootless')\n").raise_error()
    assert capsys.readouterr().out == "rootless\n" and len(list(recorded.iterdir())) == 1
    shell.run_cell(f"%%needs cgroup limits\n{body}\n").raise_error()
    assert capsys.readouterr().out.splitlines()[1:] == ["what it showed in the root mode:", "the real thing"]
    monkeypatch.setenv("MINIDOCK_MODE", "chroot-emulated")
    shell.run_cell("%%needs mount\nprint('never recorded')\n").raise_error()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("[not run in the chroot-emulated mode")
    from minidock.course import lang      # the Chinese edition says it in Chinese
    monkeypatch.setitem(lang._edition, "lang", "zh")
    shell.run_cell(f"%%needs cgroup limits\n{body}\n").raise_error()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[未在 chroot-emulated 模式") and "cgroup 资源限制" in lines[0]
    assert lines[1:] == ["它在 root 模式下显示的是：", "the real thing"]


def test_the_edition_picks_the_language_of_what_the_course_says(monkeypatch):
    from minidock.course import lang
    from minidock.course.exercises import Verdict
    monkeypatch.setitem(lang._edition, "lang", None)
    monkeypatch.delenv("MINIDOCK_COURSE_LANG", raising=False)
    assert lang.say("yes", "是") == "yes" and Verdict(True, "x") == "✓ right: x"
    monkeypatch.setenv("MINIDOCK_COURSE_LANG", "zh")
    assert lang.say("yes", "是") == "是" and Verdict(False, "x") == "✗ 还不对：x"
    lang.use("en")                      # what course.start(..., lang="en") does: it wins over the variable
    assert lang.say("yes", "是") == "yes"
    with pytest.raises(ValueError, match="no 'fr' edition"):
        lang.use("fr")


def test_a_chapter_works_in_its_own_directory_and_leaves_none(busybox_store, tmp_path, monkeypatch):
    """Scratch files a chapter writes go to its working directory, beside its store, never into
    notebooks/; ``finish`` goes back to the notebook's directory and removes it."""
    notebook_dir = tmp_path / "notebooks"
    notebook_dir.mkdir()
    monkeypatch.chdir(notebook_dir)
    monkeypatch.setenv("MINIDOCK_COURSE_DIR", str(tmp_path / "course"))
    monkeypatch.delenv("COURSE_NOTEBOOK_DIR", raising=False)
    for name in ("MINIDOCK_ROOT", "SOURCE_DATE_EPOCH", "COURSE_DOCS"):
        monkeypatch.delenv(name, raising=False)
    client = course.start("99-scratch")
    work = tmp_path / "course" / "99-scratch.work"
    assert os.getcwd() == str(work) and (Path(os.environ["COURSE_DOCS"]) / "minidock.bashrc").is_file()
    Path("Dockerfile").write_text("FROM busybox\n")
    course.finish(client)
    assert os.getcwd() == str(notebook_dir) and not work.exists() and list(notebook_dir.iterdir()) == []
