"""The course's helpers: the run-mode line every chapter prints, and the ``%%needs`` cell magic."""

from __future__ import annotations

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
